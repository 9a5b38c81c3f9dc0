// Package projections folds the event log into PostgreSQL read models. The engine runs
// each projection from its checkpoint, applying a batch and advancing the checkpoint in
// one transaction (exactly-once), with one runner per projection across all replicas;
// it also rebuilds projections blue/green and replays them into analysis schemas.
package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/eventlog"
)

// Projection is one read model maintained from the log.
type Projection interface {
	// Name identifies the projection (checkpoint key, CLI argument).
	Name() string
	// Version changes whenever the read model's meaning changes; a newer version
	// makes the service rebuild the projection blue/green on start.
	Version() int
	// Tables lists the read-model tables the projection owns, its private state
	// tables included. They live in the public schema and must not depend on
	// sequences owned by other tables (rebuild recreates them with LIKE ... INCLUDING ALL).
	Tables() []string
	// Apply folds a batch, in log order, inside the engine's transaction. SQL uses
	// unqualified table names: the engine sets search_path to the target schema.
	Apply(ctx context.Context, tx pgx.Tx, events []eventlog.Envelope) error
}

// Checkpoint is how far a projection has got in the log.
type Checkpoint struct {
	Name     string
	Version  int
	Position eventlog.Position
	// Ordinal counts the log events up to and including Position.
	Ordinal   int64
	UpdatedAt time.Time
	Error     string
}

// Runner states reported by Status and used by readiness.
const (
	StateStarting   = "starting"
	StateRunning    = "running"    // this replica runs the projection
	StateHeld       = "held"       // another replica runs it
	StateRebuilding = "rebuilding" // this replica rebuilds it after a version change
	StateFailing    = "failing"    // the last batch failed; retrying
	StateOutdated   = "outdated"   // the stored version is newer than this binary's
)

// Options tune the engine.
type Options struct {
	// BatchSize caps the events applied per transaction (METRICS_ETL_BATCH_SIZE).
	BatchSize int
	// IdleWait is the longest a caught-up runner sleeps before looking again when no
	// append notification arrives.
	IdleWait time.Duration
}

// Engine runs projections.
type Engine struct {
	pool        *pgxpool.Pool
	store       eventlog.Store
	log         *slog.Logger
	opts        Options
	projections []Projection

	mu       sync.Mutex
	states   map[string]string
	advanced chan struct{} // closed and replaced whenever a local runner commits a batch
	cancel   context.CancelFunc
	done     sync.WaitGroup
}

// NewEngine returns an engine for the given projections; Start runs them.
func NewEngine(pool *pgxpool.Pool, store eventlog.Store, logger *slog.Logger, opts Options, projections []Projection) *Engine {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 5000
	}
	if opts.IdleWait <= 0 {
		opts.IdleWait = 500 * time.Millisecond
	}
	states := map[string]string{}
	for _, p := range projections {
		states[p.Name()] = StateStarting
	}
	return &Engine{pool: pool, store: store, log: logger, opts: opts, projections: projections,
		states: states, advanced: make(chan struct{})}
}

// Projections lists the engine's projections.
func (e *Engine) Projections() []Projection { return e.projections }

// Start launches one runner per projection. Runners stop when Stop is called.
func (e *Engine) Start(ctx context.Context) error {
	for _, p := range e.projections {
		if err := ensureCheckpoint(ctx, e.pool, p); err != nil {
			return err
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	for _, p := range e.projections {
		e.done.Add(1)
		go func() {
			defer e.done.Done()
			e.run(runCtx, p)
		}()
	}
	return nil
}

// Stop ends the runners after their current batch (a batch is one transaction, so
// cancelling mid-batch rolls it back and loses nothing).
func (e *Engine) Stop(ctx context.Context) error {
	if e.cancel == nil {
		return nil
	}
	e.cancel()
	finished := make(chan struct{})
	go func() { e.done.Wait(); close(finished) }()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) setState(name, state string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.states[name] = state
}

// States reports each projection's runner state on this replica.
func (e *Engine) States() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]string, len(e.states))
	for k, v := range e.states {
		out[k] = v
	}
	return out
}

// Ready is nil when every projection is run here or by another replica and none is
// failing; otherwise it names the first that is not.
func (e *Engine) Ready() error {
	for name, state := range e.States() {
		if state != StateRunning && state != StateHeld && state != StateRebuilding {
			return fmt.Errorf("projection %s is %s", name, state)
		}
	}
	return nil
}

// run holds the projection's leader lock on a dedicated connection while it follows
// the log; replicas that do not get the lock retry now and then.
func (e *Engine) run(ctx context.Context, p Projection) {
	log := e.log.With("projection", p.Name())
	for ctx.Err() == nil {
		err := e.lead(ctx, p, log)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Error("projection runner failed", "error", err)
			e.setState(p.Name(), StateFailing)
		}
		sleep(ctx, 2*time.Second)
	}
}

