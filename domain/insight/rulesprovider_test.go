package insight

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func input(rule string, durationMin int64, today TodayInput, topFiles ...FileCount) Input {
	in := Input{TriggeredRule: rule, Session: SessionInput{StartedAt: now, DurationMinutes: durationMin}, Today: today, TopFiles: topFiles}
	if in.TopFiles == nil {
		in.TopFiles = []FileCount{}
	}
	if len(topFiles) > 0 {
		p := topFiles[0].Path
		in.TopFile = &p
	}
	return in
}

func ratio(x float64) *float64 { return &x }

func evidenceJSON(t *testing.T, ev []Evidence) string {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRulesReply_TextsReasoningAndEvidencePerRule(t *testing.T) {
	prod := Thresholds{VeryLongSessionMin: 240, LongSessionMin: 120, HighChurnRatio: 0.4, RapidSwitchCount: 30, DeleteHeavyTotal: 50}
	today := TodayInput{LinesAdded: 220, LinesDeleted: 180, ChurnRatio: ratio(180.0 / 220), SwitchCount: 47, RapidSwitchCount: 12}
	auth := FileCount{"src/authService.ts", 19}
	cases := []struct {
		name                      string
		in                        Input
		state, recType            string
		text, reasoning, evidence string
	}{
		{
			name: "very long session", in: input(RuleVeryLongSession, 245, today, auth),
			state: StateAnalysisParalysis, recType: RecChangeApproach,
			text:      "This session has run 245 minutes — finish the step you are on, write down the next one, and take a real break before you continue.",
			reasoning: "Rule very_long_session fired: session duration 245 min > 240. Written by the rules provider; no LLM was called.",
			evidence:  `[{"metric":"duration_minutes","value":245}]`,
		},
		{
			name: "long session high churn with file (contract 3.19 example)", in: input(RuleLongSessionHighChurn, 145, today, auth),
			state: StateStuckLoop, recType: RecChangeApproach,
			text:      "145 minutes into this session you have deleted 180 of the 220 lines you added today (churn 0.82) — stop editing authService.ts and settle on one approach before writing more.",
			reasoning: "Rule long_session_high_churn fired: session duration 145 min > 120 and churn ratio 0.82 > 0.4. Written by the rules provider; no LLM was called.",
			evidence:  `[{"metric":"duration_minutes","value":145},{"metric":"lines_deleted","value":180},{"metric":"lines_added","value":220},{"metric":"churn_ratio","value":0.82},{"metric":"top_file","value":"src/authService.ts"}]`,
		},
		{
			name: "long session high churn without file", in: input(RuleLongSessionHighChurn, 130, TodayInput{LinesAdded: 10, LinesDeleted: 5, ChurnRatio: ratio(0.5)}),
			state: StateStuckLoop, recType: RecChangeApproach,
			text:      "130 minutes into this session you have deleted 5 of the 10 lines you added today (churn 0.5) — stop editing and settle on one approach before writing more.",
			reasoning: "Rule long_session_high_churn fired: session duration 130 min > 120 and churn ratio 0.5 > 0.4. Written by the rules provider; no LLM was called.",
			evidence:  `[{"metric":"duration_minutes","value":130},{"metric":"lines_deleted","value":5},{"metric":"lines_added","value":10},{"metric":"churn_ratio","value":0.5}]`,
		},
		{
			name: "churn of one is written as 1", in: input(RuleLongSessionHighChurn, 121, TodayInput{LinesAdded: 4, LinesDeleted: 9, ChurnRatio: ratio(1)}),
			state: StateStuckLoop, recType: RecChangeApproach,
			text:      "121 minutes into this session you have deleted 9 of the 4 lines you added today (churn 1) — stop editing and settle on one approach before writing more.",
			reasoning: "Rule long_session_high_churn fired: session duration 121 min > 120 and churn ratio 1 > 0.4. Written by the rules provider; no LLM was called.",
			evidence:  `[{"metric":"duration_minutes","value":121},{"metric":"lines_deleted","value":9},{"metric":"lines_added","value":4},{"metric":"churn_ratio","value":1}]`,
		},
		{
			name: "rapid switching with file", in: input(RuleRapidContextSwitching, 20, today, FileCount{"web/src/App.tsx", 9}),
			state: StateLostInCodebase, recType: RecMapSystem,
			text:      "You have made 12 rapid editor switches today (47 in all) — close everything except App.tsx and sketch how the pieces connect before jumping again.",
			reasoning: "Rule rapid_context_switching fired: rapid switch count 12 > 30. Written by the rules provider; no LLM was called.",
			evidence:  `[{"metric":"rapid_switch_count","value":12},{"metric":"switch_count","value":47},{"metric":"top_file","value":"web/src/App.tsx"}]`,
		},
		{
			name: "rapid switching without file", in: input(RuleRapidContextSwitching, 20, today),
			state: StateLostInCodebase, recType: RecMapSystem,
			text:      "You have made 12 rapid editor switches today (47 in all) — close everything except the file you need most and sketch how the pieces connect before jumping again.",
			reasoning: "Rule rapid_context_switching fired: rapid switch count 12 > 30. Written by the rules provider; no LLM was called.",
			evidence:  `[{"metric":"rapid_switch_count","value":12},{"metric":"switch_count","value":47}]`,
		},
		{
			name: "delete heavy rewriting", in: input(RuleDeleteHeavyRewriting, 3, TodayInput{LinesAdded: 20, LinesDeleted: 60, ChurnRatio: ratio(1)}, auth),
			state: StateStuckLoop, recType: RecSimplifyProblem,
			text:      "You have deleted 60 lines today but added only 20 — write down the smallest version that would work and build just that first.",
			reasoning: "Rule delete_heavy_rewriting fired: lines deleted 60 > lines added 20 and lines added + deleted 80 > 50. Written by the rules provider; no LLM was called.",
			evidence:  `[{"metric":"lines_deleted","value":60},{"metric":"lines_added","value":20}]`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := RulesReply(c.in, prod)
			if r.StateType != c.state || r.RecommendationType != c.recType || r.ConfidenceScore != 0.6 {
				t.Errorf("state %q type %q confidence %v", r.StateType, r.RecommendationType, r.ConfidenceScore)
			}
			if r.RecommendationText != c.text {
				t.Errorf("text\n got %q\nwant %q", r.RecommendationText, c.text)
			}
			if r.Reasoning != c.reasoning {
				t.Errorf("reasoning\n got %q\nwant %q", r.Reasoning, c.reasoning)
			}
			if got := evidenceJSON(t, r.Evidence); got != c.evidence {
				t.Errorf("evidence\n got %s\nwant %s", got, c.evidence)
			}
			if err := Guard(c.in, r); err != nil {
				t.Errorf("rules reply fails the guard: %v", err)
			}
		})
	}
}

