package authapi_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/infra/app"
	"github.com/devflow/backend/infra/auth"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/httpapi/authapi"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

const testSecret = "authapi-test-secret"

// clock is the settable clock every instance of a test shares.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testConfig() config.Config {
	return config.Config{
		AppEnv:      "development",
		JWTSecret:   testSecret,
		FrontendURL: "http://127.0.0.1:4173",
	}
}

// env is one test's database, clock and first server instance.
type env struct {
	t    testing.TB
	pool *pgxpool.Pool
	clk  *clock
	area *app.Auth
	url  string // base URL including /api/v1
}

type envOption func(*config.Config, *app.AuthOptions)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	pool := testdb.Pool(t)
	e := &env{t: t, pool: pool, clk: &clock{t: time.Now().UTC().Truncate(time.Millisecond)}}
	e.area, e.url = e.instance(pool, opts...)
	return e
}

// instance starts one more server (a "replica") on the given pool, sharing the clock.
func (e *env) instance(pool *pgxpool.Pool, opts ...envOption) (*app.Auth, string) {
	e.t.Helper()
	cfg := testConfig()
	o := app.AuthOptions{Now: e.clk.Now}
	for _, opt := range opts {
		opt(&cfg, &o)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	area, err := app.NewAuth(cfg, auth.DB{Pool: pool, Events: postgres.NewEventStore(pool)}, log, o)
	if err != nil {
		e.t.Fatal(err)
	}
	api := httpapi.New(httpapi.Params{Config: cfg, Logger: log, Authenticator: area.Authenticator})
	api.Mount(authapi.NewRoutes(area.Handlers, api))
	srv := httptest.NewServer(api.Handler())
	e.t.Cleanup(srv.Close)
	return area, srv.URL + httpapi.Prefix
}

// response is a finished request.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// cookie returns the value of the named Set-Cookie, or "".
func (r response) cookie(name string) string {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// req describes a request. auth is sent as "Authorization: Bearer <auth>"; cookies as
// a Cookie header.
type req struct {
	method, path string
	body         string // sent as application/json when not empty
	auth         string
	cookie       string // a raw Cookie header value
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t testing.TB, base string, rq req) response {
	t.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	hr, err := http.NewRequestWithContext(context.Background(), rq.method, base+rq.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if rq.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if rq.auth != "" {
		hr.Header.Set("Authorization", "Bearer "+rq.auth)
	}
	if rq.cookie != "" {
		hr.Header.Set("Cookie", rq.cookie)
	}
	res, err := noRedirects.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) do(rq req) response { e.t.Helper(); return do(e.t, e.url, rq) }

// expect checks status and exact JSON body (bodies compared as JSON values).
func expect(t testing.TB, got response, status int, body string) {
	t.Helper()
	if got.status != status {
		t.Fatalf("status %d, want %d (body %s)", got.status, status, got.body)
	}
	if body == "" {
		if len(got.body) != 0 {
			t.Fatalf("body %q, want none", got.body)
		}
		return
	}
	var a, b any
	if err := json.Unmarshal(got.body, &a); err != nil {
		t.Fatalf("body %q is not JSON", got.body)
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("bad expectation %q", body)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatalf("body %s, want %s", ja, jb)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
}

// register creates a password user (one bcrypt) and returns its JWT and id.
func (e *env) register(email string) (jwt, userID string) {
	e.t.Helper()
	res := e.do(req{method: "POST", path: "/auth/register", body: `{"email":"` + email + `","password":"correct-horse-battery"}`})
	if res.status != http.StatusCreated {
		e.t.Fatalf("register %s: %d %s", email, res.status, res.body)
	}
	m := res.json(e.t)
	return m["token"].(string), m["user"].(map[string]any)["id"].(string)
}

// mintToken issues an API token with the user's JWT and returns plaintext and id.
func (e *env) mintToken(jwt, name string) (token, id string) {
	e.t.Helper()
	res := e.do(req{method: "POST", path: "/auth/tokens", body: `{"name":"` + name + `"}`, auth: jwt})
	if res.status != http.StatusCreated {
		e.t.Fatalf("mint token: %d %s", res.status, res.body)
	}
	m := res.json(e.t)
	return m["token"].(string), m["id"].(string)
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
