package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	cmdetl "github.com/devflow/backend/commands/etl"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/projections"
)

// ETLProjections is the ETL run's view of the projection engine (cmdetl.Projections):
// its checkpoints and waits, and the maintenance locks, session advisory locks on a
// connection held until release.
type ETLProjections struct {
	pool   *pgxpool.Pool
	engine *projections.Engine
}

var _ cmdetl.Projections = (*ETLProjections)(nil)

// NewETLProjections builds the adapter.
func NewETLProjections(pool *pgxpool.Pool, engine *projections.Engine) *ETLProjections {
	if pool == nil || engine == nil {
		panic("postgres: nil dependency")
	}
	return &ETLProjections{pool: pool, engine: engine}
}

// LockMaintenance takes every named projection's maintenance lock, or none.
func (p *ETLProjections) LockMaintenance(ctx context.Context, names []string) (func(), bool, error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	var locked []int64
	release := func() {
		// The locks are the session's: unlock before the connection goes back.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, k := range locked {
			_, _ = conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, k)
		}
		conn.Release()
	}
	for _, name := range names {
		k := projections.MaintenanceLockKey(name)
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, k).Scan(&ok); err != nil {
			release()
			return nil, false, err
		}
		if !ok {
			release()
			return nil, false, nil
		}
		locked = append(locked, k)
	}
	return release, true, nil
}

// Ordinal is the projection's checkpoint ordinal.
func (p *ETLProjections) Ordinal(ctx context.Context, name string) (int64, error) {
	cp, err := p.engine.Checkpoint(ctx, name)
	return cp.Ordinal, err
}

// WaitFor waits until the projection has passed pos.
func (p *ETLProjections) WaitFor(ctx context.Context, name string, pos eventlog.Position) error {
	return p.engine.WaitFor(ctx, name, pos)
}