func TestRulesReply_DropsTheFileClauseWhenTheSentenceWouldExceed240(t *testing.T) {
	today := TodayInput{LinesAdded: 220, LinesDeleted: 180, ChurnRatio: ratio(180.0 / 220), SwitchCount: 47, RapidSwitchCount: 12}
	// The sentence without the file is 173 characters; " " + name fits up to 240.
	base := RulesReply(input(RuleLongSessionHighChurn, 145, today), DefaultThresholds()).RecommendationText
	room := MaxTextLength - utf8.RuneCountInString(base) - 1
	for _, c := range []struct {
		nameLen  int
		withFile bool
	}{{room, true}, {room + 1, false}} {
		name := strings.Repeat("é", c.nameLen) // multi-byte: the limit counts characters
		in := input(RuleLongSessionHighChurn, 145, today, FileCount{"deep/dir/" + name, 3})
		r := RulesReply(in, DefaultThresholds())
		hasFile := strings.Contains(r.RecommendationText, name)
		if hasFile != c.withFile {
			t.Fatalf("name of %d chars: file named = %v, want %v (%d chars)", c.nameLen, hasFile, c.withFile, utf8.RuneCountInString(r.RecommendationText))
		}
		if n := utf8.RuneCountInString(r.RecommendationText); n > MaxTextLength {
			t.Fatalf("text has %d characters", n)
		}
		lastMetric := r.Evidence[len(r.Evidence)-1].Metric
		if (lastMetric == MetricTopFile) != c.withFile {
			t.Fatalf("top_file evidence present = %v, want %v", lastMetric == MetricTopFile, c.withFile)
		}
		if !c.withFile && r.RecommendationText != base {
			t.Fatalf("text without file = %q, want %q", r.RecommendationText, base)
		}
	}
}

func TestRulesReply_IsDeterministic(t *testing.T) {
	in := NewInput(RuleRapidContextSwitching, Facts{SessionStart: now.Add(-time.Hour), Now: now,
		Today: Today{LinesAdded: 3, SwitchCount: 50, RapidSwitchCount: 40, TopFiles: []FileCount{{"x/y2.go", 4}}}})
	a, b := RulesReply(in, DefaultThresholds()), RulesReply(in, DefaultThresholds())
	if evidenceJSON(t, a.Evidence) != evidenceJSON(t, b.Evidence) || a.RecommendationText != b.RecommendationText || a.Reasoning != b.Reasoning {
		t.Fatal("same input gave different replies")
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
