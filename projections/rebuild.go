package projections

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/eventlog"
)

// Progress describes a long pass over the log.
type Progress struct {
	Projection string
	Applied    int64 // events applied so far
	Total      int64 // events in the log when the pass started (it may grow)
	Rate       float64
	ETA        time.Duration
	Done       bool
}

// ProgressFunc receives progress now and then; it must be quick.
type ProgressFunc func(Progress)

type tracker struct {
	name    string
	head    eventlog.Position // the log head when the pass started
	total   int64
	applied int64
	start   time.Time
	last    time.Time
	report  ProgressFunc
}

func newTracker(ctx context.Context, store eventlog.Store, name string, report ProgressFunc) (*tracker, error) {
	head, err := store.Head(ctx)
	if err != nil {
		return nil, err
	}
	backlog, err := store.Backlog(ctx, eventlog.Start, head)
	if err != nil {
		return nil, err
	}
	total := backlog.Events
	now := time.Now()
	return &tracker{name: name, head: head, total: total, start: now, report: report}, nil
}

func (t *tracker) add(n int, done bool) {
	t.applied += int64(n)
	now := time.Now()
	if t.report == nil || (!done && now.Sub(t.last) < 200*time.Millisecond) {
		return
	}
	t.last = now
	p := Progress{Projection: t.name, Applied: t.applied, Total: max(t.total, t.applied), Done: done}
	if secs := now.Sub(t.start).Seconds(); secs > 0 {
		p.Rate = float64(t.applied) / secs
		if p.Rate > 0 {
			p.ETA = time.Duration(float64(p.Total-t.applied) / p.Rate * float64(time.Second))
		}
	}
	t.report(p)
}

func logProgress(log *slog.Logger) ProgressFunc {
	var last time.Time
	return func(p Progress) {
		if !p.Done && time.Since(last) < 5*time.Second {
			return
		}
		last = time.Now()
		log.Info("projection rebuild progress", "applied", p.Applied, "total", p.Total,
			"events_per_second", int64(p.Rate), "eta_seconds", int64(p.ETA.Seconds()), "done", p.Done)
	}
}

