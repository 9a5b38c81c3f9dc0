package httpapi

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestGenericErrors_AreJSONWithTheContractsBodies(t *testing.T) {
	s := newTestServer(t)
	cases := []struct {
		name, method, path, body, ct string
		status                       int
		want                         string
	}{
		{"unknown path", "GET", "/api/v1/nope", "", "", 404, `{"error":"Not found"}`},
		{"outside the prefix", "GET", "/health", "", "", 404, `{"error":"Not found"}`},
		{"signals/current is gone (D12)", "GET", "/api/v1/signals/current", "", "", 404, `{"error":"Not found"}`},
		{"wrong method", "DELETE", "/api/v1/health", "", "", 405, `{"error":"Method not allowed"}`},
		{"malformed JSON", "POST", "/api/v1/test/decode", `{"name":`, "application/json", 400, `{"error":"Validation failed","message":"malformed JSON"}`},
		{"trailing garbage", "POST", "/api/v1/test/validate/login", `{} x`, "application/json", 400, `{"error":"Validation failed","message":"malformed JSON"}`},
		{"whitespace only", "POST", "/api/v1/test/decode", " ", "application/json", 400, `{"error":"Validation failed","message":"malformed JSON"}`},
		{"over the limit", "POST", "/api/v1/test/small", strings.Repeat(" ", 101), "application/json", 413, `{"error":"Payload too large","message":"request body exceeds 100 bytes"}`},
		{"panic", "GET", "/api/v1/test/panic", "", "", 500, `{"error":"Internal server error"}`},
		{"internal error", "GET", "/api/v1/test/fail", "", "", 500, `{"error":"Internal server error"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var headers []string
			if tc.ct != "" {
				headers = []string{"Content-Type", tc.ct}
			}
			r := s.do(t, tc.method, tc.path, jsonBody(tc.body), headers...)
			expectJSON(t, r, tc.status, tc.want)
		})
	}
}

func TestMethodNotAllowed_ListsTheMethodsOfThePath(t *testing.T) {
	s := newTestServer(t)
	cases := []struct{ method, path, allow string }{
		{"DELETE", "/api/v1/health", "GET, HEAD"},
		{"POST", "/api/v1/ready", "GET, HEAD"},
		{"GET", "/api/v1/test/decode", "POST"},
		{"PUT", "/api/v1/test/validate/login", "POST"},
	}
	for _, tc := range cases {
		r := s.do(t, tc.method, tc.path, nil)
		expectJSON(t, r, 405, `{"error":"Method not allowed"}`)
		if got := r.Header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
}

func TestPanic_DoesNotLeakAndIsLoggedWithRequestIDAndStack(t *testing.T) {
	s := newTestServer(t)
	r := s.do(t, "GET", "/api/v1/test/panic", nil, "X-Request-Id", "req-panic-1")
	expectJSON(t, r, 500, `{"error":"Internal server error"}`)
	if strings.Contains(string(r.body), "hunter2") {
		t.Fatal("panic value leaked to the client")
	}
	var found bool
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(line, "panic serving request") {
			found = true
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line is not JSON: %v", err)
			}
			if rec["request_id"] != "req-panic-1" || !strings.Contains(rec["stack"].(string), "core_test") && !strings.Contains(rec["stack"].(string), "helpers_test") {
				t.Errorf("panic log lacks request id or stack: %s", line)
			}
		}
	}
	if !found {
		t.Errorf("panic not logged: %s", s.logs.String())
	}
	// The server keeps serving.
	expectJSON(t, s.do(t, "GET", "/api/v1/health", nil), 200, `{"status":"ok"}`)
}

func TestPanic_AfterTheResponseBeganAbortsTheConnection(t *testing.T) {
	s := newTestServer(t)
	resp, err := s.Client().Get(s.URL + "/api/v1/test/panic-after-write")
	if err != nil {
		return // aborted before the status line: the client saw a failure, as it should
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("the truncated response %q was delivered as complete", body)
	}
	if strings.Contains(string(body), "Internal server error") {
		t.Fatal("a 500 body was appended to a started response")
	}
}

func TestInternalError_LogsTheCauseButAnswersGenerically(t *testing.T) {
	s := newTestServer(t)
	r := s.do(t, "GET", "/api/v1/test/fail", nil)
	if strings.Contains(string(r.body), "relation") {
		t.Fatal("internal error text leaked")
	}
	if !strings.Contains(s.logs.String(), `relation \"users\" does not exist`) {
		t.Errorf("cause not logged: %s", s.logs.String())
	}
}

func TestHealth(t *testing.T) {
	s := newTestServer(t)
	expectJSON(t, s.do(t, "GET", "/api/v1/health", nil), 200, `{"status":"ok"}`)
}

func TestHEAD_IsAnsweredWhereverGETIs(t *testing.T) {
	s := newTestServer(t)
	for _, path := range []string{"/api/v1/health", "/api/v1/ready", "/api/v1/openapi.yaml", "/api/v1/test/request-id"} {
		r := s.do(t, "HEAD", path, nil)
		if r.StatusCode != 200 || len(r.body) != 0 {
			t.Errorf("HEAD %s = %d with %d body bytes, want 200 without body", path, r.StatusCode, len(r.body))
		}
		if r.Header.Get("Content-Type") == "" {
			t.Errorf("HEAD %s lacks the GET's Content-Type", path)
		}
	}
	if r := s.do(t, "HEAD", "/api/v1/nope", nil); r.StatusCode != 404 {
		t.Errorf("HEAD unknown path = %d, want 404", r.StatusCode)
	}
	if r := s.do(t, "HEAD", "/api/v1/test/decode", nil); r.StatusCode != 405 {
		t.Errorf("HEAD on a POST-only path = %d, want 405", r.StatusCode)
	}
}

func TestOpenAPI_IsServedAsYAMLAndDescribesEveryEndpoint(t *testing.T) {
	s := newTestServer(t)
	r := s.do(t, "GET", "/api/v1/openapi.yaml", nil)
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /openapi.yaml = %d %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string `yaml:"openapi"`
		Info    struct{ Title, Version string }
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.0.3" || doc.Info.Title != "devFlow API" || doc.Info.Version != "1.0.0" {
		t.Errorf("header = %q %q %q", doc.OpenAPI, doc.Info.Title, doc.Info.Version)
	}
	// Contract section 1, every row.
	endpoints := []string{
		"get /health", "get /ready", "post /auth/register", "post /auth/login", "get /auth/me",
		"post /auth/logout", "get /auth/{provider}", "get /auth/{provider}/callback",
		"post /auth/tokens", "get /auth/tokens", "delete /auth/tokens/{id}", "post /auth/pairings",
		"post /auth/pairings/{user_code}/approve", "post /auth/pairings/{pairing_id}/exchange",
		"post /telemetry", "get /metrics/churn", "get /metrics/context-switching", "post /metrics/etl/run",
		"get /recommendations/pending", "get /recommendations", "post /recommendations/trigger",
		"post /recommendations/{id}/action", "get /openapi.yaml",
		// Beyond the contract: a user's data (issue 16).
		"get /me/export", "delete /me",
	}
	// Beyond section 1: the time zone and the WakaTime-compatible API (issue 15).
	endpoints = append(endpoints, "patch /auth/me",
		"post /users/{user}/heartbeats", "post /users/{user}/heartbeats.bulk", "get /users/{user}/heartbeats",
		"get /users/{user}", "get /users/{user}/statusbar/today", "get /users/{user}/summaries", "get /users/{user}/stats",
		"get /users/{user}/stats/{range}", "get /users/{user}/all_time_since_today", "get /users/{user}/projects")
	count := 0
	for _, ops := range doc.Paths {
		for m := range ops {
			if m != "parameters" {
				count++
			}
		}
	}
	for _, e := range endpoints {
		method, path, _ := strings.Cut(e, " ")
		op, ok := doc.Paths[path][method].(map[string]any)
		if !ok {
			t.Errorf("openapi.yaml lacks %s", e)
			continue
		}
		if _, ok := op["responses"]; !ok {
			t.Errorf("%s has no responses", e)
		}
	}
	if count != len(endpoints) {
		t.Errorf("openapi.yaml has %d operations, contract section 1 and issues 15 and 16 have %d", count, len(endpoints))
	}
}