func (e *Engine) lead(ctx context.Context, p Projection, log *slog.Logger) error {
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var leader bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey(p.Name())).Scan(&leader); err != nil {
		return err
	}
	if !leader {
		e.setState(p.Name(), StateHeld)
		return nil
	}
	defer func() {
		_, _ = conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, lockKey(p.Name()))
	}()
	log.Info("projection runner leading")

	cp, err := readCheckpoint(ctx, e.pool, p.Name())
	if err != nil {
		return err
	}
	switch {
	case cp.Version > p.Version():
		e.setState(p.Name(), StateOutdated)
		log.Warn("stored projection version is newer than this binary; not running it", "stored", cp.Version, "binary", p.Version())
		sleep(ctx, time.Minute)
		return nil
	case cp.Version == 0:
		// Never built: its tables are empty, so following the log from the start builds
		// it; there is no old read model to keep serving blue/green.
		if _, err := e.pool.Exec(ctx, `UPDATE projection_checkpoints SET version = $2 WHERE name = $1 AND version = 0`, p.Name(), p.Version()); err != nil {
			return err
		}
	case cp.Version < p.Version():
		e.setState(p.Name(), StateRebuilding)
		log.Info("projection version changed; rebuilding blue/green", "from", cp.Version, "to", p.Version())
		if err := Rebuild(ctx, e.pool, e.store, p, e.opts.BatchSize, logProgress(log)); err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
	}

	e.setState(p.Name(), StateRunning)
	for ctx.Err() == nil {
		// Leadership lives on conn: if it broke, the lock is gone; stop leading.
		if err := conn.Ping(ctx); err != nil {
			return fmt.Errorf("leader connection lost: %w", err)
		}
		n, err := Step(ctx, e.pool, e.store, p, "public", e.opts.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			e.setState(p.Name(), StateFailing)
			log.Error("projection batch failed; retrying", "error", err)
			recordError(e.pool, p.Name(), err)
			sleep(ctx, time.Second)
			continue
		}
		e.setState(p.Name(), StateRunning)
		if n > 0 {
			e.signalAdvanced()
			continue
		}
		// Nothing readable. Committed events may still wait behind an older open
		// transaction (the reader horizon): then look again soon rather than sleeping
		// until the next append is announced.
		wait := e.opts.IdleWait
		if e.behindHead(ctx, p.Name()) {
			wait = 20 * time.Millisecond
		}
		if err := e.store.WaitForAppend(ctx, wait); err != nil {
			return nil
		}
	}
	return nil
}

// behindHead reports whether committed events lie beyond the projection's checkpoint.
func (e *Engine) behindHead(ctx context.Context, name string) bool {
	cp, err := readCheckpoint(ctx, e.pool, name)
	if err != nil {
		return false
	}
	head, err := e.store.Head(ctx)
	return err == nil && cp.Position.Less(head)
}

func (e *Engine) signalAdvanced() {
	e.mu.Lock()
	defer e.mu.Unlock()
	close(e.advanced)
	e.advanced = make(chan struct{})
}

// WaitFor blocks until projection name has applied the log up to pos (read-your-writes
// after an append), on whichever replica runs it.
func (e *Engine) WaitFor(ctx context.Context, name string, pos eventlog.Position) error {
	for {
		e.mu.Lock()
		advanced := e.advanced
		e.mu.Unlock()
		cp, err := readCheckpoint(ctx, e.pool, name)
		if err != nil {
			return err
		}
		if !cp.Position.Less(pos) {
			return nil
		}
		select {
		case <-advanced:
		case <-time.After(20 * time.Millisecond): // another replica may be the runner
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Checkpoint reads a projection's checkpoint.
func (e *Engine) Checkpoint(ctx context.Context, name string) (Checkpoint, error) {
	return readCheckpoint(ctx, e.pool, name)
}

// Step applies at most one batch of projection p into schema and returns how many
// events it applied. The batch and the checkpoint commit together. The events are read
// before the transaction starts, so the transaction holds back every reader's horizon
// only while it applies. It then locks the checkpoint row first (as a rebuild's swap
// does, so the two cannot deadlock on the read-model tables) and applies only if no one
// moved the checkpoint meanwhile.
func Step(ctx context.Context, pool *pgxpool.Pool, store eventlog.Store, p Projection, schema string, batchSize int) (int, error) {
	cp, err := readCheckpoint(ctx, pool, p.Name())
	if err != nil {
		return 0, err
	}
	events, err := store.ReadAll(ctx, cp.Position, batchSize)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	applied := 0
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		locked, err := lockCheckpoint(ctx, tx, p.Name())
		if err != nil || locked.Position != cp.Position {
			return err // moved by someone else: read again from the new checkpoint
		}
		if err := applyBatch(ctx, tx, p, schema, events); err != nil {
			return err
		}
		last := events[len(events)-1].Position
		_, err = tx.Exec(ctx, `UPDATE projection_checkpoints
			SET commit_pos = $2, prepare_pos = $3, ordinal = ordinal + $4, updated_at = now(), error = NULL
			WHERE name = $1`, p.Name(), int64(last.Commit), int64(last.Prepare), len(events))
		applied = len(events)
		return err
	})
	if err != nil {
		return 0, err
	}
	return applied, nil
}

func applyBatch(ctx context.Context, tx pgx.Tx, p Projection, schema string, events []eventlog.Envelope) error {
	if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, pgx.Identifier{schema}.Sanitize()+", public"); err != nil {
		return err
	}
	if err := p.Apply(ctx, tx, events); err != nil {
		return fmt.Errorf("apply %s: %w", p.Name(), err)
	}
	_, err := tx.Exec(ctx, `SELECT set_config('search_path', 'public', true)`)
	return err
}

