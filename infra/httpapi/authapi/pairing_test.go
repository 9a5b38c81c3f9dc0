package authapi_test

import (
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devflow/backend/infra/app"
	"github.com/devflow/backend/infra/config"
)

var codeRE = regexp.MustCompile(`^[BCDFGHJKMNPQRSTVWXZ23456789]{4}-[BCDFGHJKMNPQRSTVWXZ23456789]{4}$`)

const expiredBody = `{"status":"expired","error":"Pairing expired"}`

func (e *env) startPairing() (id, code string) {
	e.t.Helper()
	res := e.do(req{method: "POST", path: "/auth/pairings"})
	if res.status != http.StatusCreated {
		e.t.Fatalf("start pairing: %d %s", res.status, res.body)
	}
	m := res.json(e.t)
	return m["pairing_id"].(string), m["user_code"].(string)
}

func TestPairing_FullFlowAsTheClientsDriveIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jwt, userID := e.register("ann@example.com")

	// The extension: no body, no Content-Type.
	res := e.do(req{method: "POST", path: "/auth/pairings"})
	if res.status != 201 {
		t.Fatalf("start: %d %s", res.status, res.body)
	}
	p := res.json(t)
	id, code := p["pairing_id"].(string), p["user_code"].(string)
	if len(p) != 4 || !uuidRE.MatchString(id) || !codeRE.MatchString(code) ||
		p["verification_uri"] != "http://127.0.0.1:4173/extension/pair" || p["expires_in"] != float64(600) {
		t.Fatalf("pairing %s", res.body)
	}
	exchange := req{method: "POST", path: "/auth/pairings/" + id + "/exchange"}

	expect(t, e.do(exchange), 200, `{"status":"pending"}`)
	expect(t, e.do(exchange), 429, `{"error":"Too many requests"}`)
	e.clk.Advance(999 * time.Millisecond)
	expect(t, e.do(exchange), 429, `{"error":"Too many requests"}`) // did not move the window
	e.clk.Advance(time.Millisecond)
	expect(t, e.do(exchange), 200, `{"status":"pending"}`)

	// The dashboard: lower-case code is upper-cased (D18); cookie only.
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + strings.ToLower(code) + "/approve", cookie: "dvf_session=" + jwt}), 200, `{"ok":true}`)
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + code + "/approve", cookie: "dvf_session=" + jwt}), 409, `{"error":"Pairing already used"}`)

	// Read-your-writes: the next exchange sees the approval and delivers the token once.
	e.clk.Advance(time.Second)
	res = e.do(req{method: "POST", path: "/auth/pairings/" + strings.ToUpper(id) + "/exchange"})
	if res.status != 200 {
		t.Fatalf("exchange: %d %s", res.status, res.body)
	}
	m := res.json(t)
	token, _ := m["token"].(string)
	if m["status"] != "approved" || !tokenRE.MatchString(token) || len(m) != 2 {
		t.Fatalf("approved exchange %s", res.body)
	}
	if me := e.do(req{method: "GET", path: "/auth/me", auth: token}).json(t); me["id"] != userID {
		t.Fatalf("paired token authenticates as %v", me["id"])
	}
	list := e.do(req{method: "GET", path: "/auth/tokens", auth: jwt}).json(t)["tokens"].([]any)
	if name := list[0].(map[string]any)["name"]; name != "VSCode (paired "+e.clk.Now().UTC().Format("2006-01-02")+")" {
		t.Fatalf("paired token name %v", name)
	}
	if n := e.count(`SELECT count(*) FROM pairings WHERE token_plaintext IS NOT NULL`); n != 0 {
		t.Fatal("the plaintext must be erased on delivery")
	}

	e.clk.Advance(time.Second)
	expect(t, e.do(exchange), 200, `{"status":"consumed"}`)

	// Expiry is final, whatever the state.
	e.clk.Advance(10 * time.Minute)
	expect(t, e.do(exchange), 410, expiredBody)
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + code + "/approve", auth: jwt}), 410, `{"error":"Pairing expired"}`)
}