func TestSecurityHeaders_OnEveryResponse(t *testing.T) {
	s := newTestServer(t)
	want := map[string]string{
		"Content-Security-Policy":           "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests",
		"Cross-Origin-Opener-Policy":        "same-origin",
		"Cross-Origin-Resource-Policy":      "same-origin",
		"Origin-Agent-Cluster":              "?1",
		"Referrer-Policy":                   "no-referrer",
		"Strict-Transport-Security":         "max-age=15552000; includeSubDomains",
		"X-Content-Type-Options":            "nosniff",
		"X-DNS-Prefetch-Control":            "off",
		"X-Download-Options":                "noopen",
		"X-Frame-Options":                   "SAMEORIGIN",
		"X-Permitted-Cross-Domain-Policies": "none",
		"X-XSS-Protection":                  "0",
	}
	responses := map[string]response{
		"200":       s.do(t, "GET", "/api/v1/health", nil),
		"404":       s.do(t, "GET", "/api/v1/nope", nil),
		"405":       s.do(t, "PUT", "/api/v1/health", nil),
		"500":       s.do(t, "GET", "/api/v1/test/panic", nil),
		"preflight": s.do(t, "OPTIONS", "/api/v1/health", nil, "Origin", "https://app.example.com", "Access-Control-Request-Method", "GET"),
	}
	for name, r := range responses {
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", name, k, got, v)
			}
		}
		if r.Header.Get("X-Powered-By") != "" {
			t.Errorf("%s: X-Powered-By is set", name)
		}
	}
}