func ensureCheckpoint(ctx context.Context, pool *pgxpool.Pool, p Projection) error {
	// Version 0 marks a projection never built: its first runner follows the log from
	// the start.
	_, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, version) VALUES ($1, 0) ON CONFLICT DO NOTHING`, p.Name())
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", p.Name(), err)
	}
	return nil
}

const selectCheckpoint = `SELECT name, version, commit_pos, prepare_pos, ordinal, updated_at, coalesce(error, '') FROM projection_checkpoints WHERE name = $1`

func scanCheckpoint(row pgx.Row) (Checkpoint, error) {
	var cp Checkpoint
	var commit, prepare int64
	err := row.Scan(&cp.Name, &cp.Version, &commit, &prepare, &cp.Ordinal, &cp.UpdatedAt, &cp.Error)
	cp.Position = eventlog.Position{Commit: uint64(commit), Prepare: uint64(prepare)}
	return cp, err
}

func readCheckpoint(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name string) (Checkpoint, error) {
	cp, err := scanCheckpoint(db.QueryRow(ctx, selectCheckpoint, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return cp, fmt.Errorf("projection %q has no checkpoint", name)
	}
	return cp, err
}

func lockCheckpoint(ctx context.Context, tx pgx.Tx, name string) (Checkpoint, error) {
	cp, err := scanCheckpoint(tx.QueryRow(ctx, selectCheckpoint+` FOR UPDATE`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return cp, fmt.Errorf("projection %q has no checkpoint", name)
	}
	return cp, err
}

func recordError(pool *pgxpool.Pool, name string, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = pool.Exec(ctx, `UPDATE projection_checkpoints SET error = $2 WHERE name = $1`, name, cause.Error())
}

// lockKey is the advisory lock a projection's runner holds while it leads.
func lockKey(name string) int64 { return advisoryKey("devflow-projection:" + name) }

// MaintenanceLockKey is the advisory lock held by a rebuild of a projection and by an
// ETL run (POST /metrics/etl/run), so that either sees the other in flight anywhere in
// the deployment.
func MaintenanceLockKey(name string) int64 {
	return advisoryKey("devflow-projection-maintenance:" + name)
}

// advisoryKey is a stable 64-bit hash (FNV-1a) of a namespaced name.
func advisoryKey(s string) int64 {
	var h uint64 = 14695981039346656037
	for _, c := range []byte(s) {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return int64(h)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Status is a projection's progress as operators see it.
type Status struct {
	Checkpoint
	BinaryVersion int    // the version this binary builds
	State         string // this replica's runner state
	Head          eventlog.Position
	LagEvents     int64   // events between the checkpoint and the head
	LagSeconds    float64 // age of the oldest event not yet applied (see Status); 0 when caught up
}

// Status reports every projection's checkpoint against the log head.
func (e *Engine) Status(ctx context.Context) ([]Status, error) {
	head, err := e.store.Head(ctx)
	if err != nil {
		return nil, err
	}
	states := e.States()
	out := make([]Status, 0, len(e.projections))
	for _, p := range e.projections {
		cp, err := readCheckpoint(ctx, e.pool, p.Name())
		if err != nil {
			cp = Checkpoint{Name: p.Name()} // never started: the whole log is lag
		}
		s := Status{Checkpoint: cp, BinaryVersion: p.Version(), State: states[p.Name()], Head: head}
		if s.LagEvents, err = e.store.CountBetween(ctx, cp.Position, head); err != nil {
			return nil, err
		}
		if s.LagEvents > 0 {
			next, err := e.store.ReadAll(ctx, cp.Position, 1)
			if err != nil {
				return nil, err
			}
			// The oldest waiting event's age; while it cannot be read yet (an older
			// transaction is still open), how long the projection has not advanced.
			since := cp.UpdatedAt
			if len(next) > 0 {
				since = next[0].RecordedAt
			}
			s.LagSeconds = max(0, time.Since(since).Seconds())
		}
		out = append(out, s)
	}
	return out, nil
}
