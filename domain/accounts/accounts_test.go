package accounts

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/devflow/backend/domain/ids"
)

func TestNormalizeEmail_TrimsAndLowerCases(t *testing.T) {
	for in, want := range map[string]string{
		"Alice@Example.com":      "alice@example.com",
		"  ALICE@EXAMPLE.COM \t": "alice@example.com",
		"bob@x.io":               "bob@x.io",
	} {
		if got := NormalizeEmail(in); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func fixedHex(n int) string { return strings.Repeat("a", n) }

func TestUsernameCandidates_FollowTheContractOrder(t *testing.T) {
	long := strings.Repeat("é", 60)
	cases := []struct {
		name           string
		base           string
		provider       Provider
		providerUserID string
		want           []string
	}{
		{"password user", "alice", ProviderPassword, "alice@example.com",
			[]string{"alice", "password-alice@ex", "password-alice@ex-aaaaaa", "password-aaaaaaaaaaaa"}},
		{"github user", "octocat", ProviderGitHub, "583231",
			[]string{"octocat", "github-583231", "github-583231-aaaaaa", "github-aaaaaaaaaaaa"}},
		{"base cut to 50 characters", long, ProviderGoogle, "1234567890",
			[]string{strings.Repeat("é", 50), "google-12345678", "google-12345678-aaaaaa", "google-aaaaaaaaaaaa"}},
		{"empty base skipped", "", ProviderGoogle, "1234567890",
			[]string{"google-12345678", "google-12345678-aaaaaa", "google-aaaaaaaaaaaa"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := UsernameCandidates(c.base, c.provider, c.providerUserID, fixedHex)
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Fatalf("got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestPickUsername_TakesFirstFreeElseRandomFallback(t *testing.T) {
	c := []string{"alice", "password-alice@ex", "password-alice@ex-aaaaaa", "password-aaaaaaaaaaaa"}
	cases := []struct {
		taken []string
		want  string
	}{
		{nil, "alice"},
		{[]string{"alice"}, "password-alice@ex"},
		{[]string{"alice", "password-alice@ex"}, "password-alice@ex-aaaaaa"},
		{[]string{"alice", "password-alice@ex", "password-alice@ex-aaaaaa"}, "password-aaaaaaaaaaaa"},
		{[]string{"Alice"}, "alice"}, // usernames are case-sensitive
	}
	for _, tc := range cases {
		taken := map[string]bool{}
		for _, n := range tc.taken {
			taken[n] = true
		}
		if got := PickUsername(c, taken); got != tc.want {
			t.Errorf("taken %v: got %q want %q", tc.taken, got, tc.want)
		}
	}
}

func TestRandomHex_LengthAndAlphabet(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]+$`)
	for _, n := range []int{6, 12} {
		if s := RandomHex(n); len(s) != n || !re.MatchString(s) {
			t.Errorf("RandomHex(%d) = %q", n, s)
		}
	}
}

func TestNewAPIToken_FormatHashAndPrefixPerD22(t *testing.T) {
	re := regexp.MustCompile(`^dvf_[A-Za-z0-9_-]{43}$`)
	tok := NewAPIToken()
	if !re.MatchString(tok.Plaintext) {
		t.Fatalf("token %q does not match the contract's regex", tok.Plaintext)
	}
	secret := strings.TrimPrefix(tok.Plaintext, "dvf_")
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if err != nil || len(raw) != 32 {
		t.Fatalf("secret is not base64url of 32 bytes: %v %d", err, len(raw))
	}
	sum := sha256.Sum256([]byte(secret))
	if tok.Hash != hex.EncodeToString(sum[:]) {
		t.Fatal("hash is not the hex SHA-256 of the secret")
	}
	if tok.Prefix != secret[:6] {
		t.Fatalf("prefix %q", tok.Prefix)
	}
	if NewAPIToken().Plaintext == tok.Plaintext {
		t.Fatal("tokens repeat")
	}
}

func TestTokenHash_MatchesNodeScheme(t *testing.T) {
	// Computed independently: sha256("KF8vmsggVPsQUCREC-uudbhIU7S8nAFSH8QoAtADC2Q").
	sum := sha256.Sum256([]byte("KF8vmsggVPsQUCREC-uudbhIU7S8nAFSH8QoAtADC2Q"))
	h, ok := TokenHash("dvf_KF8vmsggVPsQUCREC-uudbhIU7S8nAFSH8QoAtADC2Q")
	if !ok || h != hex.EncodeToString(sum[:]) {
		t.Fatalf("hash %q ok=%v", h, ok)
	}
	if _, ok := TokenHash("dvf_"); ok {
		t.Fatal("empty secret accepted")
	}
	if !SameHash(h, hex.EncodeToString(sum[:])) || SameHash(h, strings.Repeat("0", 64)) {
		t.Fatal("SameHash")
	}
}

func TestThrottleRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string
		tenth     time.Time
		wait      time.Duration
		throttled bool
	}{
		{"fewer than ten failures", time.Time{}, 0, false},
		{"tenth failure just now", now, 15 * time.Minute, true},
		{"rounded up to a second", now.Add(-14*time.Minute - 500*time.Millisecond), time.Minute, true},
		{"tenth failure left the window", now.Add(-15 * time.Minute), 0, false},
	}
	for _, c := range cases {
		wait, throttled := ThrottleRetryAfter(c.tenth, now)
		if wait != c.wait || throttled != c.throttled {
			t.Errorf("%s: got %v %v, want %v %v", c.name, wait, throttled, c.wait, c.throttled)
		}
	}
}

func TestEncode_CarriesNoSecretAndStableIDs(t *testing.T) {
	user, token := ids.New(), ids.New()
	a, err := Encode(APITokenIssued{TokenID: token, UserID: user, Source: TokenSourceAPI})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Encode(APITokenIssued{TokenID: token, UserID: user, Source: TokenSourceAPI, IssuedAt: time.Now()})
	c, _ := Encode(APITokenRevoked{TokenID: token, UserID: user})
	if a.ID != b.ID || a.ID == c.ID {
		t.Fatal("event ids must identify (type, subject)")
	}
	if a.Metadata.UserID != user.String() {
		t.Fatal("metadata must name the user")
	}
	for _, field := range []string{"hash", "prefix", "token\"", "password", "email"} {
		if strings.Contains(string(a.Data), field) {
			t.Fatalf("event payload mentions %s: %s", field, a.Data)
		}
	}
}
