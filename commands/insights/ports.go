// Package insights holds the insight use cases: evaluating a user (the gates of
// contract 9.1, for the scheduler and the trigger endpoint), the demo recommendation
// (9.11) and a user's action on a recommendation (3.22). Everything that happens is
// appended to the event log; the recommendations read model is the projection of those
// events.
//
// Consistency. Evaluations of one user are serialised across the deployment by a lock
// held for the whole evaluation (Locker). Inside it the evaluation first waits, bounded,
// until every read model it decides from (recommendations, sessions, metrics) has passed
// the log head as it is then, which is no earlier than the request's arrival: the
// pending ids it expires, the latest recommendation the cooldown looks at, the current
// session and today's metrics then include everything committed before, the caller's
// own telemetry too. Past the bound it decides nothing and returns ErrReadModelBehind.
// Appends that end a recommendation expect the stream to hold only its issue event, so
// a user action racing an expiry makes exactly one of them win. After appending, every
// use case waits until the read model has applied its events before it returns
// (read-your-writes, contract 5), which works the same with either event-log adapter.
package insights

import (
	"context"
	"errors"
	"time"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/insight"
	"github.com/devflow/backend/domain/recommendation"
)

// Locker serialises work on one user across every replica.
type Locker interface {
	// WithUserLock runs fn while holding the user's lock, waiting for it as long as ctx
	// allows.
	WithUserLock(ctx context.Context, user ids.ID, fn func(ctx context.Context) error) error
}

// ReadModel is the recommendations read model as the commands need it, and the
// catch-up of every read model an evaluation decides from.
type ReadModel interface {
	// CatchUp returns once the recommendations, sessions and metrics read models (this
	// port, Sessions and DailyMetrics) reflect every event committed before the call. It
	// returns an error wrapping ErrReadModelBehind when they do not within its bound.
	CatchUp(ctx context.Context) error
	// WaitFor returns once the recommendations read model reflects the log up to pos.
	WaitFor(ctx context.Context, pos eventlog.Position) error
	// PendingIDs lists the user's pending recommendations.
	PendingIDs(ctx context.Context, user ids.ID) ([]ids.ID, error)
	// Latest is the user's newest recommendation (by created_at), or nil.
	Latest(ctx context.Context, user ids.ID) (*recommendation.Latest, error)
}

// Session is the user's current session: the one with the latest start time.
type Session struct {
	ID        ids.ID
	StartTime time.Time
}

// Sessions finds a user's current session; found is false when they have none.
type Sessions interface {
	Current(ctx context.Context, user ids.ID) (s Session, found bool, err error)
}

// DailyMetrics reads a user's metrics of one UTC day; no data is a zero Today.
type DailyMetrics interface {
	Day(ctx context.Context, user ids.ID, day time.Time) (insight.Today, error)
}

// LLM is a language-model provider. Any error means the call failed (llm_failed): API
// error, timeout, empty, non-JSON or schema-invalid reply.
type LLM interface {
	Generate(ctx context.Context, in insight.Input) (insight.Reply, error)
}

// ErrNoSession is returned by the demo trigger for a user without any session.
var ErrNoSession = errors.New("no session")

// ErrReadModelBehind is returned by an evaluation or a demo trigger when a read model it
// decides from did not catch up with the log in time: nothing was decided or appended,
// so the caller may retry.
var ErrReadModelBehind = errors.New("read model behind the log")

// Skip reasons (9.13).
const (
	ReasonProviderOff         = "provider_off"
	ReasonGeminiNotConfigured = "gemini_not_configured"
	ReasonCooldown            = "cooldown"
	ReasonNoSession           = "no_session"
	ReasonNoRuleFired         = "no_rule_fired"
	ReasonLLMFailed           = "llm_failed"
)
