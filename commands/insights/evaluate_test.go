package insights_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/devflow/backend/commands/insights"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/insight"
	"github.com/devflow/backend/domain/recommendation"
)

// llmFunc is an LLM port answered by a function (the Gemini adapter itself is tested
// against a local Gemini endpoint in infra/gemini and end to end in infra/insights).
type llmFunc func(insight.Input) (insight.Reply, error)

func (f llmFunc) Generate(_ context.Context, in insight.Input) (insight.Reply, error) { return f(in) }

var failingLLM = llmFunc(func(insight.Input) (insight.Reply, error) { return insight.Reply{}, errors.New("HTTP 500") })

func TestEvaluate_GatesStopInContractOrder(t *testing.T) {
	user := ids.New()
	cases := []struct {
		name     string
		provider insights.Provider
		llm      insights.LLM
		// what the user has: a recent pending recommendation (cooldown), a session, a
		// firing rule
		recent, session, fires bool
		want                   string
	}{
		{"provider off comes first", insights.ProviderOff, nil, true, false, false, insights.ReasonProviderOff},
		{"gemini without key comes next", insights.ProviderGeminiNotConfigured, nil, true, false, false, insights.ReasonGeminiNotConfigured},
		{"cooldown before session", insights.ProviderRules, nil, true, false, false, insights.ReasonCooldown},
		{"session before rules", insights.ProviderRules, nil, false, false, false, insights.ReasonNoSession},
		{"rules before the provider call", insights.ProviderGemini, failingLLM, false, true, false, insights.ReasonNoRuleFired},
		{"provider call fails", insights.ProviderGemini, failingLLM, false, true, true, insights.ReasonLLMFailed},
		{"nothing stops", insights.ProviderRules, nil, false, true, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.provider, c.llm)
			if c.recent {
				e.longSession(user)
				if _, err := e.eval.Demo(context.Background(), user); err != nil {
					t.Fatal(err)
				}
			}
			e.act.clear(user)
			if c.session {
				start := t0.Add(-5 * time.Minute)
				if c.fires {
					start = t0.Add(-31 * time.Minute)
				}
				e.act.set(user, start, insight.Today{})
			}
			out := e.evaluate(t, user, insights.ModeReal)
			if c.want == "" {
				if out.Skipped || out.Rule != insight.RuleVeryLongSession || out.RecommendationID == nil {
					t.Fatalf("outcome %+v, want an evaluation", out)
				}
				return
			}
			if !out.Skipped || out.Reason != c.want {
				t.Fatalf("outcome %+v, want skip %q", out, c.want)
			}
		})
	}
}

func TestEvaluate_RulesProviderCreatesAVisiblePendingRecommendation(t *testing.T) {
	e := newEnv(t, insights.ProviderRules, nil)
	user := ids.New()
	e.act.set(user, t0.Add(-145*time.Minute+10*time.Second), insight.Today{LinesAdded: 220, LinesDeleted: 180, SwitchCount: 47, RapidSwitchCount: 12,
		TopFiles: []insight.FileCount{{Path: "src/authService.ts", Count: 19}}})
	e.eval = e.evaluator(insights.ProviderRules, nil, insight.Thresholds{VeryLongSessionMin: 240, LongSessionMin: 120, HighChurnRatio: 0.4, RapidSwitchCount: 30, DeleteHeavyTotal: 50})

	out := e.evaluate(t, user, insights.ModeReal)
	if out.Skipped || out.Rule != insight.RuleLongSessionHighChurn || out.StateType != insight.StateStuckLoop || out.RecommendationID == nil {
		t.Fatalf("outcome %+v", out)
	}
	// Visible at once (read-your-writes), with every field of the 3.19 example.
	p := e.pending(t, user)
	if p == nil || p.ID != *out.RecommendationID {
		t.Fatalf("pending %+v", p)
	}
	ev, _ := json.Marshal(p.Evidence)
	if p.Source != "rules" || p.ConfidenceScore != 0.6 || p.RecommendationType != "change_approach" || *p.TriggeredRule != "long_session_high_churn" ||
		p.RecommendationText != "145 minutes into this session you have deleted 180 of the 220 lines you added today (churn 0.82) — stop editing authService.ts and settle on one approach before writing more." ||
		*p.Reasoning != "Rule long_session_high_churn fired: session duration 145 min > 120 and churn ratio 0.82 > 0.4. Written by the rules provider; no LLM was called." ||
		string(ev) != `[{"metric":"duration_minutes","value":145},{"metric":"lines_deleted","value":180},{"metric":"lines_added","value":220},{"metric":"churn_ratio","value":0.82},{"metric":"top_file","value":"src/authService.ts"}]` ||
		p.UserAction != nil || !p.CreatedAt.Equal(t0) {
		t.Fatalf("pending %+v evidence %s", p, ev)
	}
	// The evaluation is an event of the user's insights stream.
	evs := e.events(t, insight.StreamID(user))
	var evaluated insight.Evaluated
	if len(evs) != 1 || evs[0].Type != insight.EventEvaluated || json.Unmarshal(evs[0].Data, &evaluated) != nil ||
		evaluated.Source != "rules" || evaluated.StateType != "stuck_loop" || *evaluated.RecommendationID != p.ID || evaluated.Mode != "real" {
		t.Fatalf("insights stream %+v", evs)
	}
}