func TestPairing_ErrorAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jwt, _ := e.register("ann@example.com")
	token, _ := e.mintToken(jwt, "cli")
	id, code := e.startPairing()

	expect(t, e.do(req{method: "POST", path: "/auth/pairings/not-a-uuid/exchange"}), 410, expiredBody)
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/00000000-0000-4000-8000-000000000000/exchange"}), 410, expiredBody)
	// Unknown and malformed ids answer before the rate limit: again at once is still 410.
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/00000000-0000-4000-8000-000000000000/exchange"}), 410, expiredBody)

	approve := func(c string) req { return req{method: "POST", path: "/auth/pairings/" + c + "/approve", auth: jwt} }
	expect(t, e.do(approve("abc")), 404, `{"error":"Pairing not found or expired"}`)
	expect(t, e.do(approve("BCDF-2345")), 404, `{"error":"Pairing not found or expired"}`)
	expect(t, e.do(approve("AEIO-2345")), 404, `{"error":"Pairing not found or expired"}`)
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + code + "/approve", auth: token}), 403, `{"error":"API tokens cannot approve pairings"}`)
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + code + "/approve"}), 401, `{"error":"Unauthorized"}`)
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + code + "/approve", auth: "garbage"}), 401, `{"error":"Unauthorized"}`)

	// A valid JWT whose user is gone gets 404, not 500, and issues nothing.
	ghost := mintWith(t, testSecret, "fedf1d98-c503-49a8-a576-9d634cc2d9b5")
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + code + "/approve", auth: ghost}), 404, `{"error":"User not found"}`)
	expect(t, e.do(req{method: "POST", path: "/auth/tokens", body: `{"name":"x"}`, auth: ghost}), 404, `{"error":"User not found"}`)
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + id + "/exchange"}), 200, `{"status":"pending"}`)

	// An expired pending pairing: 410 for both sides.
	e.clk.Advance(600 * time.Second)
	expect(t, e.do(approve(code)), 410, `{"error":"Pairing expired"}`)
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + id + "/exchange"}), 410, expiredBody)
	// After the purge (an hour after expiry) the code is unknown: 404.
	e.clk.Advance(time.Hour)
	if err := e.area.Cleanup.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	expect(t, e.do(approve(code)), 404, `{"error":"Pairing not found or expired"}`)
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + id + "/exchange"}), 410, expiredBody)
	if n := e.count(`SELECT count(*) FROM api_tokens`); n != 1 {
		t.Fatal("refused approvals must not issue tokens")
	}
}

func TestPairing_StartIgnoresAnyBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The body is never read: neither an object nor junk sent as JSON changes anything.
	for _, body := range []string{`{"anything":1}`, `not json at all`} {
		if res := e.do(req{method: "POST", path: "/auth/pairings", body: body}); res.status != 201 {
			t.Fatalf("start with body %q: %d %s", body, res.status, res.body)
		}
	}
}

func TestPairing_ApproveMatchesOnlyPendingPairings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jwt, _ := e.register("ann@example.com")
	oldID, oldCode := e.startPairing()
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + oldCode + "/approve", auth: jwt}), 200, `{"ok":true}`)
	if res := e.do(req{method: "POST", path: "/auth/pairings/" + oldID + "/exchange"}); res.json(t)["status"] != "approved" {
		t.Fatalf("exchange %s", res.body)
	}
	// A new pending pairing that happens to get the consumed one's code (D18).
	e.clk.Advance(time.Second)
	newID, newCode := e.startPairing()
	if _, err := e.pool.Exec(t.Context(), `UPDATE pairings SET user_code = $1 WHERE id = $2`, newCode, oldID); err != nil {
		t.Fatal(err)
	}
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + newCode + "/approve", auth: jwt}), 200, `{"ok":true}`)
	if res := e.do(req{method: "POST", path: "/auth/pairings/" + newID + "/exchange"}); res.json(t)["status"] != "approved" {
		t.Fatalf("the new pairing was not the one approved: %s", res.body)
	}
}

