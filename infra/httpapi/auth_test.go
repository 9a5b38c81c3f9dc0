package httpapi

import (
	"log/slog"
	"strings"
	"testing"
)

func TestAuthenticated_CredentialExtractionOrder(t *testing.T) {
	s := newTestServer(t)
	alice := `{"admin":true,"api_token":false,"user_id":"fedf1d98-c503-49a8-a576-9d634cc2d9b5"}`
	bob := `{"admin":false,"api_token":false,"user_id":"2fb73e17-63e6-4a60-a7be-09f2f9676e34"}`
	bobToken := `{"admin":false,"api_token":true,"user_id":"2fb73e17-63e6-4a60-a7be-09f2f9676e34"}`
	unauthorized := `{"error":"Unauthorized"}`
	cases := []struct {
		name    string
		headers []string
		status  int
		body    string
		asked   string // the credential handed to the Authenticator, "" for none
	}{
		{"no credential", nil, 401, unauthorized, ""},
		{"Bearer JWT", []string{"Authorization", "Bearer jwt-alice"}, 200, alice, "jwt-alice"},
		{"Bearer API token", []string{"Authorization", "Bearer dvf_bobtok"}, 200, bobToken, "dvf_bobtok"},
		{"dvf_session cookie", []string{"Cookie", "dvf_session=jwt-alice"}, 200, alice, "jwt-alice"},
		{"legacy session cookie", []string{"Cookie", "session=jwt-bob"}, 200, bob, "jwt-bob"},
		{"API token in a cookie is classified by the authenticator too", []string{"Cookie", "dvf_session=dvf_bobtok"}, 200, bobToken, "dvf_bobtok"},
		{"dvf_session preferred over session", []string{"Cookie", "session=jwt-bob; dvf_session=jwt-alice"}, 200, alice, "jwt-alice"},
		{"empty dvf_session falls back to session", []string{"Cookie", "dvf_session=; session=jwt-bob"}, 200, bob, "jwt-bob"},
		{"Bearer beats cookies", []string{"Authorization", "Bearer jwt-bob", "Cookie", "dvf_session=jwt-alice"}, 200, bob, "jwt-bob"},
		{"invalid Bearer never falls back to a cookie", []string{"Authorization", "Bearer not-a-jwt", "Cookie", "dvf_session=jwt-alice"}, 401, unauthorized, "not-a-jwt"},
		// HTTP strips trailing spaces from header values (in Node too), so "Bearer " arrives
		// as "Bearer", which does not start with "Bearer ": the cookie is used.
		{"bare Bearer is not a Bearer credential", []string{"Authorization", "Bearer ", "Cookie", "dvf_session=jwt-alice"}, 200, alice, "jwt-alice"},
		{"lower-case bearer is not Bearer: cookie used", []string{"Authorization", "bearer jwt-bob", "Cookie", "dvf_session=jwt-alice"}, 200, alice, "jwt-alice"},
		{"Bearer without its space is not Bearer", []string{"Authorization", "Bearerjwt-bob"}, 401, unauthorized, ""},
		{"two spaces keep the second in the credential", []string{"Authorization", "Bearer  jwt-alice"}, 401, unauthorized, " jwt-alice"},
		{"Basic auth is no credential", []string{"Authorization", "Basic YTpi"}, 401, unauthorized, ""},
		{"authenticator failure is a 500, never a 401", []string{"Authorization", "Bearer db-down"}, 500, `{"error":"Internal server error"}`, "db-down"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.auth.mu.Lock()
			s.auth.seen = nil
			s.auth.mu.Unlock()
			r := s.do(t, "POST", "/api/v1/test/whoami", jsonBody(`{}`), append([]string{"Content-Type", "application/json"}, tc.headers...)...)
			expectJSON(t, r, tc.status, tc.body)
			s.auth.mu.Lock()
			seen := s.auth.seen
			s.auth.mu.Unlock()
			if tc.asked == "" && len(seen) != 0 || tc.asked != "" && (len(seen) != 1 || seen[0] != tc.asked) {
				t.Errorf("authenticator asked %q, want %q", seen, tc.asked)
			}
		})
	}
}

func TestAuthenticated_BeforeTheBodyIsRead(t *testing.T) {
	s := newTestServer(t)
	// A bad credential with a malformed or oversized body is still a 401 ...
	expectJSON(t, s.do(t, "POST", "/api/v1/test/whoami", jsonBody(`{"x":`), "Content-Type", "application/json"), 401, `{"error":"Unauthorized"}`)
	expectJSON(t, s.do(t, "POST", "/api/v1/test/whoami", jsonBody(paddedJSON(2<<20)), "Content-Type", "application/json"), 401, `{"error":"Unauthorized"}`)
	// ... and a good one with a bad body is a 4xx other than 401.
	expectJSON(t, s.do(t, "POST", "/api/v1/test/whoami", jsonBody(`{"x":`), "Content-Type", "application/json", "Authorization", "Bearer jwt-alice"), 400,
		`{"error":"Validation failed","message":"malformed JSON"}`)
}

func TestAuthenticated_DatabaseOutageIsLoggedWithoutTheCredential(t *testing.T) {
	s := newTestServer(t)
	s.do(t, "POST", "/api/v1/test/whoami", nil, "Authorization", "Bearer db-down")
	logs := s.logs.String()
	if !strings.Contains(logs, "connection refused") {
		t.Errorf("the failure is not logged: %s", logs)
	}
}

func TestAuthenticated_WithoutAnAuthenticatorEverythingIs401(t *testing.T) {
	api := New(Params{Config: testConfig(), Logger: slog.New(slog.DiscardHandler)})
	api.Mount(testRoutes{api: api})
	s := &testServer{Server: newHTTPTestServer(t, api), api: api}
	expectJSON(t, s.do(t, "POST", "/api/v1/test/whoami", nil, "Authorization", "Bearer jwt-alice"), 401, `{"error":"Unauthorized"}`)
}

func TestIsAdmin_ComparesUserIDs(t *testing.T) {
	api := New(Params{Config: testConfig(), Logger: slog.New(slog.DiscardHandler)})
	if !api.IsAdmin(Principal{UserID: aliceID}) || api.IsAdmin(Principal{UserID: bobID}) {
		t.Error("IsAdmin does not follow ADMIN_USER_IDS")
	}
}
