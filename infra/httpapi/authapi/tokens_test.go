package authapi_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/devflow/backend/domain/ids"
)

var tokenRE = regexp.MustCompile(`^dvf_[A-Za-z0-9_-]{43}$`)
var timeRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

func TestTokens_IssueListRevoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jwtA, _ := e.register("ann@example.com")

	res := e.do(req{method: "POST", path: "/auth/tokens", body: `{"name":"ci-laptop"}`, cookie: "dvf_session=" + jwtA})
	if res.status != 201 {
		t.Fatalf("issue: %d %s", res.status, res.body)
	}
	created := res.json(t)
	first := created["token"].(string)
	if len(created) != 5 || !uuidRE.MatchString(created["id"].(string)) || created["name"] != "ci-laptop" ||
		!tokenRE.MatchString(first) || created["token_prefix"] != first[4:10] || !timeRE.MatchString(created["created_at"].(string)) {
		t.Fatalf("created %s", res.body)
	}
	// Read-your-writes: the token authenticates at once.
	if got := e.do(req{method: "GET", path: "/auth/me", auth: first}); got.status != 200 {
		t.Fatalf("fresh token: %d", got.status)
	}

	e.clk.Advance(time.Second)
	second, secondID := e.mintToken(jwtA, "second")
	expect(t, e.do(req{method: "DELETE", path: "/auth/tokens/" + strings.ToUpper(secondID), auth: jwtA}), 204, "")
	expect(t, e.do(req{method: "GET", path: "/auth/me", auth: second}), 401, `{"error":"Unauthorized"}`)
	expect(t, e.do(req{method: "DELETE", path: "/auth/tokens/" + secondID, auth: jwtA}), 404, `{"error":"Token not found"}`)
	expect(t, e.do(req{method: "DELETE", path: "/auth/tokens/not-a-uuid", auth: jwtA}), 404, `{"error":"Token not found"}`)
	expect(t, e.do(req{method: "DELETE", path: "/auth/tokens/" + ids.New().String(), auth: jwtA}), 404, `{"error":"Token not found"}`)

	// last_used_at is written off the request path; flush the writer to see it.
	e.area.LastUsed.Flush(t.Context())
	list := e.do(req{method: "GET", path: "/auth/tokens", cookie: "dvf_session=" + jwtA})
	if list.status != 200 {
		t.Fatalf("list: %d %s", list.status, list.body)
	}
	tokens := list.json(t)["tokens"].([]any)
	if len(tokens) != 2 {
		t.Fatalf("tokens %s", list.body)
	}
	newest, oldest := tokens[0].(map[string]any), tokens[1].(map[string]any)
	if newest["id"] != secondID || newest["revoked_at"] == nil || newest["last_used_at"] != nil {
		t.Fatalf("newest %v", newest)
	}
	if oldest["id"] != created["id"] || oldest["revoked_at"] != nil || oldest["created_at"] != created["created_at"] {
		t.Fatalf("oldest %v", oldest)
	}
	if lu, _ := oldest["last_used_at"].(string); !timeRE.MatchString(lu) {
		t.Fatalf("last_used_at of a used token: %v", oldest["last_used_at"])
	}
	for _, tok := range tokens {
		tok := tok.(map[string]any)
		if len(tok) != 6 || strings.Contains(string(list.body), first) {
			t.Fatalf("list entry %v must have exactly the six fields and never the token", tok)
		}
	}

	res = e.do(req{method: "POST", path: "/auth/tokens", body: `{"name":""}`, auth: jwtA})
	if res.status != 400 || res.json(t)["details"].([]any)[0].(map[string]any)["instancePath"] != "/name" {
		t.Fatalf("empty name: %d %s", res.status, res.body)
	}
	if res := e.do(req{method: "POST", path: "/auth/tokens", body: `{"name":"` + strings.Repeat("n", 65) + `"}`, auth: jwtA}); res.status != 400 {
		t.Fatalf("long name: %d", res.status)
	}
}

func TestTokens_APITokensCannotManageTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jwtA, _ := e.register("ann@example.com")
	token, id := e.mintToken(jwtA, "cli")
	const forbidden = `{"error":"API tokens cannot manage other tokens"}`

	// Order: authentication, body, then the JWT-only rule.
	if res := e.do(req{method: "POST", path: "/auth/tokens", body: `{}`, auth: token}); res.status != 400 {
		t.Fatalf("bad body with an API token: %d, want 400", res.status)
	}
	expect(t, e.do(req{method: "POST", path: "/auth/tokens", body: `{"name":"nested"}`, auth: token}), 403, forbidden)
	expect(t, e.do(req{method: "GET", path: "/auth/tokens", auth: token}), 403, forbidden)
	expect(t, e.do(req{method: "DELETE", path: "/auth/tokens/" + id, auth: token}), 403, forbidden)
	expect(t, e.do(req{method: "DELETE", path: "/auth/tokens/not-a-uuid", auth: token}), 403, forbidden) // before the id
	expect(t, e.do(req{method: "POST", path: "/auth/tokens", body: `{"name":"x"}`, auth: "dvf_nope"}), 401, `{"error":"Unauthorized"}`)
	if n := e.count(`SELECT count(*) FROM api_tokens`); n != 1 {
		t.Fatalf("%d tokens", n)
	}
}

