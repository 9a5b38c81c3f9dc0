// Package etl is the "ETL run" use case of POST /metrics/etl/run (contract 3.18,
// decision D14): there is no ETL any more, the metrics projections fold the log as it
// grows, so a run is a bounded wait until they have processed the log up to its head
// at the time of the call.
package etl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/devflow/backend/domain/eventlog"
)

// ErrInFlight: another ETL run or a rebuild of a metrics projection is in progress.
var ErrInFlight = errors.New("ETL pass already in flight")

// ErrTimedOut: the projections did not reach the target within the wait limit.
var ErrTimedOut = errors.New("projection catch-up timed out")

// WaitLimit is the longest a run waits (contract 12, fixed).
const WaitLimit = 60 * time.Second

// Log is the event log's head.
type Log interface {
	Head(ctx context.Context) (eventlog.Position, error)
}

// Projections is what a run needs of the projections.
type Projections interface {
	// LockMaintenance takes the maintenance locks of the named projections, the ones a
	// rebuild takes; ok=false (nothing held) when one is held elsewhere. release
	// frees them.
	LockMaintenance(ctx context.Context, names []string) (release func(), ok bool, err error)
	// Ordinal is a projection's checkpoint as a count of the log's events.
	Ordinal(ctx context.Context, name string) (int64, error)
	// WaitFor waits until the projection has processed the log up to pos.
	WaitFor(ctx context.Context, name string, pos eventlog.Position) error
}

// Result is the 200 body of 3.18: watermarks are checkpoint ordinals.
type Result struct {
	Processed     int64
	Before, After int64
	Duration      time.Duration
}

// RunHandler runs the wait for the named (metrics) projections.
type RunHandler struct {
	log         Log
	projections Projections
	names       []string
	// Limit bounds the wait (WaitLimit unless changed before use).
	Limit time.Duration
}

// NewRunHandler builds the handler.
func NewRunHandler(log Log, projections Projections, names ...string) *RunHandler {
	if log == nil || projections == nil || len(names) == 0 {
		panic("etl: nil dependency")
	}
	return &RunHandler{log: log, projections: projections, names: names, Limit: WaitLimit}
}

// Handle holds the projections' maintenance locks for the duration of the wait
// (ErrInFlight when another run or rebuild holds one), takes the log head, waits until
// every projection has passed it (ErrTimedOut after the limit) and reports the lowest
// checkpoint ordinals before and after.
func (h *RunHandler) Handle(ctx context.Context) (Result, error) {
	release, ok, err := h.projections.LockMaintenance(ctx, h.names)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		return Result{}, ErrInFlight
	}
	defer release()

	start := time.Now()
	before, err := h.lowestOrdinal(ctx)
	if err != nil {
		return Result{}, err
	}
	head, err := h.log.Head(ctx)
	if err != nil {
		return Result{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, h.Limit)
	defer cancel()
	for _, name := range h.names {
		if err := h.projections.WaitFor(wctx, name, head); err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return Result{}, ErrTimedOut
			}
			return Result{}, fmt.Errorf("wait for %s: %w", name, err)
		}
	}
	after, err := h.lowestOrdinal(ctx)
	if err != nil {
		return Result{}, err
	}
	return Result{Processed: after - before, Before: before, After: after, Duration: time.Since(start)}, nil
}

func (h *RunHandler) lowestOrdinal(ctx context.Context) (int64, error) {
	lowest := int64(-1)
	for _, name := range h.names {
		n, err := h.projections.Ordinal(ctx, name)
		if err != nil {
			return 0, err
		}
		if lowest < 0 || n < lowest {
			lowest = n
		}
	}
	return lowest, nil
}
