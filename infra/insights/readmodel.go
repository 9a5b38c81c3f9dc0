package insights

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	cmdinsights "github.com/devflow/backend/commands/insights"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/recommendation"
	metricsprojection "github.com/devflow/backend/projections/metrics"
	projection "github.com/devflow/backend/projections/recommendations"
	sessionsprojection "github.com/devflow/backend/projections/sessions"
	query "github.com/devflow/backend/queries/recommendations"
)

// CatchUpLimit bounds the wait for the read models before an evaluation decides. It
// stays under the demo trigger's 9 s answer deadline, so that a stalled projection
// gives the trigger's 503 rather than a request cut off at its deadline.
const CatchUpLimit = 8 * time.Second

// decisionInputs are the projections an evaluation reads before it decides: the
// recommendations (pending ids, cooldown), the sessions (current session) and the
// metrics (today's numbers).
var decisionInputs = []string{projection.Name, sessionsprojection.Name, metricsprojection.Name}

// Waiter waits for a projection to pass a log position (*projections.Engine).
type Waiter interface {
	WaitFor(ctx context.Context, name string, pos eventlog.Position) error
}

// ReadModel adapts the recommendations projection and its queries to the commands'
// ReadModel port.
type ReadModel struct {
	pool   *pgxpool.Pool
	store  eventlog.Store
	waiter Waiter
	// catchUpLimit bounds CatchUp: a stalled projection makes evaluations answer
	// ErrReadModelBehind rather than hang or decide from a stale read model.
	catchUpLimit time.Duration
}

// NewReadModel builds the adapter; catchUpLimit bounds CatchUp (CatchUpLimit in the
// service).
func NewReadModel(pool *pgxpool.Pool, store eventlog.Store, waiter Waiter, catchUpLimit time.Duration) *ReadModel {
	return &ReadModel{pool: pool, store: store, waiter: waiter, catchUpLimit: catchUpLimit}
}

// CatchUp waits until the recommendations, sessions and metrics projections have all
// applied the log up to its current head. Running out of time, the bound's or the
// caller's deadline, is ErrReadModelBehind.
func (r *ReadModel) CatchUp(ctx context.Context) error {
	head, err := r.store.Head(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.catchUpLimit)
	defer cancel()
	for _, name := range decisionInputs {
		err := r.waiter.WaitFor(ctx, name, head)
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%w: the %s projection has not reached %s", cmdinsights.ErrReadModelBehind, name, head)
		}
		if err != nil {
			return fmt.Errorf("wait for the %s projection to reach %s: %w", name, head, err)
		}
	}
	return nil
}

// WaitFor waits until the projection has applied the log up to pos.
func (r *ReadModel) WaitFor(ctx context.Context, pos eventlog.Position) error {
	return r.waiter.WaitFor(ctx, projection.Name, pos)
}

// PendingIDs lists the user's pending recommendations.
func (r *ReadModel) PendingIDs(ctx context.Context, user ids.ID) ([]ids.ID, error) {
	return query.PendingIDs(ctx, r.pool, user)
}

// Latest is the user's newest recommendation, or nil.
func (r *ReadModel) Latest(ctx context.Context, user ids.ID) (*recommendation.Latest, error) {
	return query.Latest(ctx, r.pool, user)
}
