// Package insight holds the pure decision logic of devFlow's workflow insights: the rule
// table that decides whether a user's current activity deserves a recommendation
// (contract 9.3, decision D2), the provider input built from a session and today's
// metrics (9.5), the LLM reply and its schema (9.8), the hallucination guard (9.9), the
// deterministic rules provider (9.10) and the coaching prompt (9.6). Nothing here does
// I/O; the commands and adapters around it fetch the inputs and persist the outcome.
package insight

import (
	"math"
	"strconv"
	"time"
)

// Rule names, in evaluation order (9.3), plus the demo trigger (9.11).
const (
	RuleVeryLongSession       = "very_long_session"
	RuleLongSessionHighChurn  = "long_session_high_churn"
	RuleRapidContextSwitching = "rapid_context_switching"
	RuleDeleteHeavyRewriting  = "delete_heavy_rewriting"
	RuleDemoTrigger           = "demo_trigger"
)

// State types (9.13). StateNormal never becomes a recommendation; StateDemo only comes
// from the demo trigger.
const (
	StateStuckLoop         = "stuck_loop"
	StateLostInCodebase    = "lost_in_codebase"
	StateAIDependencyTrap  = "ai_dependency_trap"
	StateIntegrationHell   = "integration_hell"
	StateAnalysisParalysis = "analysis_paralysis"
	StateNormal            = "normal"
	StateDemo              = "demo"
)

// Recommendation types (9.13).
const (
	RecChangeApproach  = "change_approach"
	RecMapSystem       = "map_system"
	RecStopUsingAI     = "stop_using_ai"
	RecSimplifyProblem = "simplify_problem"
	RecExecute         = "execute"
)

// Sources of a recommendation (decision D7).
const (
	SourceGemini = "gemini"
	SourceRules  = "rules"
	SourceDemo   = "demo"
)

// Evidence metric names (9.13).
const (
	MetricLinesAdded       = "lines_added"
	MetricLinesDeleted     = "lines_deleted"
	MetricChurnRatio       = "churn_ratio"
	MetricSwitchCount      = "switch_count"
	MetricRapidSwitchCount = "rapid_switch_count"
	MetricDurationMinutes  = "duration_minutes"
	MetricTopFile          = "top_file"
)

// Thresholds are the rule thresholds of decision D2. They may be fractional; every
// comparison is strict.
type Thresholds struct {
	VeryLongSessionMin float64 // RULE_VERY_LONG_SESSION_MIN
	LongSessionMin     float64 // RULE_LONG_SESSION_MIN
	HighChurnRatio     float64 // RULE_HIGH_CHURN_RATIO
	RapidSwitchCount   float64 // RULE_RAPID_SWITCH_COUNT
	DeleteHeavyTotal   float64 // RULE_DELETE_HEAVY_TOTAL
}

// DefaultThresholds are the deliberately low demo defaults of 9.3.
func DefaultThresholds() Thresholds {
	return Thresholds{
		VeryLongSessionMin: 30,
		LongSessionMin:     15,
		HighChurnRatio:     0.3,
		RapidSwitchCount:   3,
		DeleteHeavyTotal:   5,
	}
}

// Today is a user's metrics for the current UTC day (9.1 step 4).
type Today struct {
	LinesAdded       int64
	LinesDeleted     int64
	SwitchCount      int64
	RapidSwitchCount int64
	TopFiles         []FileCount // all of today's top files, most switched-to first
}

// ChurnRatio is the 8.2 ratio: nil when nothing was added, else min(1, deleted/added).
func (t Today) ChurnRatio() *float64 {
	if t.LinesAdded <= 0 {
		return nil
	}
	r := math.Min(1, float64(t.LinesDeleted)/float64(t.LinesAdded))
	return &r
}

// FileCount is one entry of top_files.
type FileCount struct {
	Path  string `json:"path"`
	Count int64  `json:"count"`
}

// Facts are what the rules look at: the current session and today's metrics.
type Facts struct {
	SessionStart time.Time
	Now          time.Time
	Today        Today
}

// DurationMinutes is max(0, round((now − start) / 60 s)), rounding halves up like the
// Node implementation's Math.round.
func (f Facts) DurationMinutes() int64 {
	m := math.Floor(f.Now.Sub(f.SessionStart).Minutes() + 0.5)
	return int64(math.Max(0, m))
}

// FirstRule returns the first rule of 9.3 that fires, in table order, or false.
func (t Thresholds) FirstRule(f Facts) (string, bool) {
	d := float64(f.DurationMinutes())
	churn := 0.0
	if c := f.Today.ChurnRatio(); c != nil {
		churn = *c
	}
	added, deleted := f.Today.LinesAdded, f.Today.LinesDeleted
	switch {
	case d > t.VeryLongSessionMin:
		return RuleVeryLongSession, true
	case d > t.LongSessionMin && churn > t.HighChurnRatio:
		return RuleLongSessionHighChurn, true
	case float64(f.Today.RapidSwitchCount) > t.RapidSwitchCount:
		return RuleRapidContextSwitching, true
	case deleted > added && float64(added+deleted) > t.DeleteHeavyTotal:
		return RuleDeleteHeavyRewriting, true
	}
	return "", false
}

// Round2 rounds to two decimals, halves up (JavaScript's Math.round(x*100)/100).
func Round2(x float64) float64 { return math.Floor(x*100+0.5) / 100 }

// formatNumber writes a number in shortest decimal form (10, 0.82).
func formatNumber(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// FormatTime is the contract's timestamp form (2.1).
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
