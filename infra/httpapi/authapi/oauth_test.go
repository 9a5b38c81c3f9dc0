package authapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devflow/backend/infra/app"
	"github.com/devflow/backend/infra/auth"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/oauth"
)

// fakeProvider plays Google and GitHub: a token endpoint that hands out "at-<code>",
// and profile endpoints answering per access token.
type fakeProvider struct {
	t   testing.TB
	srv *httptest.Server

	mu          sync.Mutex
	tokenForms  []url.Values
	tokenAccept []string
	profileReqs []http.Header
	profiles    map[string]string // code -> profile JSON (GitHub /user or Google /userinfo)
	emails      map[string]string // code -> GitHub /user/emails JSON
}

func newFakeProvider(t testing.TB) *fakeProvider {
	f := &fakeProvider{t: t, profiles: map[string]string{}, emails: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", 400)
			return
		}
		f.mu.Lock()
		f.tokenForms = append(f.tokenForms, r.PostForm)
		f.tokenAccept = append(f.tokenAccept, r.Header.Get("Accept"))
		f.mu.Unlock()
		// As the providers answer a request that accepts JSON.
		w.Header().Set("Content-Type", "application/json")
		switch code := r.PostForm.Get("code"); code {
		case "fail":
			http.Error(w, "boom", 500)
		case "no-token":
			w.Write([]byte(`{"error":"bad_verification_code"}`)) // GitHub answers 200 like this
		default:
			w.Write([]byte(`{"access_token":"at-` + code + `","token_type":"bearer"}`))
		}
	})
	profile := func(table func() map[string]string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			f.profileReqs = append(f.profileReqs, r.Header.Clone())
			body, ok := table()[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer at-")]
			f.mu.Unlock()
			if !ok {
				http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
				return
			}
			w.Write([]byte(body))
		}
	}
	mux.HandleFunc("GET /user", profile(func() map[string]string { return f.profiles }))
	mux.HandleFunc("GET /userinfo", profile(func() map[string]string { return f.profiles }))
	mux.HandleFunc("GET /user/emails", profile(func() map[string]string { return f.emails }))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeProvider) endpoints() oauth.Endpoints {
	return oauth.Endpoints{
		AuthorizeURL: f.srv.URL + "/authorize",
		TokenURL:     f.srv.URL + "/token",
		ProfileURL:   f.srv.URL + "/user",
		EmailsURL:    f.srv.URL + "/user/emails",
	}
}

func (f *fakeProvider) profile(code, profile, emails string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.profiles[code] = profile
	if emails != "" {
		f.emails[code] = emails
	}
}

const (
	deepLink = "vscode://example.devflow/auth"
	webApp   = "https://app.example.com/"
)

func withOAuth(f *fakeProvider, google bool) envOption {
	return func(cfg *config.Config, o *app.AuthOptions) {
		cfg.OAuthCallbackBaseURL = "https://api.example.com"
		cfg.GitHubClientID, cfg.GitHubClientSecret = "gh-id", "gh-secret"
		cfg.WebAppURL, cfg.VSCodeDeepLink = webApp, deepLink
		o.GitHubEndpoints = f.endpoints()
		if google {
			cfg.GoogleClientID, cfg.GoogleClientSecret = "g-id", "g-secret"
			ep := f.endpoints()
			ep.ProfileURL, ep.EmailsURL = f.srv.URL+"/userinfo", ""
			o.GoogleEndpoints = ep
		}
	}
}

