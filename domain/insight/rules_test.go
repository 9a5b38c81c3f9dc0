package insight

import (
	"encoding/json"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 27, 5, 37, 50, 204_000_000, time.UTC)

func facts(durationMin float64, today Today) Facts {
	return Facts{SessionStart: now.Add(-time.Duration(durationMin * float64(time.Minute))), Now: now, Today: today}
}

func TestFirstRule_FiresStrictlyPastEachThreshold(t *testing.T) {
	def := DefaultThresholds()
	prod := Thresholds{VeryLongSessionMin: 240, LongSessionMin: 120, HighChurnRatio: 0.4, RapidSwitchCount: 30, DeleteHeavyTotal: 50}
	cases := []struct {
		name string
		th   Thresholds
		f    Facts
		want string // "" = no rule
	}{
		{"very long at threshold", def, facts(30, Today{}), ""},
		{"very long past threshold", def, facts(31, Today{}), RuleVeryLongSession},
		{"very long prod at", prod, facts(240, Today{}), ""},
		{"very long prod past", prod, facts(241, Today{}), RuleVeryLongSession},
		{"high churn: duration at threshold", def, facts(15, Today{LinesAdded: 10, LinesDeleted: 9}), ""},
		{"high churn: churn at threshold", def, facts(16, Today{LinesAdded: 10, LinesDeleted: 3}), ""},
		{"high churn: both past", def, facts(16, Today{LinesAdded: 100, LinesDeleted: 31}), RuleLongSessionHighChurn},
		{"high churn: nothing added counts as churn 0", def, facts(16, Today{LinesDeleted: 3}), ""},
		{"high churn prod", prod, facts(121, Today{LinesAdded: 100, LinesDeleted: 41}), RuleLongSessionHighChurn},
		{"high churn prod churn at", prod, facts(121, Today{LinesAdded: 100, LinesDeleted: 40}), ""},
		{"rapid at threshold", def, facts(0, Today{RapidSwitchCount: 3}), ""},
		{"rapid past threshold", def, facts(0, Today{RapidSwitchCount: 4}), RuleRapidContextSwitching},
		{"rapid prod", prod, facts(0, Today{RapidSwitchCount: 31}), RuleRapidContextSwitching},
		{"delete heavy: total at threshold", def, facts(0, Today{LinesAdded: 2, LinesDeleted: 3}), ""},
		{"delete heavy: total past", def, facts(0, Today{LinesAdded: 2, LinesDeleted: 4}), RuleDeleteHeavyRewriting},
		{"delete heavy: deleted equals added", def, facts(0, Today{LinesAdded: 3, LinesDeleted: 3}), ""},
		{"delete heavy: nothing added", def, facts(0, Today{LinesDeleted: 6}), RuleDeleteHeavyRewriting},
		{"delete heavy prod at", prod, facts(0, Today{LinesAdded: 20, LinesDeleted: 30}), ""},
		{"delete heavy prod past", prod, facts(0, Today{LinesAdded: 20, LinesDeleted: 31}), RuleDeleteHeavyRewriting},
		{"fractional threshold", Thresholds{VeryLongSessionMin: 30.5, LongSessionMin: 1e9, HighChurnRatio: 1, RapidSwitchCount: 1e9, DeleteHeavyTotal: 1e9}, facts(31, Today{}), RuleVeryLongSession},
		{"nothing", def, facts(5, Today{LinesAdded: 10, LinesDeleted: 1, RapidSwitchCount: 1}), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, fired := c.th.FirstRule(c.f)
			if got != c.want || fired != (c.want != "") {
				t.Fatalf("FirstRule = %q, %v; want %q", got, fired, c.want)
			}
		})
	}
}

