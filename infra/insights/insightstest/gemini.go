package insightstest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devflow/backend/domain/insight"
)

// FakeGemini is a local HTTP server speaking the Gemini generateContent REST shape, for
// the real genai SDK to call. Reply decides each answer from the provider input the
// request carries.
type FakeGemini struct {
	URL string

	mu     sync.Mutex
	inputs []insight.Input
	reply  func(in insight.Input) Answer
}

// Answer is one response of the fake: a model text (Status 0 or 200), or an HTTP error
// status with Body; Delay holds the answer back (until the client gives up).
type Answer struct {
	Text   string
	Status int
	Body   string
	Delay  time.Duration
}

// NewFakeGemini starts the fake; it answers with reply.
func NewFakeGemini(t testing.TB, reply func(in insight.Input) Answer) *FakeGemini {
	t.Helper()
	f := &FakeGemini{reply: reply}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// SetReply changes the answers.
func (f *FakeGemini) SetReply(reply func(in insight.Input) Answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reply = reply
}

// Inputs are the provider inputs of every request so far.
func (f *FakeGemini) Inputs() []insight.Input {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]insight.Input(nil), f.inputs...)
}

// wireInput is the provider input as the prompt carries it (started_at as text).
type wireInput struct {
	TriggeredRule string `json:"triggered_rule"`
	Session       struct {
		StartedAt       string `json:"started_at"`
		DurationMinutes int64  `json:"duration_minutes"`
	} `json:"session"`
	Today    insight.TodayInput  `json:"today"`
	TopFile  *string             `json:"top_file"`
	TopFiles []insight.FileCount `json:"top_files"`
}

func (f *FakeGemini) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, ":generateContent") {
		http.Error(w, `{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}`, http.StatusNotFound)
		return
	}
	var req struct {
		Contents []struct {
			Parts []struct {
				Text string `json:"text"`
			} `json:"parts"`
		} `json:"contents"`
	}
	raw, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(raw, &req)
	var in insight.Input
	if len(req.Contents) > 0 && len(req.Contents[0].Parts) > 0 {
		var wi wireInput
		_ = json.Unmarshal([]byte(req.Contents[0].Parts[0].Text), &wi)
		started, _ := time.Parse("2006-01-02T15:04:05.000Z", wi.Session.StartedAt)
		in = insight.Input{TriggeredRule: wi.TriggeredRule, Session: insight.SessionInput{StartedAt: started, DurationMinutes: wi.Session.DurationMinutes},
			Today: wi.Today, TopFile: wi.TopFile, TopFiles: wi.TopFiles}
	}
	f.mu.Lock()
	f.inputs = append(f.inputs, in)
	reply := f.reply
	f.mu.Unlock()

	a := reply(in)
	if a.Delay > 0 {
		select {
		case <-time.After(a.Delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if a.Status != 0 && a.Status != http.StatusOK {
		w.WriteHeader(a.Status)
		_, _ = io.WriteString(w, a.Body)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"candidates": []any{map[string]any{
			"content":      map[string]any{"role": "model", "parts": []any{map[string]any{"text": a.Text}}},
			"finishReason": "STOP",
		}},
	})
}

// ReplyJSON marshals a reply as the model's text.
func ReplyJSON(r insight.Reply) string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return string(b)
}
