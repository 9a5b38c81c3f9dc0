package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// paddedJSON returns a JSON object of exactly n bytes.
func paddedJSON(n int) string {
	const head, tail = `{"name":"`, `"}`
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

func TestBodyLimit_1MiBByDefault(t *testing.T) {
	s := newTestServer(t)
	atLimit := paddedJSON(1 << 20)
	r := s.do(t, "POST", "/api/v1/test/decode", jsonBody(atLimit), "Content-Type", "application/json")
	if r.StatusCode != 200 {
		t.Fatalf("body of exactly 1 MiB = %d %s, want 200", r.StatusCode, r.body[:min(len(r.body), 200)])
	}
	r = s.do(t, "POST", "/api/v1/test/decode", jsonBody(paddedJSON(1<<20+1)), "Content-Type", "application/json")
	expectJSON(t, r, 413, `{"error":"Payload too large","message":"request body exceeds 1048576 bytes"}`)
}

func TestBodyLimit_ExplicitLimitAlsoWithoutContentLength(t *testing.T) {
	s := newTestServer(t)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			send := func(n int) response {
				var body io.Reader = strings.NewReader(paddedJSON(n))
				if chunked {
					// An io.Reader of unknown size makes the client send chunked, so only the
					// streaming check can catch it.
					body = io.MultiReader(body)
				}
				return s.do(t, "POST", "/api/v1/test/small", body, "Content-Type", "application/json")
			}
			expectJSON(t, send(100), 200, `{"len":100}`)
			expectJSON(t, send(101), 413, `{"error":"Payload too large","message":"request body exceeds 100 bytes"}`)
		})
	}
}

func TestContentTypeRule(t *testing.T) {
	s := newTestServer(t)
	cases := []struct {
		name, ct, body string
		want           string
	}{
		{"application/json", "application/json", `{"a":1}`, `{"body":"{\"a\":1}","len":7}`},
		{"with charset", "application/json; charset=utf-8", `{"a":1}`, `{"body":"{\"a\":1}","len":7}`},
		{"any case", "Application/JSON", `{"a":1}`, `{"body":"{\"a\":1}","len":7}`},
		{"+json suffix", "application/vnd.api+json", `{"a":1}`, `{"body":"{\"a\":1}","len":7}`},
		{"text/plain is ignored", "text/plain", `{"a":1}`, `{"body":"{}","len":2}`},
		{"form is ignored", "application/x-www-form-urlencoded", `a=1`, `{"body":"{}","len":2}`},
		{"no Content-Type is ignored", "", `{"a":1}`, `{"body":"{}","len":2}`},
		{"ignored bodies are not even syntax-checked", "text/plain", `{not json`, `{"body":"{}","len":2}`},
		{"empty JSON body is {}", "application/json", ``, `{"body":"{}","len":2}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", s.URL+"/api/v1/test/raw", strings.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(b) != tc.want {
				t.Errorf("= %d %s, want 200 %s", resp.StatusCode, b, tc.want)
			}
		})
	}
	t.Run("an ignored oversized body is not a 413", func(t *testing.T) {
		r := s.do(t, "POST", "/api/v1/test/small", bytes.NewReader(make([]byte, 1000)), "Content-Type", "application/octet-stream")
		expectJSON(t, r, 200, `{"len":2}`)
	})
}

func TestReadJSON(t *testing.T) {
	s := newTestServer(t)
	const malformed = `{"error":"Validation failed","message":"malformed JSON"}`
	encoding := func(path string) string {
		return `{"error":"Validation failed","message":"Request body does not match required schema","details":[{"instancePath":"` + path +
			`","schemaPath":"#","keyword":"encoding","params":{},"message":"must be valid Unicode text without NUL characters"}]}`
	}
	cases := []struct {
		name, body string
		status     int
		want       string
	}{
		{"object", `{"name":"n","count":2}`, 200, `{"count":2,"name":"n"}`},
		{"empty body", ``, 200, `{}`},
		{"null", `null`, 200, `null`},
		{"malformed", `{"name":"n",}`, 400, malformed},
		{"two documents", `{}{}`, 400, malformed},
		{"not UTF-8", "{\"name\":\"a\xffb\"}", 400, malformed},
		{"surrogate encoded as UTF-8", "{\"name\":\"\xed\xa0\x80\"}", 400, malformed},
		{"lone surrogate escape, decoded as U+FFFD", `{"name":"\ud800"}`, 200, "{\"name\":\"\ufffd\"}"},
		{"NUL in a value", `{"name":"a\u0000b"}`, 400, encoding("/name")},
		{"NUL deep inside", `{"a":[1,{"b/c":"\u0000"}]}`, 400, encoding("/a/1/b~1c")},
		{"NUL in a member name", `{"a":{"x\u0000":1}}`, 400, encoding("/a")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, "POST", "/api/v1/test/decode", jsonBody(tc.body), "Content-Type", "application/json")
			expectJSON(t, r, tc.status, tc.want)
		})
	}
}

func TestValidateBody(t *testing.T) {
	s := newTestServer(t)
	post := func(schema, body string, headers ...string) response {
		if len(headers) == 0 {
			headers = []string{"Content-Type", "application/json"}
		}
		return s.do(t, "POST", "/api/v1/test/validate/"+schema, jsonBody(body), headers...)
	}
	expectJSON(t, post("register", `{"email":"Alice@Example.com","password":"correct-horse-battery","n":240.0}`), 200,
		`{"email":"Alice@Example.com","n":240.0,"password":"correct-horse-battery"}`)
	expectJSON(t, post("register", `{}`), 400,
		`{"error":"Validation failed","message":"Request body does not match required schema","details":[`+
			`{"instancePath":"","schemaPath":"#/required","keyword":"required","params":{"missingProperty":"email"},"message":"must have required property 'email'"},`+
			`{"instancePath":"","schemaPath":"#/required","keyword":"required","params":{"missingProperty":"password"},"message":"must have required property 'password'"}]}`)
	// A body that is not JSON by Content-Type counts as {} and so fails the schema.
	r := post("login", `{"email":"a@b.co","password":"x"}`, "Content-Type", "text/plain")
	if r.StatusCode != 400 || !strings.Contains(string(r.body), "must have required property 'email'") {
		t.Errorf("text/plain login = %d %s", r.StatusCode, r.body)
	}
	expectJSON(t, post("createToken", `{"name":"`), 400, `{"error":"Validation failed","message":"malformed JSON"}`)
	expectJSON(t, post("createToken", paddedJSON(1<<20+1)), 413, `{"error":"Payload too large","message":"request body exceeds 1048576 bytes"}`)
}