func TestFirstRule_FirstMatchInTableOrder(t *testing.T) {
	// Everything fires at once: the order of 9.3 decides.
	all := Today{LinesAdded: 10, LinesDeleted: 100, RapidSwitchCount: 100}
	th := DefaultThresholds()
	for _, c := range []struct {
		f    Facts
		want string
	}{
		{facts(31, all), RuleVeryLongSession},
		{facts(16, all), RuleLongSessionHighChurn},
		{facts(1, all), RuleRapidContextSwitching},
		{facts(1, Today{LinesAdded: 10, LinesDeleted: 100}), RuleDeleteHeavyRewriting},
	} {
		if got, _ := th.FirstRule(c.f); got != c.want {
			t.Errorf("FirstRule = %q, want %q", got, c.want)
		}
	}
}

func TestDurationMinutes_RoundsHalfUpAndNeverNegative(t *testing.T) {
	for _, c := range []struct {
		elapsed time.Duration
		want    int64
	}{
		{29*time.Minute + 29*time.Second, 29},
		{29*time.Minute + 30*time.Second, 30},
		{0, 0},
		{-5 * time.Minute, 0}, // a session start in the future (client clock ahead)
	} {
		f := Facts{SessionStart: now.Add(-c.elapsed), Now: now}
		if got := f.DurationMinutes(); got != c.want {
			t.Errorf("elapsed %v: duration %d, want %d", c.elapsed, got, c.want)
		}
	}
}

func TestChurnRatio_NullWithoutAdditionsAndCappedAtOne(t *testing.T) {
	if r := (Today{LinesDeleted: 4}).ChurnRatio(); r != nil {
		t.Fatalf("churn without additions = %v, want nil", *r)
	}
	if r := (Today{LinesAdded: 2, LinesDeleted: 9}).ChurnRatio(); r == nil || *r != 1 {
		t.Fatalf("churn = %v, want 1", r)
	}
	if r := (Today{LinesAdded: 3, LinesDeleted: 1}).ChurnRatio(); r == nil || *r != 1.0/3 {
		t.Fatalf("churn = %v, want 1/3 unrounded", r)
	}
}

func TestNewInput_MatchesContractShape(t *testing.T) {
	f := Facts{
		SessionStart: time.Date(2026, 11, 27, 3, 12, 0, 0, time.UTC),
		Now:          time.Date(2026, 11, 27, 5, 37, 10, 0, time.UTC),
		Today: Today{LinesAdded: 220, LinesDeleted: 180, SwitchCount: 47, RapidSwitchCount: 12, TopFiles: []FileCount{
			{"src/authService.ts", 19}, {"src/app.ts", 7}, {"a", 3}, {"b", 2}, {"c", 1}, {"d", 1}}},
	}
	got, err := json.Marshal(NewInput(RuleLongSessionHighChurn, f))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"triggered_rule":"long_session_high_churn","session":{"started_at":"2026-11-27T03:12:00.000Z","duration_minutes":145},` +
		`"today":{"lines_added":220,"lines_deleted":180,"churn_ratio":0.8181818181818182,"switch_count":47,"rapid_switch_count":12},` +
		`"top_file":"src/authService.ts","top_files":[{"path":"src/authService.ts","count":19},{"path":"src/app.ts","count":7},` +
		`{"path":"a","count":3},{"path":"b","count":2},{"path":"c","count":1}]}`
	if string(got) != want {
		t.Fatalf("input JSON\n got %s\nwant %s", got, want)
	}

	empty, _ := json.Marshal(NewInput(RuleVeryLongSession, Facts{SessionStart: now, Now: now}))
	wantEmpty := `{"triggered_rule":"very_long_session","session":{"started_at":"2026-11-27T05:37:50.204Z","duration_minutes":0},` +
		`"today":{"lines_added":0,"lines_deleted":0,"churn_ratio":null,"switch_count":0,"rapid_switch_count":0},"top_file":null,"top_files":[]}`
	if string(empty) != wantEmpty {
		t.Fatalf("empty input JSON\n got %s\nwant %s", empty, wantEmpty)
	}
}
