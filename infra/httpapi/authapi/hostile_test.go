package authapi_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// badText are query and path values PostgreSQL cannot store, percent-encoded: a NUL,
// a lone surrogate encoded as UTF-8 (CESU-8), and a byte that is never UTF-8.
var badText = []string{"%00", "%ed%a0%80", "%ff", "a%00b"}

// badJSONText are JSON string contents that decode to text PostgreSQL cannot store
// (NUL), or raw bytes that are not UTF-8.
var badJSONText = []string{`a\u0000b`, "a\xffb", "\xed\xa0\x80"}

// expectClientError checks the contract's promise for bad input: a 4xx with a JSON
// object body carrying a string "error".
func expectClientError(t *testing.T, what string, res response) {
	t.Helper()
	if res.status < 400 || res.status >= 500 {
		t.Errorf("%s: status %d, want 4xx (body %s)", what, res.status, res.body)
		return
	}
	var body map[string]any
	if err := json.Unmarshal(res.body, &body); err != nil {
		t.Errorf("%s: body %q is not a JSON object", what, res.body)
		return
	}
	if _, ok := body["error"].(string); !ok {
		t.Errorf("%s: body %s has no string error", what, res.body)
	}
}

func TestHostileText_OAuthCallbackAnswers4xx(t *testing.T) {
	t.Parallel()
	f := newFakeProvider(t)
	e := newEnv(t, withOAuth(f, true))
	f.profile("good", `{"id":7,"login":"hostile","sub":"7","email":null}`, "")
	for _, provider := range []string{"github", "google"} {
		for _, bad := range badText {
			expect(t, e.do(req{method: "GET", path: "/auth/" + provider + "/callback?code=c&state=" + bad}), 400, `{"error":"Invalid or expired state"}`)
			state := e.startOAuth(provider, "").Get("state")
			expect(t, e.do(req{method: "GET", path: "/auth/" + provider + "/callback?state=" + state + "&code=" + bad}), 400,
				`{"error":"Validation failed","message":"code must be valid UTF-8 text without NUL characters"}`)
			// The state was left unused: the real code still signs in with it.
			if res := e.callback(provider, state, "good"); res.status != http.StatusFound {
				t.Fatalf("%s: callback after a bad code: %d %s", provider, res.status, res.body)
			}
			expectClientError(t, provider+" error "+bad, e.do(req{method: "GET", path: "/auth/" + provider + "/callback?error=" + bad}))
			expectClientError(t, "provider "+bad, e.do(req{method: "GET", path: "/auth/" + bad + "/callback?state=s&code=c"}))
		}
	}
}

func TestHostileText_AuthBodiesAnswer4xx(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jwt, _ := e.register("hostile@example.com")
	for _, bad := range badJSONText {
		for _, body := range []string{
			`{"email":"` + bad + `@example.com","password":"correct-horse-battery"}`,
			`{"email":"x` + bad + `y@example.com","password":"correct-horse-battery"}`,
			`{"email":"new@example.com","password":"correct-horse-battery","username":"` + bad + `"}`,
			`{"email":"new2@example.com","password":"correct-horse-` + bad + `"}`,
		} {
			expectClientError(t, "register "+body, e.do(req{method: "POST", path: "/auth/register", body: body}))
			expectClientError(t, "login "+body, e.do(req{method: "POST", path: "/auth/login", body: body}))
		}
		expectClientError(t, "token name "+bad, e.do(req{method: "POST", path: "/auth/tokens", auth: jwt, body: `{"name":"` + bad + `"}`}))
	}
	for _, bad := range badText {
		expectClientError(t, "approve "+bad, e.do(req{method: "POST", path: "/auth/pairings/" + bad + "/approve", auth: jwt}))
		expectClientError(t, "exchange "+bad, e.do(req{method: "POST", path: "/auth/pairings/" + bad + "/exchange"}))
		expectClientError(t, "revoke "+bad, e.do(req{method: "DELETE", path: "/auth/tokens/" + bad, auth: jwt}))
	}
}
