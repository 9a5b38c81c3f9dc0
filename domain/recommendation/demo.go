package recommendation

import (
	"time"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/insight"
)

// Demo texts of decision D23 (9.11). They are canned, not the user's numbers, and not
// subject to the guard.
const (
	DemoText      = "You've been heads-down for a while. Consider stepping away for 5 minutes — your next bug is probably hiding behind a clear head."
	DemoReasoning = "Manually triggered demo recommendation; no Gemini call was made."
)

// Demo is the canned demo recommendation for a user's session.
func Demo(id, user, session ids.ID, at time.Time) Issued {
	reasoning, rule := DemoReasoning, insight.RuleDemoTrigger
	return Issued{
		RecommendationID:   id,
		UserID:             user,
		SessionID:          session,
		StateType:          insight.StateDemo,
		ConfidenceScore:    1,
		RecommendationType: insight.RecExecute,
		RecommendationText: DemoText,
		Reasoning:          &reasoning,
		Evidence: []insight.Evidence{
			{Metric: insight.MetricDurationMinutes, Value: insight.Number(145)},
			{Metric: insight.MetricLinesAdded, Value: insight.Number(220)},
			{Metric: insight.MetricLinesDeleted, Value: insight.Number(180)},
			{Metric: insight.MetricChurnRatio, Value: insight.Number(0.82)},
		},
		TriggeredRule: &rule,
		Source:        insight.SourceDemo,
		CreatedAt:     at,
	}
}
