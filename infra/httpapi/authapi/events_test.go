package authapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// TestEventLog_HoldsNoSecrets runs register -> token -> pairing -> exchange -> revoke
// -> expiry and then scans every event (data and metadata) for the password, the JWT,
// every token plaintext, secret and hash, and the password hash.
func TestEventLog_HoldsNoSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const password = "correct-horse-battery"
	jwt, userID := e.register("secret-scan@example.com")
	apiToken, apiTokenID := e.mintToken(jwt, "scan")
	id, code := e.startPairing()
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + code + "/approve", auth: jwt}), 200, `{"ok":true}`)
	paired := e.do(req{method: "POST", path: "/auth/pairings/" + id + "/exchange"}).json(t)["token"].(string)
	expect(t, e.do(req{method: "DELETE", path: "/auth/tokens/" + apiTokenID, auth: jwt}), 204, "")
	// A second pairing approved but never exchanged expires with its plaintext.
	id2, code2 := e.startPairing()
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + code2 + "/approve", auth: jwt}), 200, `{"ok":true}`)
	var unexchanged string
	if err := e.pool.QueryRow(t.Context(), `SELECT token_plaintext FROM pairings WHERE id = $1`, id2).Scan(&unexchanged); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(11 * time.Minute)
	if err := e.area.Cleanup.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}

	var passwordHash string
	if err := e.pool.QueryRow(t.Context(), `SELECT password_hash FROM users WHERE id = $1`, userID).Scan(&passwordHash); err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"password": password, "jwt": jwt, "password hash": passwordHash}
	for name, tok := range map[string]string{"api token": apiToken, "paired token": paired, "unexchanged token": unexchanged} {
		secret := strings.TrimPrefix(tok, "dvf_")
		sum := sha256.Sum256([]byte(secret))
		secrets[name] = tok
		secrets[name+" secret"] = secret
		secrets[name+" hash"] = hex.EncodeToString(sum[:])
	}

	rows, err := e.pool.Query(t.Context(), `SELECT event_type, data::text, metadata::text FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for rows.Next() {
		var typ, data, meta string
		if err := rows.Scan(&typ, &data, &meta); err != nil {
			t.Fatal(err)
		}
		types[typ]++
		for name, s := range secrets {
			if s != "" && (strings.Contains(data, s) || strings.Contains(meta, s)) {
				t.Errorf("%s event holds the %s: %s %s", typ, name, data, meta)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"UserRegistered": 1, "ApiTokenIssued": 3, "ApiTokenRevoked": 1,
		"PairingStarted": 2, "PairingApproved": 2, "PairingTokenDelivered": 1, "PairingExpired": 1,
	}
	for typ, n := range want {
		if types[typ] != n {
			t.Errorf("%d %s events, want %d (all: %v)", types[typ], typ, n, types)
		}
	}
	if n := e.count(`SELECT count(*) FROM pairings WHERE token_plaintext IS NOT NULL`); n != 0 {
		t.Fatal("a plaintext outlived its pairing's expiry")
	}
}
