package authapi_test

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/app"
	"github.com/devflow/backend/infra/auth"
	"github.com/devflow/backend/infra/config"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestRegister_CreatesPasswordUserAndSetsSessionCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.do(req{method: "POST", path: "/auth/register", body: `{"email":"Alice@Example.com","password":"correct-horse-battery"}`})
	if res.status != http.StatusCreated {
		t.Fatalf("status %d %s", res.status, res.body)
	}
	m := res.json(t)
	user := m["user"].(map[string]any)
	if !uuidRE.MatchString(user["id"].(string)) || user["username"] != "alice" || user["email"] != "alice@example.com" ||
		user["provider"] != "password" || len(user) != 4 {
		t.Fatalf("user %v", user)
	}
	jwt := m["token"].(string)
	if res.cookie("dvf_session") != jwt {
		t.Fatal("the session cookie must hold the JWT")
	}
	setCookie := res.header.Get("Set-Cookie")
	for _, attr := range []string{"Path=/", "Max-Age=604800", "Expires=", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(setCookie, attr) {
			t.Errorf("Set-Cookie %q lacks %s", setCookie, attr)
		}
	}
	if strings.Contains(setCookie, "Secure") || strings.Contains(setCookie, "Domain") {
		t.Errorf("development cookie %q must have neither Secure nor Domain", setCookie)
	}
	wantExpires := e.clk.Now().Add(7 * 24 * time.Hour).UTC().Format(http.TimeFormat)
	if !strings.Contains(setCookie, "Expires="+wantExpires) {
		t.Errorf("Set-Cookie %q, want Expires=%s", setCookie, wantExpires)
	}

	// The cookie alone signs the dashboard in.
	expect(t, e.do(req{method: "GET", path: "/auth/me", cookie: "dvf_session=" + jwt}), 200,
		`{"id":"`+user["id"].(string)+`","username":"alice","email":"alice@example.com","provider":"password"}`)

	// Same normalised email: 409, without a second user.
	expect(t, e.do(req{method: "POST", path: "/auth/register", body: `{"email":"ALICE@EXAMPLE.COM","password":"another-password"}`}),
		409, `{"error":"Email already registered"}`)

	// A username clash goes to the next candidate: password-<first 8 of the email>.
	res = e.do(req{method: "POST", path: "/auth/register", body: `{"email":"alice@other.org","password":"correct-horse-battery"}`})
	if got := res.json(t)["user"].(map[string]any)["username"]; got != "password-alice@ot" {
		t.Fatalf("second alice got username %v", got)
	}
	if n := e.count(`SELECT count(*) FROM users`); n != 2 {
		t.Fatalf("%d users", n)
	}
}

func TestRegister_ValidationFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.do(req{method: "POST", path: "/auth/register", body: `{}`})
	if res.status != 400 {
		t.Fatalf("status %d", res.status)
	}
	m := res.json(t)
	if m["error"] != "Validation failed" || m["message"] != "Request body does not match required schema" {
		t.Fatalf("body %s", res.body)
	}
	missing := map[string]bool{}
	for _, d := range m["details"].([]any) {
		d := d.(map[string]any)
		if d["keyword"] == "required" {
			missing[d["params"].(map[string]any)["missingProperty"].(string)] = true
		}
	}
	if !missing["email"] || !missing["password"] {
		t.Fatalf("details %s", res.body)
	}
	for name, body := range map[string]string{
		"bad email":      `{"email":"not-an-email","password":"correct-horse-battery"}`,
		"short password": `{"email":"a@example.com","password":"1234567"}`,
		"short username": `{"email":"a@example.com","password":"correct-horse-battery","username":"ab"}`,
		"number email":   `{"email":5,"password":"correct-horse-battery"}`,
	} {
		res := e.do(req{method: "POST", path: "/auth/register", body: body})
		if res.status != 400 || res.json(t)["message"] != "Request body does not match required schema" {
			t.Errorf("%s: %d %s", name, res.status, res.body)
		}
	}
	expect(t, e.do(req{method: "POST", path: "/auth/register", body: `{"email":`}), 400,
		`{"error":"Validation failed","message":"malformed JSON"}`)
	if n := e.count(`SELECT count(*) FROM users`); n != 0 {
		t.Fatal("a rejected registration created a user")
	}
}

func TestRegister_RequestedUsernameAndLongPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	long := strings.Repeat("p", 72)
	res := e.do(req{method: "POST", path: "/auth/register", body: `{"email":"bob@example.com","password":"` + long + `-tail-one","username":"bobby"}`})
	if res.status != 201 || res.json(t)["user"].(map[string]any)["username"] != "bobby" {
		t.Fatalf("register: %d %s", res.status, res.body)
	}
	// Only the first 72 bytes count, as in the Node implementation.
	res = e.do(req{method: "POST", path: "/auth/login", body: `{"email":"bob@example.com","password":"` + long + `-other-tail"}`})
	if res.status != 200 {
		t.Fatalf("login with the same first 72 bytes: %d %s", res.status, res.body)
	}
}

func TestRegister_ConcurrentSameEmailOneWins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	statuses := make([]int, 2)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.do(req{method: "POST", path: "/auth/register", body: `{"email":"race@example.com","password":"correct-horse-battery"}`}).status
		}()
	}
	wg.Wait()
	if !(statuses[0] == 201 && statuses[1] == 409 || statuses[0] == 409 && statuses[1] == 201) {
		t.Fatalf("statuses %v, want one 201 and one 409", statuses)
	}
}

func TestLogin_PasswordCheckAndThrottle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("carol@example.com")

	res := e.do(req{method: "POST", path: "/auth/login", body: `{"email":"CAROL@example.com","password":"correct-horse-battery"}`})
	if res.status != 200 || res.cookie("dvf_session") == "" || res.cookie("dvf_session") != res.json(t)["token"] {
		t.Fatalf("login: %d %s", res.status, res.body)
	}
	if u := res.json(t)["user"].(map[string]any); u["username"] != "carol" || u["provider"] != "password" {
		t.Fatalf("user %v", u)
	}
	expect(t, e.do(req{method: "POST", path: "/auth/login", body: `{"email":"nobody@example.com","password":"x"}`}), 401, `{"error":"Invalid credentials"}`)
	if n := e.count(`SELECT count(*) FROM failed_logins WHERE email = 'nobody@example.com'`); n != 1 {
		t.Fatal("a failure for an unknown email must be counted too")
	}
	res = e.do(req{method: "POST", path: "/auth/login", body: `{"email":"carol@example.com"}`})
	if res.status != 400 || res.json(t)["message"] != "Request body does not match required schema" {
		t.Fatalf("missing password: %d %s", res.status, res.body)
	}

	// Nine earlier failures ten minutes ago, then a real one: ten in the window.
	for range 9 {
		if _, err := e.pool.Exec(t.Context(), `INSERT INTO failed_logins (email, attempted_at) VALUES ('carol@example.com', $1)`,
			e.clk.Now().Add(-10*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, e.do(req{method: "POST", path: "/auth/login", body: `{"email":"carol@example.com","password":"wrong-password"}`}),
		401, `{"error":"Invalid credentials"}`)

	// Throttled: even the right password is not checked, and nothing is counted.
	res = e.do(req{method: "POST", path: "/auth/login", body: `{"email":"Carol@Example.com","password":"correct-horse-battery"}`})
	expect(t, res, 429, `{"error":"Too many attempts"}`)
	if got := res.header.Get("Retry-After"); got != strconv.Itoa(5*60) {
		t.Fatalf("Retry-After %q, want 300 (until the oldest counted failure is 15 minutes old)", got)
	}
	if n := e.count(`SELECT count(*) FROM failed_logins WHERE email = 'carol@example.com'`); n != 10 {
		t.Fatalf("throttled attempts must not count: %d failures", n)
	}

	e.clk.Advance(5 * time.Minute)
	res = e.do(req{method: "POST", path: "/auth/login", body: `{"email":"carol@example.com","password":"correct-horse-battery"}`})
	if res.status != 200 {
		t.Fatalf("login after the window: %d %s", res.status, res.body)
	}
	if n := e.count(`SELECT count(*) FROM failed_logins WHERE email = 'carol@example.com'`); n != 0 {
		t.Fatal("a successful login must clear the count")
	}
}

func TestLogin_ThrottleIsSharedByReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, other := e.instance(e.pool)
	for range 10 {
		if _, err := e.pool.Exec(t.Context(), `INSERT INTO failed_logins (email, attempted_at) VALUES ('dave@example.com', $1)`, e.clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for _, base := range []string{e.url, other} {
		res := do(t, base, req{method: "POST", path: "/auth/login", body: `{"email":"dave@example.com","password":"whatever"}`})
		expect(t, res, 429, `{"error":"Too many attempts"}`)
		if res.header.Get("Retry-After") != "900" {
			t.Fatalf("Retry-After %q", res.header.Get("Retry-After"))
		}
	}
}

func TestMe_CredentialsAndMissingUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jwt, userID := e.register("erin@example.com")
	token, _ := e.mintToken(jwt, "laptop")
	want := `{"id":"` + userID + `","username":"erin","email":"erin@example.com","provider":"password"}`

	expect(t, e.do(req{method: "GET", path: "/auth/me", auth: jwt}), 200, want)
	expect(t, e.do(req{method: "GET", path: "/auth/me", cookie: "dvf_session=" + jwt}), 200, want)
	expect(t, e.do(req{method: "GET", path: "/auth/me", cookie: "session=" + jwt}), 200, want)               // legacy cookie (D1)
	expect(t, e.do(req{method: "GET", path: "/auth/me", cookie: "dvf_session=; session=" + jwt}), 200, want) // empty preferred cookie
	expect(t, e.do(req{method: "GET", path: "/auth/me", auth: token}), 200, want)
	expect(t, e.do(req{method: "GET", path: "/auth/me", cookie: "dvf_session=" + token}), 200, want) // a dvf_ cookie is a token

	for name, rq := range map[string]req{
		"no credential":           {method: "GET", path: "/auth/me"},
		"not a jwt":               {method: "GET", path: "/auth/me", auth: "not-a-jwt"},
		"bearer never falls back": {method: "GET", path: "/auth/me", auth: "not-a-jwt", cookie: "dvf_session=" + jwt},
		"unknown api token":       {method: "GET", path: "/auth/me", auth: "dvf_" + strings.Repeat("A", 43)},
		"empty api token":         {method: "GET", path: "/auth/me", auth: "dvf_"},
		"bad cookie":              {method: "GET", path: "/auth/me", cookie: "dvf_session=garbage"},
		"jwt signed with another": {method: "GET", path: "/auth/me", auth: mintWith(t, "other-secret", userID)},
	} {
		t.Run(name, func(t *testing.T) { expect(t, e.do(rq), 401, `{"error":"Unauthorized"}`) })
	}

	// A valid JWT for a user that is gone: 404; its API tokens die with it: 401.
	ghost := mintWith(t, testSecret, ids.New().String())
	expect(t, e.do(req{method: "GET", path: "/auth/me", auth: ghost}), 404, `{"error":"User not found"}`)
	if _, err := e.pool.Exec(t.Context(), `DELETE FROM users WHERE id = $1`, userID); err != nil {
		t.Fatal(err)
	}
	expect(t, e.do(req{method: "GET", path: "/auth/me", auth: jwt}), 404, `{"error":"User not found"}`)
	expect(t, e.do(req{method: "GET", path: "/auth/me", auth: token}), 401, `{"error":"Unauthorized"}`)
}

// mintWith signs a session JWT for sub with secret.
func mintWith(t *testing.T, secret, sub string) string {
	t.Helper()
	j, err := auth.NewJWT(secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ids.Parse(sub)
	if err != nil {
		t.Fatal(err)
	}
	s, err := j.Mint(id, "password")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLogout_ClearsBothCookies(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env   string
		attrs []string
		not   []string
	}{
		{"development", []string{"Path=/", "Max-Age=0", "Expires=Thu, 01 Jan 1970 00:00:00 GMT", "HttpOnly", "SameSite=Lax"}, []string{"Secure", "Domain"}},
		{"production", []string{"Path=/", "Max-Age=0", "Expires=Thu, 01 Jan 1970 00:00:00 GMT", "HttpOnly", "Secure", "SameSite=None"}, []string{"Domain", "Lax"}},
	} {
		t.Run(c.env, func(t *testing.T) {
			e := newEnv(t, func(cfg *config.Config, _ *app.AuthOptions) { cfg.AppEnv = c.env })
			res := e.do(req{method: "POST", path: "/auth/logout", cookie: "dvf_session=x; session=y"})
			expect(t, res, 204, "")
			cookies := res.header.Values("Set-Cookie")
			if len(cookies) != 2 || !strings.HasPrefix(cookies[0], "dvf_session=;") || !strings.HasPrefix(cookies[1], "session=;") {
				t.Fatalf("Set-Cookie %q", cookies)
			}
			for _, sc := range cookies {
				for _, a := range c.attrs {
					if !strings.Contains(sc, a) {
						t.Errorf("%q lacks %s", sc, a)
					}
				}
				for _, a := range c.not {
					if strings.Contains(sc, a) {
						t.Errorf("%q has %s", sc, a)
					}
				}
			}
		})
	}
}
