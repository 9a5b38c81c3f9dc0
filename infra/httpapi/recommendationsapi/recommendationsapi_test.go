package recommendationsapi_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cmdinsights "github.com/devflow/backend/commands/insights"
	"github.com/devflow/backend/domain/insight"
	"github.com/devflow/backend/infra/httpapi/telemetryapi/telemetryapitest"
	"github.com/devflow/backend/infra/insights/insightstest"
	"github.com/devflow/backend/infra/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

type resp = telemetryapitest.Response

func want(t *testing.T, r resp, status int, body string) {
	t.Helper()
	if r.Status != status || string(r.Body) != body {
		t.Fatalf("got %s, want %d %s", r, status, body)
	}
}

func decode(t *testing.T, r resp, status int) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("got %s, want %d", r, status)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s: %v", r.Body, err)
	}
	return m
}

var longSession = insightstest.Work{Minutes: 40, Added: 3, Deleted: 1, Switches: 2}

func TestRecommendationFlow_TriggerPendingActionHistory(t *testing.T) {
	e := insightstest.New(t, insightstest.Options{})
	u := e.NewUser()
	want(t, e.Do("GET", "/recommendations/pending", u.Token, nil), 200, `{"recommendation":null}`)
	want(t, e.Do("GET", "/recommendations", u.JWT, nil), 200, `{"recommendations":[]}`)
	want(t, e.Do("POST", "/recommendations/trigger", u.Token, nil), 200, `{"skipped":true,"reason":"no_session"}`)

	e.Send(u, longSession)
	out := decode(t, e.Do("POST", "/recommendations/trigger", u.Token, nil), 200)
	id, _ := out["recommendation_id"].(string)
	if out["skipped"] != false || out["rule"] != "very_long_session" || out["state_type"] != "analysis_paralysis" || len(id) != 36 || id != strings.ToLower(id) {
		t.Fatalf("trigger %v", out)
	}

	// Pending at once, in the 3.19 shape.
	p := decode(t, e.Do("GET", "/recommendations/pending", u.Token, nil), 200)
	rec := p["recommendation"].(map[string]any)
	keys := make([]string, 0, len(rec))
	for k := range rec {
		keys = append(keys, k)
	}
	wantKeys := []string{"id", "state_type", "confidence_score", "recommendation_type", "recommendation_text", "reasoning", "evidence", "triggered_rule", "source", "user_action", "created_at"}
	if len(keys) != len(wantKeys) {
		t.Fatalf("fields %v", keys)
	}
	for _, k := range wantKeys {
		if _, ok := rec[k]; !ok {
			t.Fatalf("missing %s in %v", k, rec)
		}
	}
	if rec["id"] != id || rec["source"] != "rules" || rec["triggered_rule"] != "very_long_session" || rec["user_action"] != nil ||
		rec["confidence_score"] != 0.6 || !strings.HasPrefix(rec["recommendation_text"].(string), "This session has run 40 minutes") {
		t.Fatalf("pending %v", rec)
	}
	if ev := rec["evidence"].([]any); len(ev) != 1 || !reflect.DeepEqual(ev[0], map[string]any{"metric": "duration_minutes", "value": 40.0}) {
		t.Fatalf("evidence %v", rec["evidence"])
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", rec["created_at"].(string)); err != nil || len(rec["created_at"].(string)) != 24 {
		t.Fatalf("created_at %v", rec["created_at"])
	}

	// Cooldown, then snooze (the id in upper case is accepted).
	want(t, e.Do("POST", "/recommendations/trigger", u.Token, []byte(`{"mode":"real"}`)), 200, `{"skipped":true,"reason":"cooldown"}`)
	want(t, e.Do("POST", "/recommendations/"+strings.ToUpper(id)+"/action", u.JWT, []byte(`{"action":"snoozed"}`)), 200,
		`{"id":"`+id+`","user_action":"snoozed"}`)
	want(t, e.Do("GET", "/recommendations/pending", u.Token, nil), 200, `{"recommendation":null}`)
	want(t, e.Do("POST", "/recommendations/"+id+"/action", u.Token, []byte(`{"action":"accepted"}`)), 409, `{"error":"Recommendation already acted on"}`)
	want(t, e.Do("POST", "/recommendations/trigger", u.Token, []byte(`{}`)), 200, `{"skipped":true,"reason":"cooldown"}`)

	// force bypasses the snooze and makes a new pending one.
	forced := decode(t, e.Do("POST", "/recommendations/trigger", u.Token, []byte(`{"mode":"force"}`)), 200)
	if forced["skipped"] != false || forced["recommendation_id"] == id {
		t.Fatalf("force %v", forced)
	}
	list := decode(t, e.Do("GET", "/recommendations?limit=10", u.JWT, nil), 200)["recommendations"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["id"] != forced["recommendation_id"] || list[0].(map[string]any)["user_action"] != nil ||
		list[1].(map[string]any)["id"] != id || list[1].(map[string]any)["user_action"] != "snoozed" {
		t.Fatalf("history %v", list)
	}
}

func TestTrigger_ModesAndBodies(t *testing.T) {
	e := insightstest.New(t, insightstest.Options{Provider: cmdinsights.ProviderOff})
	u := e.NewUser()
	offSkip := `{"skipped":true,"reason":"provider_off"}`
	for _, body := range []string{"", "{}", "null", `{"mode":null}`, `{"mode":"real","extra":1}`, `{"mode":"force"}`} {
		var b []byte
		if body != "" {
			b = []byte(body)
		}
		want(t, e.Do("POST", "/recommendations/trigger", u.Token, b), 200, offSkip)
	}
	bad := `{"error":"Validation failed","message":"mode must be one of real, force, demo"}`
	for _, body := range []string{`{"mode":"bogus"}`, `{"mode":"REAL"}`, `{"mode":5}`, `{"mode":true}`, `[]`, `"real"`, `3`} {
		want(t, e.Do("POST", "/recommendations/trigger", u.Token, []byte(body)), 400, bad)
	}
	want(t, e.Do("POST", "/recommendations/trigger", u.Token, []byte(`{"mode":`)), 400, `{"error":"Validation failed","message":"malformed JSON"}`)
	want(t, e.Do("POST", "/recommendations/trigger", "", nil), 401, `{"error":"Unauthorized"}`)

	// demo works with the provider off, but needs a session.
	want(t, e.Do("POST", "/recommendations/trigger", u.Token, []byte(`{"mode":"demo"}`)), 409, `{"error":"No session","skipped":true,"reason":"no_session"}`)
	e.Send(u, insightstest.Work{Minutes: 1, Added: 1})
	demo := decode(t, e.Do("POST", "/recommendations/trigger", u.JWT, []byte(`{"mode":"demo"}`)), 200)
	id := demo["recommendation_id"].(string)
	if len(demo) != 3 || demo["skipped"] != false || demo["mode"] != "demo" {
		t.Fatalf("demo %v", demo)
	}
	p := e.Do("GET", "/recommendations/pending", u.Token, nil)
	var got struct {
		Recommendation map[string]json.RawMessage `json:"recommendation"`
	}
	_ = json.Unmarshal(p.Body, &got)
	wantFields := map[string]string{
		"id": `"` + id + `"`, "state_type": `"demo"`, "confidence_score": `1`, "recommendation_type": `"execute"`,
		"recommendation_text": `"You've been heads-down for a while. Consider stepping away for 5 minutes — your next bug is probably hiding behind a clear head."`,
		"reasoning":           `"Manually triggered demo recommendation; no Gemini call was made."`,
		"evidence":            `[{"metric":"duration_minutes","value":145},{"metric":"lines_added","value":220},{"metric":"lines_deleted","value":180},{"metric":"churn_ratio","value":0.82}]`,
		"triggered_rule":      `"demo_trigger"`, "source": `"demo"`, "user_action": `null`,
	}
	for k, v := range wantFields {
		if string(got.Recommendation[k]) != v {
			t.Errorf("demo %s = %s, want %s", k, got.Recommendation[k], v)
		}
	}
	// A second demo expires the first: still one pending.
	second := decode(t, e.Do("POST", "/recommendations/trigger", u.Token, []byte(`{"mode":"demo"}`)), 200)["recommendation_id"]
	list := decode(t, e.Do("GET", "/recommendations", u.Token, nil), 200)["recommendations"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["id"] != second || list[1].(map[string]any)["user_action"] != "expired" {
		t.Fatalf("history %v", list)
	}
}

func TestList_LimitParsing(t *testing.T) {
	e := insightstest.New(t, insightstest.Options{Provider: cmdinsights.ProviderOff})
	u := e.NewUser()
	e.Send(u, insightstest.Work{Minutes: 1, Added: 1})
	for range 3 {
		decode(t, e.Do("POST", "/recommendations/trigger", u.Token, []byte(`{"mode":"demo"}`)), 200)
	}
	bad := `{"error":"Validation failed","message":"limit must be a positive integer"}`
	for _, q := range []string{"0", "abc", "2.5", "", "-1", "%2B1", "%201", "1e2", "0x10", "1%00"} {
		want(t, e.Do("GET", "/recommendations?limit="+q, u.Token, nil), 400, bad)
	}
	for q, n := range map[string]int{"1": 1, "2": 2, "007": 3, "100": 3, "101": 3, "99999999999999999999999999": 3} {
		if got := len(decode(t, e.Do("GET", "/recommendations?limit="+q, u.Token, nil), 200)["recommendations"].([]any)); got != n {
			t.Errorf("limit=%s: %d items, want %d", q, got, n)
		}
	}
	if got := len(decode(t, e.Do("GET", "/recommendations", u.Token, nil), 200)["recommendations"].([]any)); got != 3 {
		t.Errorf("default limit: %d items", got)
	}
}

func TestAction_CheckOrderAndOwnership(t *testing.T) {
	e := insightstest.New(t, insightstest.Options{Provider: cmdinsights.ProviderOff})
	a, b := e.NewUser(), e.NewUser()
	e.Send(a, insightstest.Work{Minutes: 1, Added: 1})
	id := decode(t, e.Do("POST", "/recommendations/trigger", a.Token, []byte(`{"mode":"demo"}`)), 200)["recommendation_id"].(string)

	badAction := `{"error":"Validation failed","message":"action must be one of accepted, dismissed, snoozed"}`
	notFound := `{"error":"Recommendation not found"}`
	cases := []struct {
		who    string
		path   string
		body   string
		status int
		want   string
	}{
		{b.Token, "/recommendations/abc/action", `{"action":"maybe"}`, 400, badAction}, // 1 before 2
		{b.Token, "/recommendations/" + id + "/action", `{}`, 400, badAction},
		{b.Token, "/recommendations/" + id + "/action", `[]`, 400, badAction},
		{b.Token, "/recommendations/" + id + "/action", `{"action":"expired"}`, 400, badAction},
		{b.Token, "/recommendations/abc/action", `{"action":"accepted"}`, 404, notFound},
		{b.Token, "/recommendations/urn:uuid:" + id + "/action", `{"action":"accepted"}`, 404, notFound},
		{b.Token, "/recommendations/6f1c2a9e-8d4b-4a51-9a57-3f0c1e2d4b6a/action", `{"action":"accepted"}`, 404, notFound},
		{b.Token, "/recommendations/" + id + "/action", `{"action":"accepted"}`, 403, `{"error":"Forbidden"}`},
		{b.JWT, "/recommendations/" + id + "/action", `{"action":"dismissed"}`, 403, `{"error":"Forbidden"}`},
	}
	for _, c := range cases {
		want(t, e.Do("POST", c.path, c.who, []byte(c.body)), c.status, c.want)
	}
	// B sees none of A's recommendations.
	want(t, e.Do("GET", "/recommendations/pending", b.Token, nil), 200, `{"recommendation":null}`)
	want(t, e.Do("GET", "/recommendations", b.JWT, nil), 200, `{"recommendations":[]}`)
	want(t, e.Do("POST", "/recommendations/"+id+"/action", "", []byte(`{"action":"accepted"}`)), 401, `{"error":"Unauthorized"}`)

	want(t, e.Do("POST", "/recommendations/"+id+"/action", a.Token, []byte(`{"action":"accepted"}`)), 200, `{"id":"`+id+`","user_action":"accepted"}`)
	want(t, e.Do("POST", "/recommendations/"+id+"/action", b.Token, []byte(`{"action":"accepted"}`)), 403, `{"error":"Forbidden"}`)
	want(t, e.Do("POST", "/recommendations/"+id+"/action", a.Token, []byte(`{"action":"accepted"}`)), 409, `{"error":"Recommendation already acted on"}`)
	list := decode(t, e.Do("GET", "/recommendations", a.Token, nil), 200)["recommendations"].([]any)
	if list[0].(map[string]any)["user_action"] != "accepted" {
		t.Fatalf("history %v", list)
	}
}

func TestAction_ConcurrentActionsOneWins(t *testing.T) {
	e := insightstest.New(t, insightstest.Options{Provider: cmdinsights.ProviderOff})
	u := e.NewUser()
	e.Send(u, insightstest.Work{Minutes: 1, Added: 1})
	id := decode(t, e.Do("POST", "/recommendations/trigger", u.Token, []byte(`{"mode":"demo"}`)), 200)["recommendation_id"].(string)
	var wg sync.WaitGroup
	statuses := make(chan int, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			action := []string{"accepted", "dismissed", "snoozed"}[i%3]
			statuses <- e.Do("POST", "/recommendations/"+id+"/action", u.Token, []byte(`{"action":"`+action+`"}`)).Status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[200] != 1 || count[409] != 7 {
		t.Fatalf("statuses %v", count)
	}
}

// goodReply cites the input's own numbers.
func goodReply(in insight.Input) insightstest.Answer {
	return insightstest.Answer{Text: insightstest.ReplyJSON(insight.Reply{
		StateType: "analysis_paralysis", ConfidenceScore: 0.777, RecommendationType: "change_approach",
		RecommendationText: fmt.Sprintf("After %d minutes, write down your next step before you continue.", in.Session.DurationMinutes),
		Reasoning:          "Long session.",
		Evidence:           []insight.Evidence{{Metric: "duration_minutes", Value: insight.Number(float64(in.Session.DurationMinutes))}},
	})}
}

func TestTrigger_GeminiOutcomes(t *testing.T) {
	fake := insightstest.NewFakeGemini(t, goodReply)
	e := insightstest.New(t, insightstest.Options{Gemini: fake, GeminiTimeout: 300 * time.Millisecond})
	u := e.NewUser()
	e.Send(u, longSession)

	out := decode(t, e.Do("POST", "/recommendations/trigger", u.Token, nil), 200)
	if out["skipped"] != false || out["state_type"] != "analysis_paralysis" || out["recommendation_id"] == nil {
		t.Fatalf("good reply: %v", out)
	}
	rec := decode(t, e.Do("GET", "/recommendations/pending", u.Token, nil), 200)["recommendation"].(map[string]any)
	if rec["source"] != "gemini" || rec["confidence_score"] != 0.78 || rec["reasoning"] != "Long session." || rec["triggered_rule"] != "very_long_session" {
		t.Fatalf("gemini recommendation %v", rec)
	}
	if in := fake.Inputs(); len(in) != 1 || in[0].TriggeredRule != "very_long_session" || in[0].Session.DurationMinutes != 40 ||
		in[0].Today.LinesAdded != 3 || in[0].Today.LinesDeleted != 1 || *in[0].TopFile != "src/app.ts" {
		t.Fatalf("provider input %+v", fake.Inputs())
	}

	failures := map[string]func(insight.Input) insightstest.Answer{
		"not JSON": func(insight.Input) insightstest.Answer { return insightstest.Answer{Text: "Take a break!"} },
		"empty":    func(insight.Input) insightstest.Answer { return insightstest.Answer{Text: ""} },
		"schema":   func(insight.Input) insightstest.Answer { return insightstest.Answer{Text: `{"state_type":"bored"}`} },
		"HTTP 429": func(insight.Input) insightstest.Answer {
			return insightstest.Answer{Status: 429, Body: `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`}
		},
		"HTTP 500": func(insight.Input) insightstest.Answer {
			return insightstest.Answer{Status: 500, Body: `{"error":{"code":500,"message":"boom","status":"INTERNAL"}}`}
		},
		"past the timeout": func(in insight.Input) insightstest.Answer { a := goodReply(in); a.Delay = time.Minute; return a },
	}
	for name, reply := range failures {
		t.Run(name, func(t *testing.T) {
			fake.SetReply(reply)
			want(t, e.Do("POST", "/recommendations/trigger", u.Token, []byte(`{"mode":"force"}`)), 200, `{"skipped":true,"reason":"llm_failed"}`)
		})
	}

	// Hallucinations are downgraded to normal: no recommendation, nothing pending.
	hallucinations := map[string]func(insight.Input) insightstest.Answer{
		"evidence not in input": func(in insight.Input) insightstest.Answer {
			a := goodReply(in)
			a.Text = strings.Replace(a.Text, fmt.Sprintf(`"value":%d`, in.Session.DurationMinutes), `"value":999`, 1)
			return a
		},
		"number in text not in input": func(in insight.Input) insightstest.Answer {
			a := goodReply(in)
			a.Text = strings.Replace(a.Text, "write down", "set a 17-minute timer and write down", 1)
			return a
		},
	}
	for name, reply := range hallucinations {
		t.Run(name, func(t *testing.T) {
			fake.SetReply(reply)
			want(t, e.Do("POST", "/recommendations/trigger", u.Token, []byte(`{"mode":"force"}`)), 200,
				`{"skipped":false,"rule":"very_long_session","state_type":"normal","recommendation_id":null}`)
			want(t, e.Do("GET", "/recommendations/pending", u.Token, nil), 200, `{"recommendation":null}`)
		})
	}
}

// deleteHeavy is a short session whose only firing rule comes from today's metrics
// (delete_heavy_rewriting): a trigger finds it only with both the sessions and the
// metrics read models up to date.
var deleteHeavy = insightstest.Work{Minutes: 5, Added: 1, Deleted: 6}

func TestTrigger_WaitsForHeldBackSessionsAndMetrics(t *testing.T) {
	e := insightstest.New(t, insightstest.Options{})
	for _, mode := range []string{"real", "force", "demo"} {
		t.Run(mode, func(t *testing.T) {
			u := e.NewUser()
			release := e.HoldTelemetryProjections()
			e.Post(u, deleteHeavy)
			if n := e.Count(`SELECT count(*) FROM sessions WHERE owner = $1`, u.ID); n != 0 {
				t.Fatalf("%d sessions projected while held", n)
			}
			answer := make(chan resp, 1)
			go func() {
				answer <- e.Do("POST", "/recommendations/trigger", u.Token, []byte(`{"mode":"`+mode+`"}`))
			}()
			time.Sleep(300 * time.Millisecond)
			select {
			case r := <-answer:
				t.Fatalf("answered while the sessions and metrics projections were held: %s", r)
			default:
			}
			release()
			out := decode(t, <-answer, 200)
			if mode == "demo" {
				if out["skipped"] != false || out["mode"] != "demo" || out["recommendation_id"] == nil {
					t.Fatalf("demo %v", out)
				}
				return
			}
			if out["skipped"] != false || out["rule"] != insight.RuleDeleteHeavyRewriting || out["recommendation_id"] == nil {
				t.Fatalf("%s: %v", mode, out)
			}
		})
	}
}

func TestTrigger_StalledReadModelAnswers503(t *testing.T) {
	e := insightstest.New(t, insightstest.Options{CatchUpLimit: 200 * time.Millisecond})
	u := e.NewUser()
	e.Send(u, longSession)
	demo := decode(t, e.Do("POST", "/recommendations/trigger", u.Token, []byte(`{"mode":"demo"}`)), 200)["recommendation_id"]

	release := e.HoldTelemetryProjections()
	e.Post(u, longSession)
	for _, mode := range []string{"real", "force", "demo"} {
		r := e.Do("POST", "/recommendations/trigger", u.Token, []byte(`{"mode":"`+mode+`"}`))
		want(t, r, 503, `{"error":"Projection catch-up timed out"}`)
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
			t.Fatalf("%s: Retry-After %q", mode, r.Header.Get("Retry-After"))
		}
	}
	// Nothing was decided: force expired nothing and demo created nothing.
	list := decode(t, e.Do("GET", "/recommendations", u.Token, nil), 200)["recommendations"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != demo || list[0].(map[string]any)["user_action"] != nil {
		t.Fatalf("history %v", list)
	}

	// Caught up again, the same request evaluates.
	release()
	e.CatchUpAll()
	out := decode(t, e.Do("POST", "/recommendations/trigger", u.Token, []byte(`{"mode":"force"}`)), 200)
	if out["skipped"] != false || out["rule"] != insight.RuleVeryLongSession || out["recommendation_id"] == demo {
		t.Fatalf("force after the catch-up: %v", out)
	}
}
