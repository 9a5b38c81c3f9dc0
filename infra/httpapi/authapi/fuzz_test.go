package authapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// expectJSONAnswer is the fuzz targets' property: no 5xx (a panic would be one: the
// recoverer answers 500), and a JSON object body that carries a string "error" on a
// 4xx.
func expectJSONAnswer(t *testing.T, res response) {
	t.Helper()
	if res.status >= 500 {
		t.Fatalf("5xx: %d %s", res.status, res.body)
	}
	var body map[string]any
	if err := json.Unmarshal(res.body, &body); err != nil {
		t.Fatalf("%d: body %q is not a JSON object", res.status, res.body)
	}
	if _, ok := body["error"].(string); res.status >= 400 && !ok {
		t.Fatalf("%d without a string error: %s", res.status, res.body)
	}
}

// FuzzAuthBodies sends bodies to POST /auth/register, /auth/login and, with a JWT,
// /auth/tokens (endpoint picks one).
func FuzzAuthBodies(f *testing.F) {
	for _, body := range []string{
		`{"email":"fuzz@example.com","password":"correct-horse-battery"}`,
		`{"email":"fuzz@example.com","password":"correct-horse-battery","username":"a\u0000b"}`,
		`{"email":"fuzz@example.com","password":"correct-horse-\u0000"}`,
		"{\"email\":\"fuzz@example.com\",\"password\":\"correct-horse-battery\",\"username\":\"\xff\"}",
		`{"email":"fuzz@example.com","password":"correct-horse-battery","username":"\ud800"}`,
		`{"email":"a\u0000@example.com","password":"correct-horse-battery"}`,
		`{"name":"a\u0000b"}`, `{"name":"\ud800\udc00"}`, "{\"name\":\"\xed\xa0\x80\"}", `{"name":""}`,
		`{"email":5}`, `[]`, `null`, `{`,
	} {
		for endpoint := range uint8(3) {
			f.Add(endpoint, []byte(body))
		}
	}
	e := newEnv(f)
	jwt, _ := e.register("fuzzer@example.com")
	f.Fuzz(func(t *testing.T, endpoint uint8, body []byte) {
		rq := req{method: "POST", path: "/auth/register", body: string(body)}
		switch endpoint % 3 {
		case 1:
			rq.path = "/auth/login"
		case 2:
			rq.path, rq.auth = "/auth/tokens", jwt
		}
		if len(body) == 0 {
			rq.body = " " // do sends no Content-Type without a body
		}
		expectJSONAnswer(t, do(t, e.url, rq))
	})
}

// FuzzOAuthCallback sends any state and code to the callbacks: a made-up state, or one
// the service issued (realState), and any code. The one 5xx allowed is the contract's
// 502 when the provider refuses a code that is text, for a state that was issued.
func FuzzOAuthCallback(f *testing.F) {
	for _, s := range []string{"", "x", "\x00", "a\x00b", "\xed\xa0\x80", "\xff", `\ud800`} {
		f.Add(false, false, s, "code")
		f.Add(true, false, s, "code")
		f.Add(false, true, "", s)
		f.Add(true, true, "", s)
	}
	fp := newFakeProvider(f)
	e := newEnv(f, withOAuth(fp, true))
	fp.profile("code", `{"id":7,"login":"fuzz","sub":"7","email":null}`, "")
	f.Fuzz(func(t *testing.T, google, realState bool, state, code string) {
		provider := "github"
		if google {
			provider = "google"
		}
		if realState {
			res := do(t, e.url, req{method: "GET", path: "/auth/" + provider})
			loc, err := url.Parse(res.header.Get("Location"))
			if res.status != http.StatusFound || err != nil {
				t.Fatalf("start: %d %s", res.status, res.body)
			}
			state = loc.Query().Get("state")
		}
		res := do(t, e.url, req{method: "GET", path: "/auth/" + provider + "/callback?state=" + url.QueryEscape(state) + "&code=" + url.QueryEscape(code)})
		switch {
		case res.status == http.StatusFound:
			return // signed in: a redirect without a body
		case res.status == http.StatusBadGateway && realState && utf8.ValidString(code) && !strings.Contains(code, "\x00"):
			expect(t, res, http.StatusBadGateway, `{"error":"Provider request failed"}`)
		default:
			expectJSONAnswer(t, res)
		}
	})
}
