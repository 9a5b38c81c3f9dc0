package pairing

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
)

var codeRE = regexp.MustCompile(`^[BCDFGHJKMNPQRSTVWXZ23456789]{4}-[BCDFGHJKMNPQRSTVWXZ23456789]{4}$`)

func TestParseUserCode_UpperCasesAndChecksAlphabet(t *testing.T) {
	cases := []struct {
		in   string
		want UserCode
		ok   bool
	}{
		{"MV5G-2M26", "MV5G-2M26", true},
		{"mv5g-2m26", "MV5G-2M26", true},
		{"Mv5G-2m26", "MV5G-2M26", true},
		{"abc", "", false},
		{"MV5G2M26", "", false},
		{"MV5G-2M2", "", false},
		{"MV5G-2M260", "", false},
		{"AV5G-2M26", "", false}, // vowel
		{"MV5G-2M20", "", false}, // zero
		{"MV5G_2M26", "", false},
		{"MV5G-2M2Y", "", false},
		{"", "", false},
		{"ÄV5G-2M26", "", false},
	}
	for _, c := range cases {
		got, err := ParseUserCode(c.in)
		if c.ok != (err == nil) || got != c.want {
			t.Errorf("ParseUserCode(%q) = %q, %v; want %q ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestNewUserCode_MatchesFormatAndUsesWholeAlphabet(t *testing.T) {
	seen := map[rune]bool{}
	for i := 0; i < 500; i++ {
		c, err := NewUserCode(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !codeRE.MatchString(string(c)) {
			t.Fatalf("code %q does not match the contract's regex", c)
		}
		for _, r := range string(c) {
			seen[r] = true
		}
	}
	for _, r := range CodeAlphabet {
		if !seen[r] {
			t.Errorf("character %q never drawn in 4000 draws", r)
		}
	}
}

func TestNewUserCode_RejectsBiasedBytes(t *testing.T) {
	// 243 = 9*27 is the first byte value that would bias the draw; it must be skipped.
	src := bytes.NewReader(append(bytes.Repeat([]byte{255, 243}, 8), []byte{0, 1, 2, 3, 4, 5, 6, 7, 26, 27, 28, 29, 30, 31, 32, 33}...))
	c, err := NewUserCode(src)
	if err != nil {
		t.Fatal(err)
	}
	if c != "BCDF-GHJK" {
		t.Fatalf("got %q, want BCDF-GHJK", c)
	}
}

var t0 = time.Date(2026, 11, 27, 5, 37, 44, 0, time.UTC)

func started() *Pairing {
	return Start(ids.MustParse("ea3b9075-1328-40c0-a1f1-ff5d544ce5ed"), "MV5G-2M26", t0)
}

func TestExchange_FollowsTheStateMachine(t *testing.T) {
	p := started()
	user, token := ids.New(), ids.New()

	out, tok, err := p.Exchange(t0)
	if err != nil || out != OutcomePending || tok != "" {
		t.Fatalf("pending exchange = %v %q %v", out, tok, err)
	}
	if err := p.Approve(user, token, "dvf_secret", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if p.Snapshot().TokenPlaintext != "dvf_secret" {
		t.Fatal("approval must hold the plaintext for the exchange")
	}
	out, tok, err = p.Exchange(t0.Add(2 * time.Second))
	if err != nil || out != OutcomeApproved || tok != "dvf_secret" {
		t.Fatalf("approved exchange = %v %q %v", out, tok, err)
	}
	if p.Snapshot().TokenPlaintext != "" || p.Status() != StatusConsumed {
		t.Fatal("delivery must erase the plaintext and consume the pairing")
	}
	out, tok, err = p.Exchange(t0.Add(3 * time.Second))
	if err != nil || out != OutcomeConsumed || tok != "" {
		t.Fatalf("consumed exchange = %v %q %v", out, tok, err)
	}
	out, _, err = p.Exchange(t0.Add(TTL))
	if err != nil || out != OutcomeExpired {
		t.Fatalf("exchange at expiry = %v %v", out, err)
	}
	types := []string{}
	for _, e := range p.Changes() {
		types = append(types, e.EventType())
	}
	if got := strings.Join(types, ","); got != "PairingStarted,PairingApproved,PairingTokenDelivered" {
		t.Fatalf("events = %s", got)
	}
}

func TestExchange_RateLimitDoesNotMoveTheWindow(t *testing.T) {
	p := started()
	if _, _, err := p.Exchange(t0); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{0, 500 * time.Millisecond, 999 * time.Millisecond} {
		if _, _, err := p.Exchange(t0.Add(d)); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("exchange after %v: %v, want rate limited", d, err)
		}
	}
	if out, _, err := p.Exchange(t0.Add(time.Second)); err != nil || out != OutcomePending {
		t.Fatalf("exchange after 1s = %v %v", out, err)
	}
}

func TestApprove_OnlyPendingUnexpired(t *testing.T) {
	p := started()
	if err := p.Approve(ids.New(), ids.New(), "dvf_x", t0.Add(TTL)); !errors.Is(err, ErrExpired) {
		t.Fatalf("approve at expiry: %v", err)
	}
	if err := p.Approve(ids.New(), ids.New(), "dvf_x", t0); err != nil {
		t.Fatal(err)
	}
	if err := p.Approve(ids.New(), ids.New(), "dvf_y", t0); !errors.Is(err, ErrAlreadyUsed) {
		t.Fatalf("second approve: %v", err)
	}
	if p.Snapshot().TokenPlaintext != "dvf_x" {
		t.Fatal("a refused approval must not replace the held plaintext")
	}
}

func TestExpire_ErasesPlaintextOnce(t *testing.T) {
	p := started()
	_ = p.Approve(ids.New(), ids.New(), "dvf_x", t0)
	if p.Expire(t0.Add(TTL - time.Millisecond)) {
		t.Fatal("expired before its time")
	}
	if !p.Expire(t0.Add(TTL)) {
		t.Fatal("did not expire")
	}
	if p.Snapshot().TokenPlaintext != "" {
		t.Fatal("expiry must erase the plaintext")
	}
	if p.Expire(t0.Add(2 * TTL)) {
		t.Fatal("expiry recorded twice")
	}
	if out, tok, _ := p.Exchange(t0.Add(TTL)); out != OutcomeExpired || tok != "" {
		t.Fatalf("exchange after expiry = %v %q", out, tok)
	}

	consumed := started()
	_ = consumed.Approve(ids.New(), ids.New(), "dvf_x", t0)
	_, _, _ = consumed.Exchange(t0)
	if consumed.Expire(t0.Add(TTL)) {
		t.Fatal("a consumed pairing has nothing to expire")
	}
}

func TestPurgeable_AnHourAfterExpiry(t *testing.T) {
	p := started()
	if p.Purgeable(t0.Add(TTL + PurgeAfter - time.Second)) {
		t.Fatal("purgeable too early")
	}
	if !p.Purgeable(t0.Add(TTL + PurgeAfter)) {
		t.Fatal("not purgeable an hour after expiry")
	}
}

func TestFold_EqualsTheLiveAggregate(t *testing.T) {
	p := started()
	user, token := ids.New(), ids.New()
	_ = p.Approve(user, token, "dvf_x", t0)
	_, _, _ = p.Exchange(t0)

	var envs []eventlog.Envelope
	for _, e := range p.Changes() {
		d, err := Encode(p.ID(), e)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(d.Data, []byte("dvf_x")) {
			t.Fatalf("%s carries the plaintext: %s", d.Type, d.Data)
		}
		envs = append(envs, eventlog.Envelope{Type: d.Type, Data: d.Data})
	}
	var events []Event
	for _, env := range envs {
		e, err := Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	folded, err := Fold(events)
	if err != nil {
		t.Fatal(err)
	}
	want := p.Snapshot()
	want.LastExchangeAt = time.Time{} // working state is not folded
	if got := folded.Snapshot(); got != want {
		t.Fatalf("folded %+v\nwant   %+v", got, want)
	}
	if folded.Version() != 2 {
		t.Fatalf("version = %d", folded.Version())
	}
}

func TestEncode_EventIDsAreStablePerPairingAndType(t *testing.T) {
	id := ids.New()
	a, _ := Encode(id, Started{PairingID: id})
	b, _ := Encode(id, Started{PairingID: id, CreatedAt: t0})
	c, _ := Encode(id, Approved{PairingID: id})
	if a.ID != b.ID || a.ID == c.ID {
		t.Fatal("event ids must identify (pairing, type)")
	}
}

func TestTokenName_UsesTheUTCDate(t *testing.T) {
	at := time.Date(2026, 11, 27, 23, 30, 0, 0, time.FixedZone("x", -5*3600))
	if got := TokenName(at); got != "VSCode (paired 2026-11-28)" {
		t.Fatalf("got %q", got)
	}
}