func TestEvaluate_CooldownSnoozeAndForceTimeline(t *testing.T) {
	e := newEnv(t, insights.ProviderRules, nil)
	user := ids.New()
	at := func(min int) { e.clock.Set(t0.Add(time.Duration(min) * time.Minute)); e.longSession(user) }
	evaluated := func(mode insights.Mode) ids.ID {
		t.Helper()
		out := e.evaluate(t, user, mode)
		if out.Skipped || out.RecommendationID == nil {
			t.Fatalf("%s at %s: %+v, want a recommendation", mode, e.clock.Now().Format("15:04"), out)
		}
		if n := e.pendingCount(t, user); n != 1 {
			t.Fatalf("%d pending recommendations", n)
		}
		return *out.RecommendationID
	}
	cooldown := func(mode insights.Mode) {
		t.Helper()
		if out := e.evaluate(t, user, mode); !out.Skipped || out.Reason != insights.ReasonCooldown {
			t.Fatalf("%s at %s: %+v, want cooldown", mode, e.clock.Now().Format("15:04"), out)
		}
	}

	at(0)
	a := evaluated(insights.ModeReal)
	at(44)
	cooldown(insights.ModeReal)
	cooldown(insights.ModeScheduled)
	at(45) // the pending cooldown is over: the new one expires A
	b := evaluated(insights.ModeReal)
	if v := e.list(t, user); len(v) != 2 || v[0].ID != b || v[1].ID != a || *v[1].UserAction != "expired" {
		t.Fatalf("history %+v", v)
	}

	at(50)
	if err := e.acts.Handle(context.Background(), user, b, recommendation.Snoozed); err != nil {
		t.Fatal(err)
	}
	at(79) // 29 minutes after the snooze (not after B's creation at 45)
	cooldown(insights.ModeReal)
	at(80)
	c := evaluated(insights.ModeReal)

	at(81) // force bypasses a pending cooldown and expires the pending one
	d := evaluated(insights.ModeForce)
	if d == c || e.pending(t, user).ID != d {
		t.Fatal("force did not replace the pending recommendation")
	}
	if err := e.acts.Handle(context.Background(), user, d, recommendation.Snoozed); err != nil {
		t.Fatal(err)
	}
	at(82) // force bypasses a running snooze too
	cooldown(insights.ModeReal)
	f := evaluated(insights.ModeForce)

	if err := e.acts.Handle(context.Background(), user, f, recommendation.Dismissed); err != nil {
		t.Fatal(err)
	}
	at(83) // a dismissed latest recommendation never blocks
	evaluated(insights.ModeReal)
}

