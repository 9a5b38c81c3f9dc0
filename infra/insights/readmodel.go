package insights

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/recommendation"
	projection "github.com/devflow/backend/projections/recommendations"
	query "github.com/devflow/backend/queries/recommendations"
)

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
	// catchUpLimit bounds CatchUp: a stalled projection makes evaluations fail rather
	// than hang.
	catchUpLimit time.Duration
}

// NewReadModel builds the adapter.
func NewReadModel(pool *pgxpool.Pool, store eventlog.Store, waiter Waiter) *ReadModel {
	return &ReadModel{pool: pool, store: store, waiter: waiter, catchUpLimit: 10 * time.Second}
}

// CatchUp waits until the projection has applied the log up to its current head.
func (r *ReadModel) CatchUp(ctx context.Context) error {
	head, err := r.store.Head(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.catchUpLimit)
	defer cancel()
	if err := r.waiter.WaitFor(ctx, projection.Name, head); err != nil {
		return fmt.Errorf("wait for the %s projection to reach %s: %w", projection.Name, head, err)
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