// startOAuth runs GET /auth/{provider} and returns the authorize URL's query.
func (e *env) startOAuth(provider, query string) url.Values {
	e.t.Helper()
	res := e.do(req{method: "GET", path: "/auth/" + provider + query})
	if res.status != http.StatusFound {
		e.t.Fatalf("start %s: %d %s", provider, res.status, res.body)
	}
	loc, err := url.Parse(res.header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	return loc.Query()
}

func (e *env) callback(provider, state, code string) response {
	e.t.Helper()
	return e.do(req{method: "GET", path: "/auth/" + provider + "/callback?code=" + url.QueryEscape(code) + "&state=" + url.QueryEscape(state)})
}

func TestOAuth_GitHubRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFakeProvider(t)
	e := newEnv(t, withOAuth(f, false))
	f.profile("code-1", `{"id":583231,"login":"octocat","email":null}`,
		`[{"email":"old@example.com","primary":false,"verified":true},{"email":"octo@example.com","primary":true,"verified":true}]`)
	f.profile("code-2", `{"id":583231,"login":"renamed","email":"new@example.com"}`, "")

	// VS Code flow.
	res := e.do(req{method: "GET", path: "/auth/github?client_type=vscode"})
	if res.status != 302 || !strings.HasPrefix(res.header.Get("Location"), f.srv.URL+"/authorize?client_id=gh-id&redirect_uri=") {
		t.Fatalf("start: %d %q", res.status, res.header.Get("Location"))
	}
	q := e.startOAuth("github", "?client_type=vscode&display=html")
	want := map[string]string{
		"client_id": "gh-id", "redirect_uri": "https://api.example.com/api/v1/auth/github/callback",
		"response_type": "code", "scope": "read:user user:email", "code_challenge_method": "S256",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("authorize %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q.Get("state")) != 22 || len(q.Get("code_challenge")) != 43 {
		t.Fatalf("state %q, code_challenge %q", q.Get("state"), q.Get("code_challenge"))
	}
	res = e.callback("github", q.Get("state"), "code-1")
	loc := res.header.Get("Location")
	if res.status != 302 || !strings.HasPrefix(loc, deepLink+"?token=") || res.header.Get("Set-Cookie") != "" {
		t.Fatalf("vscode callback: %d %q cookie %q", res.status, loc, res.header.Get("Set-Cookie"))
	}
	jwt, _ := url.QueryUnescape(strings.TrimPrefix(loc, deepLink+"?token="))
	me := e.do(req{method: "GET", path: "/auth/me", auth: jwt}).json(t)
	if me["username"] != "octocat" || me["email"] != "octo@example.com" || me["provider"] != "github" {
		t.Fatalf("user %v", me)
	}

	// The code exchange carried PKCE and the contract's fields.
	f.mu.Lock()
	form, accept := f.tokenForms[0], f.tokenAccept[0]
	profileHeaders := f.profileReqs[0]
	f.mu.Unlock()
	sum := sha256.Sum256([]byte(form.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") || len(form.Get("code_verifier")) != 43 {
		t.Fatal("code_verifier does not match the code_challenge (PKCE S256)")
	}
	for k, v := range map[string]string{"client_id": "gh-id", "client_secret": "gh-secret", "code": "code-1",
		"redirect_uri": "https://api.example.com/api/v1/auth/github/callback", "grant_type": "authorization_code"} {
		if form.Get(k) != v {
			t.Errorf("token form %s = %q, want %q", k, form.Get(k), v)
		}
	}
	if accept != "application/json" || profileHeaders.Get("Authorization") != "Bearer at-code-1" ||
		profileHeaders.Get("Accept") != "application/json" || profileHeaders.Get("User-Agent") != "devflow-backend" {
		t.Fatalf("headers: token Accept %q, profile %v", accept, profileHeaders)
	}

	// Web flow, same GitHub account: the same user (created once, never updated), a
	// cookie and the web app.
	q2 := e.startOAuth("github", "")
	res = e.callback("github", q2.Get("state"), "code-2")
	if res.status != 302 || res.header.Get("Location") != webApp {
		t.Fatalf("web callback: %d %q", res.status, res.header.Get("Location"))
	}
	cookieJWT := res.cookie("dvf_session")
	me2 := e.do(req{method: "GET", path: "/auth/me", cookie: "dvf_session=" + cookieJWT}).json(t)
	if me2["id"] != me["id"] || me2["username"] != "octocat" || me2["email"] != "octo@example.com" {
		t.Fatalf("second sign-in %v, want the first user unchanged %v", me2, me)
	}
	if n := e.count(`SELECT count(*) FROM users`); n != 1 {
		t.Fatalf("%d users", n)
	}
	if n := e.count(`SELECT count(*) FROM events WHERE event_type = 'UserRegistered'`); n != 1 {
		t.Fatalf("%d UserRegistered events", n)
	}

	// A state is single-use.
	expect(t, e.callback("github", q.Get("state"), "code-1"), 400, `{"error":"Invalid or expired state"}`)
}

func TestOAuth_StateRules(t *testing.T) {
	t.Parallel()
	f := newFakeProvider(t)
	e := newEnv(t, withOAuth(f, true))
	f.profile("ok", `{"id":1,"login":"one"}`, "")
	invalid := `{"error":"Invalid or expired state"}`

	// The provider's error comes first and does not consume the state.
	q := e.startOAuth("github", "")
	expect(t, e.do(req{method: "GET", path: "/auth/github/callback?error=access_denied&state=" + q.Get("state")}), 400,
		`{"error":"Provider error","code":"access_denied"}`)
	if res := e.callback("github", q.Get("state"), "ok"); res.status != 302 {
		t.Fatalf("state unusable after a provider error: %d %s", res.status, res.body)
	}

	// Expired after five minutes.
	q = e.startOAuth("github", "")
	e.clk.Advance(5 * time.Minute)
	expect(t, e.callback("github", q.Get("state"), "ok"), 400, invalid)

	// Issued for another provider.
	q = e.startOAuth("github", "")
	expect(t, e.callback("google", q.Get("state"), "ok"), 400, invalid)

	expect(t, e.do(req{method: "GET", path: "/auth/github/callback?code=ok"}), 400, invalid)
	expect(t, e.callback("github", "never-issued-state-xx", "ok"), 400, invalid)
	expect(t, e.callback("gitlab", "whatever", "ok"), 400, invalid)

	// A second replica sees states created by the first (durable, D19).
	_, other := e.instance(e.pool, withOAuth(f, true))
	q = e.startOAuth("github", "")
	if res := do(t, other, req{method: "GET", path: "/auth/github/callback?code=ok&state=" + q.Get("state")}); res.status != 302 {
		t.Fatalf("callback on another replica: %d %s", res.status, res.body)
	}
	if n := e.count(`SELECT count(*) FROM events WHERE data::text LIKE '%' || $1 || '%'`, q.Get("state")); n != 0 {
		t.Fatal("an OAuth state reached the event log")
	}
}

func TestOAuth_StartRejections(t *testing.T) {
	t.Parallel()
	f := newFakeProvider(t)
	e := newEnv(t, withOAuth(f, false)) // Google has no client id here
	unsupported := `{"error":"Unsupported provider"}`
	for _, path := range []string{"/auth/gitlab", "/auth/google", "/auth/register", "/auth/pairings", "/auth/login", "/auth/logout"} {
		expect(t, e.do(req{method: "GET", path: path}), 400, unsupported)
	}
	noBase := newEnv(t, withOAuth(f, true), func(cfg *config.Config, _ *app.AuthOptions) { cfg.OAuthCallbackBaseURL = "" })
	expect(t, noBase.do(req{method: "GET", path: "/auth/github"}), 400, unsupported)
	if n := e.count(`SELECT count(*) FROM oauth_states`); n != 0 {
		t.Fatal("a rejected start stored a state")
	}
}

func TestOAuth_ProviderFailuresAre502(t *testing.T) {
	t.Parallel()
	f := newFakeProvider(t)
	e := newEnv(t, withOAuth(f, false))
	failed := `{"error":"Provider request failed"}`
	for _, code := range []string{"fail", "no-token", "no-profile"} {
		q := e.startOAuth("github", "")
		expect(t, e.callback("github", q.Get("state"), code), 502, failed)
	}
	q := e.startOAuth("github", "")
	f.srv.Close() // network error
	expect(t, e.callback("github", q.Get("state"), "x"), 502, failed)
	if n := e.count(`SELECT count(*) FROM users`); n != 0 {
		t.Fatal("a failed sign-in created a user")
	}
}

func TestOAuth_ProfileMapping(t *testing.T) {
	t.Parallel()
	f := newFakeProvider(t)
	e := newEnv(t, withOAuth(f, true))
	cases := []struct {
		provider, code, profile, emails string
		username                        string
		email                           any
	}{
		{"google", "g1", `{"sub":"109876543210","email":"grace@example.com","name":"Grace Hopper"}`, "", "Grace Hopper", "grace@example.com"},
		{"google", "g2", `{"sub":"555566667777","email":"ada@example.com"}`, "", "ada", "ada@example.com"},
		{"google", "g3", `{"sub":"999988887777"}`, "", "google-99998888", nil},
		{"google", "g4", `{"sub":"111122223333","name":"Grace Hopper"}`, "", "google-11112222", nil}, // name taken
		{"github", "h1", `{"id":42,"login":"","email":""}`, `[{"email":"x@example.com","primary":true,"verified":false},{"email":"v@example.com","primary":false,"verified":true}]`, "github-42", "v@example.com"},
		{"github", "h2", `{"id":43,"login":"nomail"}`, `[{"email":"u@example.com","primary":true,"verified":false}]`, "nomail", nil},
		{"github", "h3", `{"id":44,"login":"public","email":"public@example.com"}`, `[{"email":"other@example.com","primary":true,"verified":true}]`, "public", "public@example.com"},
	}
	for _, c := range cases {
		f.profile(c.code, c.profile, c.emails)
		q := e.startOAuth(c.provider, "?client_type=vscode")
		res := e.callback(c.provider, q.Get("state"), c.code)
		if res.status != 302 {
			t.Fatalf("%s: %d %s", c.code, res.status, res.body)
		}
		jwt, _ := url.QueryUnescape(strings.TrimPrefix(res.header.Get("Location"), deepLink+"?token="))
		me := e.do(req{method: "GET", path: "/auth/me", auth: jwt}).json(t)
		if me["username"] != c.username || me["email"] != c.email || me["provider"] != c.provider {
			b, _ := json.Marshal(me)
			t.Errorf("%s: user %s, want username %q email %v", c.code, b, c.username, c.email)
		}
	}
}

func TestOAuth_WebCookieInProduction(t *testing.T) {
	t.Parallel()
	f := newFakeProvider(t)
	e := newEnv(t, withOAuth(f, false), func(cfg *config.Config, _ *app.AuthOptions) { cfg.AppEnv = "production" })
	f.profile("p", `{"id":7,"login":"prod"}`, "")
	q := e.startOAuth("github", "?client_type=web")
	res := e.callback("github", q.Get("state"), "p")
	sc := res.header.Get("Set-Cookie")
	for _, attr := range []string{"dvf_session=ey", "Path=/", "Max-Age=604800", "Expires=", "HttpOnly", "Secure", "SameSite=None"} {
		if !strings.Contains(sc, attr) {
			t.Errorf("Set-Cookie %q lacks %s", sc, attr)
		}
	}
	if _, _, err := mustJWT(t).Verify(res.cookie("dvf_session")); err != nil {
		t.Fatalf("cookie is not a valid JWT: %v", err)
	}
}

func mustJWT(t *testing.T) *auth.JWT {
	j, err := auth.NewJWT(testSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	return j
}