func TestPairing_ConcurrentApprovalsOneWins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jwtA, _ := e.register("ann@example.com")
	jwtB, _ := e.register("ben@example.com")
	_, code := e.startPairing()
	statuses := make([]int, 2)
	var wg sync.WaitGroup
	for i, jwt := range []string{jwtA, jwtB} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.do(req{method: "POST", path: "/auth/pairings/" + code + "/approve", auth: jwt}).status
		}()
	}
	wg.Wait()
	if !(statuses[0] == 200 && statuses[1] == 409 || statuses[0] == 409 && statuses[1] == 200) {
		t.Fatalf("statuses %v, want one 200 and one 409", statuses)
	}
	if n := e.count(`SELECT count(*) FROM api_tokens`); n != 1 {
		t.Fatalf("%d tokens issued, want 1", n)
	}
}

// exchangeConcurrently fires n exchanges at once and returns the statuses and tokens.
func exchangeConcurrently(t *testing.T, bases []string, id string, n int) (map[int]int, []string) {
	t.Helper()
	statuses := map[int]int{}
	var tokens []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res := do(t, bases[i%len(bases)], req{method: "POST", path: "/auth/pairings/" + id + "/exchange"})
			mu.Lock()
			defer mu.Unlock()
			statuses[res.status]++
			if res.status == 200 {
				if tok, ok := res.json(t)["token"].(string); ok {
					tokens = append(tokens, tok)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	return statuses, tokens
}

func TestExchange_DeliversTokenExactlyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jwt, _ := e.register("ann@example.com")
	_, other := e.instance(e.pool)
	id, code := e.startPairing()
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + code + "/approve", auth: jwt}), 200, `{"ok":true}`)

	// All 50 at the same instant on two replicas: one is processed, 49 are rate-limited.
	statuses, tokens := exchangeConcurrently(t, []string{e.url, other}, id, 50)
	if len(tokens) != 1 || statuses[200] != 1 || statuses[429] != 49 {
		t.Fatalf("statuses %v, tokens %d; want one 200 with the token and 49 429s", statuses, len(tokens))
	}
}

func TestExchange_DeliversTokenExactlyOnceWithoutTheRateLimit(t *testing.T) {
	t.Parallel()
	// A clock that moves 1 s per reading takes the rate limit out of play, so only the
	// pairing's row lock stands between 50 concurrent exchanges and a double delivery.
	e := newEnv(t)
	jwt, _ := e.register("ann@example.com")
	id, code := e.startPairing()
	expect(t, e.do(req{method: "POST", path: "/auth/pairings/" + code + "/approve", auth: jwt}), 200, `{"ok":true}`)
	var ticks atomic.Int64
	base := e.clk.Now()
	stepping := func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * time.Second) }
	_, other := e.instance(e.pool, func(_ *config.Config, o *app.AuthOptions) { o.Now = stepping })
	_, third := e.instance(e.pool, func(_ *config.Config, o *app.AuthOptions) { o.Now = stepping })

	statuses, tokens := exchangeConcurrently(t, []string{other, third}, id, 50)
	if len(tokens) != 1 || statuses[200]+statuses[429] != 50 {
		t.Fatalf("statuses %v, tokens %d; want exactly one token and only 200/429", statuses, len(tokens))
	}
	if n := e.count(`SELECT count(*) FROM events WHERE event_type = 'PairingTokenDelivered'`); n != 1 {
		t.Fatalf("%d deliveries recorded", n)
	}
}

func TestExchange_RateLimitHoldsAcrossReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, other := e.instance(e.pool)
	id, _ := e.startPairing()
	a := req{method: "POST", path: "/auth/pairings/" + id + "/exchange"}

	expect(t, do(t, e.url, a), 200, `{"status":"pending"}`)
	expect(t, do(t, other, a), 429, `{"error":"Too many requests"}`)
	e.clk.Advance(time.Second)
	expect(t, do(t, other, a), 200, `{"status":"pending"}`)
	expect(t, do(t, e.url, a), 429, `{"error":"Too many requests"}`)
}
