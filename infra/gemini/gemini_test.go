package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devflow/backend/domain/insight"
)

const testKey = "AIza-test-secret-key-0123456789"

// fakeGemini speaks the generateContent REST shape of the Gemini API.
type fakeGemini struct {
	mu       sync.Mutex
	requests []recorded
	status   int
	body     string        // the whole response body (status != 200)
	text     string        // the model's text (status 200)
	delay    time.Duration // before answering
}

type recorded struct {
	path string
	key  string
	body map[string]any
}

func (f *fakeGemini) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	f.mu.Lock()
	f.requests = append(f.requests, recorded{path: r.URL.Path, key: r.Header.Get("x-goog-api-key"), body: body})
	status, text, errBody, delay := f.status, f.text, f.body, f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if status != 0 && status != http.StatusOK {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, errBody)
		return
	}
	resp := map[string]any{
		"candidates": []any{map[string]any{
			"content":      map[string]any{"role": "model", "parts": []any{map[string]any{"text": text}}},
			"finishReason": "STOP",
		}},
		"modelVersion": "gemini-2.5-flash",
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func (f *fakeGemini) calls() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

func newClient(t *testing.T, f *fakeGemini, timeout time.Duration) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(context.Background(), Config{APIKey: testKey, Model: "gemini-test", BaseURL: srv.URL, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testInput() insight.Input {
	now := time.Date(2026, 11, 27, 5, 37, 10, 0, time.UTC)
	return insight.NewInput(insight.RuleLongSessionHighChurn, insight.Facts{
		SessionStart: now.Add(-145 * time.Minute), Now: now,
		Today: insight.Today{LinesAdded: 220, LinesDeleted: 180, SwitchCount: 47, RapidSwitchCount: 12,
			TopFiles: []insight.FileCount{{Path: "src/authService.ts", Count: 19}, {Path: "src/app.ts", Count: 7}}},
	})
}

const goodReply = `{"state_type":"stuck_loop","confidence_score":0.74,"recommendation_type":"change_approach",
 "recommendation_text":"You've deleted 180 lines after adding 220 in authService.ts (churn 0.82) — diff your last commit and pick one direction before continuing.",
 "reasoning":"High churn over a long session concentrated in one file suggests rewriting without progress.",
 "evidence":[{"metric":"lines_deleted","value":180},{"metric":"lines_added","value":220},{"metric":"churn_ratio","value":0.82},{"metric":"top_file","value":"src/authService.ts"}]}`

func TestGenerate_GoodReplyIsValidatedAndPassesTheGuard(t *testing.T) {
	f := &fakeGemini{text: goodReply}
	c := newClient(t, f, time.Second)
	in := testInput()
	r, err := c.Generate(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if r.StateType != "stuck_loop" || r.ConfidenceScore != 0.74 || len(r.Evidence) != 4 || r.Evidence[3].Value.String() != "src/authService.ts" {
		t.Fatalf("reply %+v", r)
	}
	if err := insight.Guard(in, r); err != nil {
		t.Fatalf("good reply fails the guard: %v", err)
	}

	calls := f.calls()
	if len(calls) != 1 {
		t.Fatalf("%d requests", len(calls))
	}
	req := calls[0]
	if req.path != "/v1beta/models/gemini-test:generateContent" {
		t.Errorf("path %s", req.path)
	}
	if req.key != testKey {
		t.Errorf("API key header %q", req.key)
	}
	gen, _ := req.body["generationConfig"].(map[string]any)
	if gen["responseMimeType"] != "application/json" || gen["temperature"] != 0.4 {
		t.Errorf("generationConfig %v", gen)
	}
	schema, _ := json.Marshal(gen["responseJsonSchema"])
	if !strings.Contains(string(schema), `"anyOf":[{"type":"number"},{"type":"string"}]`) || !strings.Contains(string(schema), `"stuck_loop"`) {
		t.Errorf("response schema %s", schema)
	}
	sys, _ := json.Marshal(req.body["systemInstruction"])
	if !strings.Contains(string(sys), "workflow-wellness coach") {
		t.Errorf("system instruction %s", sys)
	}
	contents, _ := json.Marshal(req.body["contents"])
	wantInput, _ := json.Marshal(in.PrettyJSON())
	if !strings.Contains(string(contents), string(wantInput)) {
		t.Errorf("contents %s do not carry the pretty-printed input", contents)
	}
}

func TestGenerate_FailuresAreCallErrors(t *testing.T) {
	cases := []struct {
		name string
		f    *fakeGemini
		is   error
	}{
		{"not JSON", &fakeGemini{text: "Sure! You should take a break."}, ErrNotJSON},
		{"empty text", &fakeGemini{text: ""}, ErrEmptyReply},
		{"schema: unknown state", &fakeGemini{text: strings.Replace(goodReply, "stuck_loop", "bored", 1)}, ErrSchemaViolation},
		{"schema: extra field", &fakeGemini{text: strings.Replace(goodReply, `"reasoning"`, `"mood":"ok","reasoning"`, 1)}, ErrSchemaViolation},
		{"schema: missing evidence", &fakeGemini{text: `{"state_type":"normal","confidence_score":0.1,"recommendation_type":"execute","recommendation_text":"ok","reasoning":"ok"}`}, ErrSchemaViolation},
		{"schema: text over 240", &fakeGemini{text: `{"state_type":"normal","confidence_score":0.1,"recommendation_type":"execute","recommendation_text":"` + strings.Repeat("a", 241) + `","reasoning":"ok","evidence":[]}`}, ErrSchemaViolation},
		{"schema: confidence over 1", &fakeGemini{text: strings.Replace(goodReply, "0.74", "1.5", 1)}, ErrSchemaViolation},
		{"schema: value is a bool", &fakeGemini{text: strings.Replace(goodReply, `"value":180`, `"value":true`, 1)}, ErrSchemaViolation},
		{"HTTP 429", &fakeGemini{status: 429, body: `{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}`}, ErrCall},
		{"HTTP 500", &fakeGemini{status: 500, body: `{"error":{"code":500,"message":"internal","status":"INTERNAL"}}`}, ErrCall},
		{"HTTP 500, HTML body", &fakeGemini{status: 500, body: `<html>oops</html>`}, ErrCall},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, tc.f, 5*time.Second)
			_, err := c.Generate(context.Background(), testInput())
			if !errors.Is(err, ErrCall) || !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Fatal("error text contains the API key")
			}
			if n := len(tc.f.calls()); n != 1 {
				t.Fatalf("%d requests: the call must not be retried", n)
			}
		})
	}
}

