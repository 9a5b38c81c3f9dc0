// Package recommendation is the recommendation aggregate: a recommendation is issued
// pending and ends exactly once, either by the user (accepted, dismissed, snoozed) or by
// the service (expired, when a newer one is issued or on force). It also holds the
// cooldown policy of decision D3 and the canned demo recommendation of decision D23.
package recommendation

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/insight"
)

// Event types of a recommendation stream.
const (
	EventIssued    = "RecommendationIssued"
	EventExpired   = "RecommendationExpired"
	EventAccepted  = "RecommendationAccepted"
	EventDismissed = "RecommendationDismissed"
	EventSnoozed   = "RecommendationSnoozed"
)

// SchemaVersion is the payload version of every event of this package.
const SchemaVersion = 1

// StreamID is the stream of one recommendation.
func StreamID(id ids.ID) string { return "recommendation-" + id.String() }

// Action is a recommendation's user_action once it has one.
type Action string

// The user actions (set by clients) and expiry (set only by the service).
const (
	Accepted  Action = "accepted"
	Dismissed Action = "dismissed"
	Snoozed   Action = "snoozed"
	Expired   Action = "expired"
)

// ParseUserAction accepts exactly the three actions a client may post.
func ParseUserAction(s string) (Action, bool) {
	switch a := Action(s); a {
	case Accepted, Dismissed, Snoozed:
		return a, true
	}
	return "", false
}

// eventType is the event that records an action.
func (a Action) eventType() string {
	return map[Action]string{Accepted: EventAccepted, Dismissed: EventDismissed, Snoozed: EventSnoozed, Expired: EventExpired}[a]
}

// ActionOf maps an ending event type back to its action.
func ActionOf(eventType string) (Action, bool) {
	a, ok := map[string]Action{EventAccepted: Accepted, EventDismissed: Dismissed, EventSnoozed: Snoozed, EventExpired: Expired}[eventType]
	return a, ok
}

// Issued is the payload of RecommendationIssued: every field of the 3.19 object except
// user_action, plus the owner and the session it was about.
type Issued struct {
	RecommendationID   ids.ID             `json:"recommendation_id"`
	UserID             ids.ID             `json:"user_id"`
	SessionID          ids.ID             `json:"session_id"`
	StateType          string             `json:"state_type"`
	ConfidenceScore    float64            `json:"confidence_score"`
	RecommendationType string             `json:"recommendation_type"`
	RecommendationText string             `json:"recommendation_text"`
	Reasoning          *string            `json:"reasoning"`
	Evidence           []insight.Evidence `json:"evidence"`
	TriggeredRule      *string            `json:"triggered_rule"`
	Source             string             `json:"source"`
	CreatedAt          time.Time          `json:"created_at"`
}

// Ended is the payload of the events that end a recommendation (accepted, dismissed,
// snoozed, expired). At is when it happened; for a snooze it starts the snooze window.
type Ended struct {
	RecommendationID ids.ID    `json:"recommendation_id"`
	UserID           ids.ID    `json:"user_id"`
	At               time.Time `json:"at"`
}

// DecodeIssued reads a RecommendationIssued payload of the given schema version.
func DecodeIssued(schemaVersion int, data []byte) (Issued, error) {
	var p Issued
	return p, decode(EventIssued, schemaVersion, data, &p)
}

// DecodeEnded reads the payload of an event that ends a recommendation.
func DecodeEnded(eventType string, schemaVersion int, data []byte) (Ended, error) {
	var p Ended
	return p, decode(eventType, schemaVersion, data, &p)
}

func decode(eventType string, schemaVersion int, data []byte, payload any) error {
	if schemaVersion != SchemaVersion {
		return fmt.Errorf("decode %s: unknown schema version %d", eventType, schemaVersion)
	}
	if err := json.Unmarshal(data, payload); err != nil {
		return fmt.Errorf("decode %s: %w", eventType, err)
	}
	return nil
}

// Named errors of the decisions.
var (
	ErrNotFound     = errors.New("recommendation not found")
	ErrForbidden    = errors.New("recommendation belongs to another user")
	ErrAlreadyEnded = errors.New("recommendation already acted on")
	ErrInvalid      = errors.New("invalid recommendation")
)