func TestCORS(t *testing.T) {
	s := newTestServer(t)
	acHeaders := func(r response) []string {
		var out []string
		for k := range r.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				out = append(out, k)
			}
		}
		return out
	}

	t.Run("no Origin: processed, no Allow-Origin", func(t *testing.T) {
		r := s.do(t, "GET", "/api/v1/health", nil)
		expectJSON(t, r, 200, `{"status":"ok"}`)
		if r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Error("Access-Control-Allow-Origin sent without Origin")
		}
	})
	t.Run("allowed origin", func(t *testing.T) {
		r := s.do(t, "GET", "/api/v1/health", nil, "Origin", "http://127.0.0.1:4173")
		expectJSON(t, r, 200, `{"status":"ok"}`)
		if r.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:4173" ||
			r.Header.Get("Access-Control-Allow-Credentials") != "true" ||
			!hasVary(r, "Origin") {
			t.Errorf("headers = %v", r.Header)
		}
	})
	t.Run("allowed origin on an error", func(t *testing.T) {
		r := s.do(t, "GET", "/api/v1/nope", nil, "Origin", "https://app.example.com")
		if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Errorf("a 404 to an allowed origin lacks Allow-Origin; the dashboard could not read it")
		}
	})
	t.Run("disallowed origin: processed, no Access-Control headers", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example", "https://app.example.com.evil", "null", "HTTPS://APP.EXAMPLE.COM"} {
			r := s.do(t, "GET", "/api/v1/health", nil, "Origin", origin)
			expectJSON(t, r, 200, `{"status":"ok"}`)
			if h := acHeaders(r); len(h) != 0 {
				t.Errorf("origin %q got %v", origin, h)
			}
		}
	})
	t.Run("preflight from an allowed origin", func(t *testing.T) {
		r := s.do(t, "OPTIONS", "/api/v1/telemetry", nil,
			"Origin", "https://app.example.com",
			"Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "content-type,authorization")
		if r.StatusCode != 204 || len(r.body) != 0 {
			t.Fatalf("preflight = %d with body %q, want 204 empty", r.StatusCode, r.body)
		}
		want := map[string]string{
			"Access-Control-Allow-Origin":      "https://app.example.com",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Methods":     "GET,HEAD,PUT,PATCH,POST,DELETE",
			"Access-Control-Allow-Headers":     "content-type,authorization",
		}
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if !hasVary(r, "Origin") || !hasVary(r, "Access-Control-Request-Headers") {
			t.Errorf("Vary = %q", r.Header.Values("Vary"))
		}
		if r.Header.Get("Access-Control-Allow-Origin") == "*" {
			t.Error("wildcard origin")
		}
	})
	t.Run("preflight from a disallowed origin", func(t *testing.T) {
		r := s.do(t, "OPTIONS", "/api/v1/telemetry", nil,
			"Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
		if r.StatusCode != 204 || len(r.body) != 0 {
			t.Fatalf("preflight = %d, want 204", r.StatusCode)
		}
		if h := acHeaders(r); len(h) != 0 {
			t.Errorf("disallowed preflight got %v", h)
		}
	})
	t.Run("OPTIONS without Access-Control-Request-Method is not a preflight", func(t *testing.T) {
		r := s.do(t, "OPTIONS", "/api/v1/health", nil, "Origin", "https://app.example.com")
		expectJSON(t, r, 405, `{"error":"Method not allowed"}`)
	})
	t.Run("no allowlist means no browser origin", func(t *testing.T) {
		api := New(Params{Logger: s.api.log})
		srv := &testServer{Server: newHTTPTestServer(t, api), api: api}
		r := srv.do(t, "GET", "/api/v1/health", nil, "Origin", "https://app.example.com")
		if h := acHeaders(r); len(h) != 0 {
			t.Errorf("got %v with an empty CORS_ALLOWED_ORIGINS", h)
		}
	})
}

func hasVary(r response, v string) bool {
	for _, line := range r.Header.Values("Vary") {
		for _, part := range strings.Split(line, ",") {
			if strings.EqualFold(strings.TrimSpace(part), v) {
				return true
			}
		}
	}
	return false
}

func TestRequestID(t *testing.T) {
	s := newTestServer(t)
	t.Run("a short printable incoming id is kept and echoed", func(t *testing.T) {
		r := s.do(t, "GET", "/api/v1/test/request-id", nil, "X-Request-Id", "abc-123_XYZ.9")
		if r.Header.Get("X-Request-Id") != "abc-123_XYZ.9" || r.json(t)["request_id"] != "abc-123_XYZ.9" {
			t.Errorf("header %q, context %v", r.Header.Get("X-Request-Id"), r.json(t)["request_id"])
		}
	})
	for name, bad := range map[string]string{
		"too long":    strings.Repeat("a", 129),
		"with spaces": "a b",
		"non-ASCII":   "réq",
		"tab":         "a\tb",
	} {
		t.Run(name+" is replaced", func(t *testing.T) {
			r := s.do(t, "GET", "/api/v1/test/request-id", nil, "X-Request-Id", bad)
			got := r.Header.Get("X-Request-Id")
			if got == bad || len(got) != 36 || r.json(t)["request_id"] != got {
				t.Errorf("got %q (context %v)", got, r.json(t)["request_id"])
			}
		})
	}
	t.Run("generated when absent, on errors too", func(t *testing.T) {
		a := s.do(t, "GET", "/api/v1/nope", nil).Header.Get("X-Request-Id")
		b := s.do(t, "GET", "/api/v1/nope", nil).Header.Get("X-Request-Id")
		if a == "" || b == "" || a == b {
			t.Errorf("ids %q, %q", a, b)
		}
	})
	t.Run("handler logs and the access log carry it", func(t *testing.T) {
		s.do(t, "GET", "/api/v1/test/request-id", nil, "X-Request-Id", "trace-me-42", "Authorization", "Bearer secret-jwt")
		var handlerLine, accessLine map[string]any
		for _, line := range strings.Split(s.logs.String(), "\n") {
			if !strings.Contains(line, "trace-me-42") {
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
			switch rec["msg"] {
			case "handler line":
				handlerLine = rec
			case "request":
				accessLine = rec
			}
		}
		if handlerLine == nil || accessLine == nil {
			t.Fatalf("missing log lines: %s", s.logs.String())
		}
		if accessLine["method"] != "GET" || accessLine["route"] != "/api/v1/test/request-id" ||
			accessLine["status"] != float64(200) || accessLine["bytes"] == nil || accessLine["duration_ms"] == nil {
			t.Errorf("access log line = %v", accessLine)
		}
		if strings.Contains(s.logs.String(), "secret-jwt") {
			t.Error("a credential reached the log")
		}
	})
}

func TestWriteJSON_DoesNotEscapeHTMLLikeJSONStringify(t *testing.T) {
	s := newTestServer(t)
	expectJSON(t, s.do(t, "GET", "/api/v1/test/html", nil), 200, `{"s":"<b>&</b>"}`)
}

func TestFormatTime(t *testing.T) {
	cases := map[time.Time]string{
		time.Date(2026, 11, 27, 5, 37, 50, 204_000_000, time.UTC):                              "2026-11-27T05:37:50.204Z",
		time.Date(2026, 11, 27, 5, 37, 50, 0, time.UTC):                                        "2026-11-27T05:37:50.000Z",
		time.Date(2026, 11, 27, 5, 37, 50, 999_999_999, time.UTC):                              "2026-11-27T05:37:50.999Z",
		time.Date(2026, 11, 27, 7, 0, 0, 120_000_000, time.FixedZone("CEST", 2*3600)):          "2026-11-27T05:00:00.120Z",
		time.Date(2027, 1, 1, 0, 30, 0, 0, time.FixedZone("minus", -(2*3600))).Add(-time.Hour): "2027-01-01T01:30:00.000Z",
	}
	for in, want := range cases {
		if got := FormatTime(in); got != want {
			t.Errorf("FormatTime(%v) = %q, want %q", in, got, want)
		}
	}
}

// A comma inside an unquoted flow-mapping description silently turns the rest of the
// sentence into a key with a null value; catch that whole class of YAML slips.
func TestOpenAPI_NoAccidentalKeys(t *testing.T) {
	var doc any
	if err := yaml.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, val := range v {
				if strings.Contains(k, " ") || val == nil {
					t.Errorf("suspicious key %q (value %v) at %s", k, val, path)
				}
				walk(path+"/"+k, val)
			}
		case []any:
			for _, item := range v {
				walk(path+"[]", item)
			}
		}
	}
	walk("", doc)
}