func TestGenerate_SlowReplyTimesOut(t *testing.T) {
	f := &fakeGemini{text: goodReply, delay: time.Minute}
	c := newClient(t, f, 100*time.Millisecond)
	_, err := c.Generate(context.Background(), testInput())
	if !errors.Is(err, ErrCall) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func TestGenerate_DefaultTimeoutIs25s(t *testing.T) {
	c, err := New(context.Background(), Config{APIKey: testKey, BaseURL: "http://127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	if c.timeout != 25*time.Second || c.model != "gemini-2.5-flash" {
		t.Fatalf("timeout %v model %q", c.timeout, c.model)
	}
}

// Hallucinations are valid replies: the adapter returns them and the guard (run by the
// evaluation, which then downgrades) rejects them.
func TestGenerate_HallucinatedRepliesReachTheGuard(t *testing.T) {
	cases := map[string]string{
		"evidence not in input":       strings.Replace(goodReply, `{"metric":"lines_deleted","value":180}`, `{"metric":"lines_deleted","value":181}`, 1),
		"number in text not in input": strings.Replace(goodReply, "diff your last commit", "set a 10-minute timer", 1),
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, &fakeGemini{text: text}, time.Second)
			in := testInput()
			r, err := c.Generate(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if err := insight.Guard(in, r); !errors.Is(err, insight.ErrHallucination) {
				t.Fatalf("guard = %v, want ErrHallucination", err)
			}
		})
	}
}

func TestNew_HonoursGOOGLE_GEMINI_BASE_URLLikeTheSDK(t *testing.T) {
	f := &fakeGemini{text: goodReply}
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv("GOOGLE_GEMINI_BASE_URL", srv.URL)
	c, err := New(context.Background(), Config{APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Generate(context.Background(), testInput()); err != nil {
		t.Fatal(err)
	}
	if len(f.calls()) != 1 {
		t.Fatal("the SDK did not use GOOGLE_GEMINI_BASE_URL")
	}
}

func TestNew_NeedsAKey(t *testing.T) {
	if _, err := New(context.Background(), Config{}); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseReply_RulesProviderOutputAlwaysMatchesTheSchema(t *testing.T) {
	in := testInput()
	long := insight.FileCount{Path: "src/" + strings.Repeat("x", 300) + ".ts", Count: 3}
	for _, rule := range []string{insight.RuleVeryLongSession, insight.RuleLongSessionHighChurn, insight.RuleRapidContextSwitching, insight.RuleDeleteHeavyRewriting} {
		for _, files := range [][]insight.FileCount{in.TopFiles, nil, {long}} {
			in := in
			in.TriggeredRule, in.TopFiles, in.TopFile = rule, files, nil
			if len(files) > 0 {
				in.TopFile = &files[0].Path
			}
			raw, _ := json.Marshal(insight.RulesReply(in, insight.DefaultThresholds()))
			if _, err := ParseReply(string(raw)); err != nil {
				t.Errorf("%s: %v\n%s", rule, err, raw)
			}
		}
	}
}