func TestEvaluate_ForceExpiresEvenWhenALaterGateStops(t *testing.T) {
	e := newEnv(t, insights.ProviderOff, nil)
	user := ids.New()
	e.longSession(user)
	demo, err := e.eval.Demo(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	out := e.evaluate(t, user, insights.ModeForce)
	if !out.Skipped || out.Reason != insights.ReasonProviderOff {
		t.Fatalf("outcome %+v", out)
	}
	if p := e.pending(t, user); p != nil {
		t.Fatalf("still pending: %v", p.ID)
	}
	if v := e.list(t, user); len(v) != 1 || v[0].ID != demo || *v[0].UserAction != "expired" {
		t.Fatalf("history %+v", v)
	}
}

func TestEvaluate_NormalOutcomeExpiresPendingAndStartsNoCooldown(t *testing.T) {
	normal := llmFunc(func(in insight.Input) (insight.Reply, error) {
		return insight.Reply{StateType: "normal", ConfidenceScore: 0.2, RecommendationType: "execute",
			RecommendationText: fmt.Sprintf("Steady work for %d minutes, keep going.", in.Session.DurationMinutes), Reasoning: "fine", Evidence: []insight.Evidence{}}, nil
	})
	e := newEnv(t, insights.ProviderGemini, normal)
	user := ids.New()
	e.longSession(user)
	if _, err := e.eval.Demo(context.Background(), user); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(t0.Add(46 * time.Minute)) // past the demo's cooldown
	e.longSession(user)
	out := e.evaluate(t, user, insights.ModeReal)
	if out.Skipped || out.StateType != "normal" || out.RecommendationID != nil || out.Rule != insight.RuleVeryLongSession {
		t.Fatalf("outcome %+v", out)
	}
	if e.pending(t, user) != nil {
		t.Fatal("a normal outcome must expire the pending recommendation")
	}
	// No cooldown: the next evaluation runs at once.
	if out := e.evaluate(t, user, insights.ModeReal); out.Skipped {
		t.Fatalf("second evaluation %+v", out)
	}
	if n := len(e.events(t, insight.StreamID(user))); n != 2 {
		t.Fatalf("%d evaluations recorded, want 2 (normal ones included)", n)
	}
}

func TestEvaluate_HallucinationIsDowngradedToNormal(t *testing.T) {
	hallucinating := llmFunc(func(in insight.Input) (insight.Reply, error) {
		return insight.Reply{StateType: "analysis_paralysis", ConfidenceScore: 0.9, RecommendationType: "change_approach",
			RecommendationText: "Set a 15-minute timer and write down your next step.", Reasoning: "long session",
			Evidence: []insight.Evidence{{Metric: "duration_minutes", Value: insight.Number(float64(in.Session.DurationMinutes))}}}, nil
	})
	e := newEnv(t, insights.ProviderGemini, hallucinating)
	user := ids.New()
	e.longSession(user)
	out := e.evaluate(t, user, insights.ModeReal)
	if out.Skipped || out.StateType != "normal" || out.RecommendationID != nil {
		t.Fatalf("outcome %+v", out)
	}
	var ev insight.Evaluated
	evs := e.events(t, insight.StreamID(user))
	if len(evs) != 1 || json.Unmarshal(evs[0].Data, &ev) != nil || !ev.Downgraded || ev.OriginalState != "analysis_paralysis" ||
		ev.ConfidenceScore != 0.3 || ev.Source != "gemini" || ev.GuardFailure == "" {
		t.Fatalf("evaluation %+v", ev)
	}
	if len(e.list(t, user)) != 0 {
		t.Fatal("a downgraded reply created a recommendation")
	}
}

func TestEvaluate_LLMFailureLeavesThePendingRecommendation(t *testing.T) {
	e := newEnv(t, insights.ProviderGemini, failingLLM)
	user := ids.New()
	e.longSession(user)
	demo, _ := e.eval.Demo(context.Background(), user)
	out := e.evaluate(t, user, insights.ModeForce)
	if !out.Skipped || out.Reason != insights.ReasonLLMFailed {
		t.Fatalf("outcome %+v", out)
	}
	// force expired it before the call; real would have stopped at the cooldown.
	if v := e.list(t, user); len(v) != 1 || v[0].ID != demo || *v[0].UserAction != "expired" {
		t.Fatalf("history %+v", v)
	}
	if n := len(e.events(t, insight.StreamID(user))); n != 0 {
		t.Fatalf("a failed call recorded %d evaluations", n)
	}
}

func TestEvaluate_ConcurrentTriggersKeepOnePending(t *testing.T) {
	e := newEnv(t, insights.ProviderRules, nil)
	user := ids.New()
	e.longSession(user)
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%3 == 0 {
				_, err = e.eval.Demo(context.Background(), user)
			} else {
				_, err = e.eval.Evaluate(context.Background(), user, insights.ModeForce)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.pendingCount(t, user); n != 1 {
		t.Fatalf("%d pending recommendations, want 1", n)
	}
	if n := len(e.list(t, user)); n != 12 {
		t.Fatalf("%d recommendations, want 12", n)
	}
}