func TestTokens_IsolationBetweenUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jwtA, userA := e.register("ann@example.com")
	jwtB, userB := e.register("ben@example.com")
	_, idA := e.mintToken(jwtA, "ann-laptop")
	tokenB, idB := e.mintToken(jwtB, "ben-laptop")

	expect(t, e.do(req{method: "DELETE", path: "/auth/tokens/" + idB, auth: jwtA}), 404, `{"error":"Token not found"}`)
	list := e.do(req{method: "GET", path: "/auth/tokens", auth: jwtA}).json(t)["tokens"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != idA {
		t.Fatalf("A sees %v", list)
	}
	// B's token still works and is B's.
	if me := e.do(req{method: "GET", path: "/auth/me", auth: tokenB}).json(t); me["id"] != userB {
		t.Fatalf("B's token authenticates as %v", me["id"])
	}
	// A pairing approved by A issues A's token, whatever B does.
	p := e.do(req{method: "POST", path: "/auth/pairings"}).json(t)
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + p["user_code"].(string) + "/approve", auth: jwtA}), 200, `{"ok":true}`)
	ex := e.do(req{method: "POST", path: "/auth/pairings/" + p["pairing_id"].(string) + "/exchange"}).json(t)
	if me := e.do(req{method: "GET", path: "/auth/me", auth: ex["token"].(string)}).json(t); me["id"] != userA {
		t.Fatalf("paired token belongs to %v, want A", me["id"])
	}
	if n := len(e.do(req{method: "GET", path: "/auth/tokens", auth: jwtB}).json(t)["tokens"].([]any)); n != 1 {
		t.Fatalf("B has %d tokens, want 1", n)
	}
}

func TestTokens_NodeFormatTokenAuthenticates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, userA := e.register("ann@example.com")
	// A token as the Node implementation issued it, computed here by the contract's
	// rule: dvf_ + base64url(32 random bytes); stored hash = hex sha256 of the secret.
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(secret))
	if _, err := e.pool.Exec(t.Context(), `
		INSERT INTO api_tokens (id, user_id, name, token_hash, token_prefix, created_at)
		VALUES ($1, $2, 'from node', $3, $4, now())`, ids.New(), userA, hex.EncodeToString(sum[:]), secret[:6]); err != nil {
		t.Fatal(err)
	}
	res := e.do(req{method: "GET", path: "/auth/me", auth: "dvf_" + secret})
	if res.status != 200 || res.json(t)["id"] != userA {
		t.Fatalf("node token: %d %s", res.status, res.body)
	}
	// The hash covers the secret only: the prefix is not part of it.
	expect(t, e.do(req{method: "GET", path: "/auth/me", auth: "dvf_" + secret[:42]}), 401, `{"error":"Unauthorized"}`)
}

func TestJWT_OnlyHS256IsAccepted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, userA := e.register("ann@example.com")
	claims := jwt.MapClaims{"sub": userA, "provider": "password", "iat": e.clk.Now().Unix(), "exp": e.clk.Now().Add(time.Hour).Unix()}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	hs384, _ := jwt.NewWithClaims(jwt.SigningMethodHS384, claims).SignedString([]byte(testSecret))
	rsaKey := mustRSA(t)
	rs256, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(rsaKey)
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": userA, "exp": e.clk.Now().Unix()}).SignedString([]byte(testSecret))
	notUUID, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "42", "exp": e.clk.Now().Add(time.Hour).Unix()}).SignedString([]byte(testSecret))
	for name, tok := range map[string]string{"alg none": none, "HS384": hs384, "RS256": rs256, "expired": expired, "sub not a UUID": notUUID} {
		t.Run(name, func(t *testing.T) {
			expect(t, e.do(req{method: "GET", path: "/auth/me", auth: tok}), 401, `{"error":"Unauthorized"}`)
			expect(t, e.do(req{method: "GET", path: "/auth/me", cookie: "dvf_session=" + tok}), 401, `{"error":"Unauthorized"}`)
		})
	}
	good, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testSecret))
	if res := e.do(req{method: "GET", path: "/auth/me", auth: good}); res.status != 200 {
		t.Fatalf("control HS256 token: %d", res.status)
	}
}