// createShadow makes schema hold empty copies of p's tables, and a parked_events table
// of its own for the events the pass cannot apply.
func createShadow(ctx context.Context, pool *pgxpool.Pool, p Projection, schema string, replace bool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		s := pgx.Identifier{schema}.Sanitize()
		if replace {
			if _, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+s+` CASCADE`); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA `+s); err != nil {
			return fmt.Errorf("create schema %s: %w", schema, err)
		}
		for _, table := range append(p.Tables(), "parked_events") {
			t := pgx.Identifier{table}.Sanitize()
			if _, err := tx.Exec(ctx, `CREATE TABLE `+s+`.`+t+` (LIKE public.`+t+` INCLUDING ALL)`); err != nil {
				return fmt.Errorf("create %s.%s: %w", schema, table, err)
			}
		}
		return nil
	})
}

// fill applies the log from Start into schema, batch by batch, until it has passed
// target (the head when the pass started), through the live runner's decode-and-apply
// path (parking what it cannot apply). Reading, decoding and applying run as three
// stages, each on the next page, so the log's reader, the decoder and the read model's
// writer work at once. Reads can come back empty before target while an older
// transaction is still open somewhere; then the reader waits for the log to move.
func fill(ctx context.Context, pool *pgxpool.Pool, store eventlog.Store, p Projection, schema string, batchSize int, target eventlog.Position, t *tracker) (eventlog.Position, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	types := handled(p)
	read := make(chan page, 2)
	go func() {
		defer close(read)
		for pos := eventlog.Start; pos.Less(target); {
			envs, err := store.ReadAll(ctx, pos, batchSize)
			if err == nil && len(envs) == 0 {
				err = store.WaitForAppend(ctx, 50*time.Millisecond)
				if err == nil {
					continue
				}
			}
			select {
			case read <- page{from: pos, envs: envs, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			pos = envs[len(envs)-1].Position
		}
	}()
	decoded := make(chan page, 2)
	go func() {
		defer close(decoded)
		var dec decoder
		for pg := range read {
			if pg.err == nil {
				pg.events, pg.failed = dec.decode(pg.envs, types)
			}
			select {
			case decoded <- pg:
			case <-ctx.Done():
				return
			}
		}
	}()
	pos := eventlog.Start
	for pg := range decoded {
		if pg.err != nil {
			return pos, pg.err
		}
		sh := shareOf(&member{handles: types}, pg.events, pg.failed)
		pass := func(careful bool) error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return applyPass(ctx, tx, p, schema, sh, careful) })
		}
		// A page that fails on an event's data is applied again with that event parked.
		if err := pass(false); err != nil && (!isPoison(err) || pass(true) != nil) {
			return pos, err
		}
		pos = pg.last()
		t.add(len(pg.events), false)
	}
	return pos, ctx.Err()
}

// applyPass applies a decoded page of a rebuild or replay into schema and parks (in
// schema's parked_events) what could not be decoded; careful also finds and parks the
// events p cannot apply, at the cost of savepoints.
func applyPass(ctx context.Context, tx pgx.Tx, p Projection, schema string, sh share, careful bool) error {
	parked := sh.parked
	if careful {
		more, err := applyIsolating(ctx, tx, p, schema, sh.events)
		if err != nil {
			return err
		}
		parked = append(parked, more...)
	} else if len(sh.events) > 0 {
		if err := applyBatch(ctx, tx, p, schema, sh.events); err != nil {
			return err
		}
	}
	if len(parked) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, pgx.Identifier{schema}.Sanitize()+", public"); err != nil {
		return err
	}
	return park(ctx, tx, p.Name(), parked)
}

func handled(p Projection) map[string]bool {
	types := map[string]bool{}
	for _, t := range p.Handles() {
		types[t] = true
	}
	return types
}

// Rebuild replays the whole log into fresh copies of p's tables while the live tables
// keep serving, then swaps them in atomically together with the checkpoint.
func Rebuild(ctx context.Context, pool *pgxpool.Pool, store eventlog.Store, p Projection, batchSize int, report ProgressFunc) error {
	if err := ensureCheckpoint(ctx, pool, p); err != nil {
		return err
	}
	// Held for the whole rebuild (waiting for a running ETL pass to end first), so an
	// ETL run anywhere answers 409 meanwhile and no two rebuilds of p overlap.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, MaintenanceLockKey(p.Name())); err != nil {
		return fmt.Errorf("rebuild %s: maintenance lock: %w", p.Name(), err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, MaintenanceLockKey(p.Name()))
	}()
	schema := "rebuild_" + p.Name()
	if err := createShadow(ctx, pool, p, schema, true); err != nil {
		return err
	}
	t, err := newTracker(ctx, store, p.Name(), report)
	if err != nil {
		return err
	}
	pos, err := fill(ctx, pool, store, p, schema, batchSize, t.head, t)
	if err != nil {
		return err
	}
	// The swap: lock the live checkpoint (the live runner waits), apply what arrived
	// since, replace the tables, and move the checkpoint, all in one transaction.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := lockCheckpoint(ctx, tx, p.Name()); err != nil {
			return err
		}
		types := handled(p)
		var dec decoder
		for {
			envs, err := store.ReadAll(ctx, pos, batchSize)
			if err != nil {
				return err
			}
			if len(envs) == 0 {
				break
			}
			events, failed := dec.decode(envs, types)
			if err := applyPass(ctx, tx, p, schema, shareOf(&member{handles: types}, events, failed), true); err != nil {
				return err
			}
			pos = envs[len(envs)-1].Position
			t.add(len(envs), false)
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('search_path', 'public', true)`); err != nil {
			return err
		}
		s := pgx.Identifier{schema}.Sanitize()
		// The rebuild's parked events replace the live ones of p.
		if _, err := tx.Exec(ctx, `DELETE FROM public.parked_events WHERE projection = $1`, p.Name()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO public.parked_events SELECT * FROM `+s+`.parked_events`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DROP TABLE `+s+`.parked_events`); err != nil {
			return err
		}
		for _, table := range p.Tables() {
			tb := pgx.Identifier{table}.Sanitize()
			if _, err := tx.Exec(ctx, `DROP TABLE public.`+tb); err != nil {
				return fmt.Errorf("swap %s: %w", table, err)
			}
			if _, err := tx.Exec(ctx, `ALTER TABLE `+s+`.`+tb+` SET SCHEMA public`); err != nil {
				return fmt.Errorf("swap %s: %w", table, err)
			}
		}
		if _, err := tx.Exec(ctx, `DROP SCHEMA `+s); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE projection_checkpoints
			SET version = $2, commit_pos = $3, prepare_pos = $4, ordinal = $5, updated_at = now(), error = NULL
			WHERE name = $1`, p.Name(), p.Version(), int64(pos.Commit), int64(pos.Prepare), t.applied)
		return err
	})
	if err != nil {
		return err
	}
	t.add(0, true)
	return nil
}

// Replay builds p from the whole log into schema (created fresh; it must not exist),
// leaving the live read model alone, so an analyst can compare old and new numbers in
// SQL. It returns the number of events applied.
func Replay(ctx context.Context, pool *pgxpool.Pool, store eventlog.Store, p Projection, schema string, batchSize int, report ProgressFunc) (int64, error) {
	if schema == "" || schema == "public" {
		return 0, fmt.Errorf("replay needs a schema other than public")
	}
	if err := createShadow(ctx, pool, p, schema, false); err != nil {
		return 0, err
	}
	t, err := newTracker(ctx, store, p.Name(), report)
	if err != nil {
		return 0, err
	}
	if _, err := fill(ctx, pool, store, p, schema, batchSize, t.head, t); err != nil {
		return t.applied, err
	}
	t.add(0, true)
	return t.applied, nil
}