// Recommendation is the aggregate folded from one recommendation stream.
type Recommendation struct {
	id      ids.ID
	owner   ids.ID
	version uint64 // last stream revision
	action  Action // "" while pending
}

// Owner, Action and Version expose what commands need; Version is the last stream
// revision, the expected version of the next append.
func (r *Recommendation) ID() ids.ID      { return r.id }
func (r *Recommendation) Owner() ids.ID   { return r.owner }
func (r *Recommendation) Action() Action  { return r.action }
func (r *Recommendation) Version() uint64 { return r.version }

// Fold rebuilds a recommendation from its stream. An empty stream is ErrNotFound.
func Fold(events []eventlog.Envelope) (*Recommendation, error) {
	if len(events) == 0 {
		return nil, ErrNotFound
	}
	r := &Recommendation{}
	for _, e := range events {
		switch e.Type {
		case EventIssued:
			p, err := DecodeIssued(e.SchemaVersion, e.Data)
			if err != nil {
				return nil, err
			}
			r.id, r.owner = p.RecommendationID, p.UserID
		default:
			if a, ok := ActionOf(e.Type); ok && r.action == "" {
				r.action = a
			}
		}
		r.version = e.StreamVersion
	}
	if r.id.IsNil() {
		return nil, fmt.Errorf("%w: stream %s has no %s", ErrInvalid, events[0].StreamID, EventIssued)
	}
	return r, nil
}

// Act records a user's action. Checks follow the contract's order after the existence
// check: another user's recommendation is forbidden, an ended one cannot be acted on.
func (r *Recommendation) Act(user ids.ID, a Action, at time.Time) (eventlog.EventData, error) {
	if _, ok := ParseUserAction(string(a)); !ok {
		return eventlog.EventData{}, fmt.Errorf("%w: action %q", ErrInvalid, a)
	}
	if user != r.owner {
		return eventlog.EventData{}, ErrForbidden
	}
	return r.end(a, at)
}

// Expire ends a pending recommendation on the service's behalf.
func (r *Recommendation) Expire(at time.Time) (eventlog.EventData, error) { return r.end(Expired, at) }

func (r *Recommendation) end(a Action, at time.Time) (eventlog.EventData, error) {
	if r.action != "" {
		return eventlog.EventData{}, ErrAlreadyEnded
	}
	return Ending(r.id, r.owner, a, at), nil
}

// Ending builds the event that ends recommendation id with action a. Commands that know
// a recommendation is pending (from the read model, under the user's lock) use it
// directly and let the expected version of the append catch a concurrent end.
func Ending(id, owner ids.ID, a Action, at time.Time) eventlog.EventData {
	return newEvent(a.eventType(), owner, Ended{RecommendationID: id, UserID: owner, At: at})
}

// Issue builds the event that creates a pending recommendation. The confidence is
// rounded to 2 decimals (9.1 step 7.3); evidence is never null.
func Issue(p Issued) (eventlog.EventData, error) {
	if p.RecommendationID.IsNil() || p.UserID.IsNil() {
		return eventlog.EventData{}, fmt.Errorf("%w: missing id", ErrInvalid)
	}
	if p.StateType == insight.StateNormal {
		return eventlog.EventData{}, fmt.Errorf("%w: a normal outcome is not a recommendation", ErrInvalid)
	}
	if p.ConfidenceScore < 0 || p.ConfidenceScore > 1 || math.IsNaN(p.ConfidenceScore) {
		return eventlog.EventData{}, fmt.Errorf("%w: confidence %v", ErrInvalid, p.ConfidenceScore)
	}
	p.ConfidenceScore = insight.Round2(p.ConfidenceScore)
	if p.Evidence == nil {
		p.Evidence = []insight.Evidence{}
	}
	return newEvent(EventIssued, p.UserID, p), nil
}

func newEvent(typ string, user ids.ID, payload any) eventlog.EventData {
	data, err := json.Marshal(payload)
	if err != nil { // plain structs: cannot happen
		panic(err)
	}
	return eventlog.EventData{ID: ids.New(), Type: typ, SchemaVersion: SchemaVersion, Data: data,
		Metadata: eventlog.Metadata{UserID: user.String()}}
}
