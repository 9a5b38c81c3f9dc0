package insight

import (
	"time"

	"github.com/devflow/backend/domain/ids"
)

// EventEvaluated is the type of the event recording one evaluation that got past every
// gate, whatever its outcome (normal included). Skipped evaluations are not recorded.
const EventEvaluated = "InsightEvaluated"

// StreamID is the stream of a user's evaluations.
func StreamID(user ids.ID) string { return "insights-" + user.String() }

// Evaluated is the payload of InsightEvaluated (9.1 step 7.2).
type Evaluated struct {
	UserID          ids.ID  `json:"user_id"`
	SessionID       ids.ID  `json:"session_id"`
	Mode            string  `json:"mode"` // real, force or scheduled
	TriggeredRule   string  `json:"triggered_rule"`
	StateType       string  `json:"state_type"`
	ConfidenceScore float64 `json:"confidence_score"`
	Source          string  `json:"source"`
	// Downgraded tells that the provider's answer failed the guard (9.9) and was turned
	// into a normal outcome; GuardFailure says why. The replaced answer's state is kept
	// for analysis.
	Downgraded       bool      `json:"downgraded,omitempty"`
	GuardFailure     string    `json:"guard_failure,omitempty"`
	OriginalState    string    `json:"original_state_type,omitempty"`
	RecommendationID *ids.ID   `json:"recommendation_id"`
	EvaluatedAt      time.Time `json:"evaluated_at"`
}
