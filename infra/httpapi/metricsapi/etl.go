package metricsapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/projections"
)

// ErrInFlight: another ETL run or a rebuild of a metrics projection is in progress.
var ErrInFlight = errors.New("ETL pass already in flight")

// ErrTimedOut: the projections did not reach the target within the wait limit.
var ErrTimedOut = errors.New("projection catch-up timed out")

// WaitLimit is the longest an ETL run waits (contract 12, fixed).
const WaitLimit = 60 * time.Second

// ETL is POST /metrics/etl/run: no ETL any more, but a bounded wait until the metrics
// projections have processed the log up to its head at the time of the call (D14).
type ETL struct {
	pool        *pgxpool.Pool
	store       eventlog.Store
	engine      *projections.Engine
	projections []string
	// Limit bounds the wait (WaitLimit unless changed before use).
	Limit time.Duration
}

// NewETL builds the runner for the named metrics projections.
func NewETL(pool *pgxpool.Pool, store eventlog.Store, engine *projections.Engine, names ...string) *ETL {
	if pool == nil || store == nil || engine == nil || len(names) == 0 {
		panic("metricsapi: nil dependency")
	}
	return &ETL{pool: pool, store: store, engine: engine, projections: names, Limit: WaitLimit}
}

// ETLResult is the 200 body of 3.18: watermarks are checkpoint ordinals (events of the
// log up to the checkpoint).
type ETLResult struct {
	Processed     int64
	Before, After int64
	Duration      time.Duration
}

// Run holds the maintenance locks of the metrics projections for the duration of the
// wait (ErrInFlight when another run or rebuild holds one), takes the log head, waits
// until every metrics projection has passed it (ErrTimedOut after the limit) and
// reports the lowest checkpoint ordinals before and after.
func (e *ETL) Run(ctx context.Context) (ETLResult, error) {
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return ETLResult{}, err
	}
	defer conn.Release()
	var locked []int64
	defer func() {
		for _, k := range locked {
			_, _ = conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, k)
		}
	}()
	for _, name := range e.projections {
		k := projections.MaintenanceLockKey(name)
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, k).Scan(&ok); err != nil {
			return ETLResult{}, err
		}
		if !ok {
			return ETLResult{}, ErrInFlight
		}
		locked = append(locked, k)
	}

	start := time.Now()
	before, err := e.lowestOrdinal(ctx)
	if err != nil {
		return ETLResult{}, err
	}
	head, err := e.store.Head(ctx)
	if err != nil {
		return ETLResult{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, e.Limit)
	defer cancel()
	for _, name := range e.projections {
		if err := e.engine.WaitFor(wctx, name, head); err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return ETLResult{}, ErrTimedOut
			}
			return ETLResult{}, fmt.Errorf("wait for %s: %w", name, err)
		}
	}
	after, err := e.lowestOrdinal(ctx)
	if err != nil {
		return ETLResult{}, err
	}
	return ETLResult{Processed: after - before, Before: before, After: after, Duration: time.Since(start)}, nil
}

func (e *ETL) lowestOrdinal(ctx context.Context) (int64, error) {
	lowest := int64(-1)
	for _, name := range e.projections {
		cp, err := e.engine.Checkpoint(ctx, name)
		if err != nil {
			return 0, err
		}
		if lowest < 0 || cp.Ordinal < lowest {
			lowest = cp.Ordinal
		}
	}
	return lowest, nil
}
