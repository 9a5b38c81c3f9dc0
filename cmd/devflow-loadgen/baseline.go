package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
)

// The copy baseline is the ceiling the ingest is measured against: the rows the HTTP
// run's clients generate, shaped as the ingest stores them, written by raw pgx CopyFrom
// into a copy of the events table (its identity, defaults and indexes; a logged table,
// so the server's own durability applies), one transaction per batch, by as many
// writers as -users, for the same -duration or -events.
//
// It runs before the HTTP run rather than interleaved with it: interleaved, the
// projections would still be applying the HTTP run's events while the raw writers
// copy, so the ceiling would pay for the read side it is compared against.

// copyColumns are the events columns an append writes; the rest are defaults.
var copyColumns = []string{"event_id", "stream_id", "stream_version", "event_type", "schema_version", "data", "metadata"}

type baselineReport struct {
	Kind            string  `json:"kind"` // "copy": raw pgx CopyFrom, one transaction per batch
	Writers         int     `json:"writers"`
	BatchSize       int     `json:"batch_size"`
	ElapsedSeconds  float64 `json:"elapsed_seconds"`
	EventsCopied    int64   `json:"events_copied"`
	EventsPerSecond float64 `json:"events_per_second"`
}

func (r *runner) copyBaseline(ctx context.Context, runID string) (*baselineReport, error) {
	cfg, err := pgxpool.ParseConfig(r.o.databaseURL)
	if err != nil {
		return nil, fmt.Errorf("-database-url: %w", err)
	}
	cfg.MaxConns = int32(r.o.users)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	defer pool.Close()
	// Every writer's connection is open before the clock starts, as the server's are.
	conns := make([]*pgxpool.Conn, r.o.users)
	for i := range conns {
		if conns[i], err = pool.Acquire(ctx); err != nil {
			return nil, fmt.Errorf("baseline: connect: %w", err)
		}
	}
	for _, c := range conns {
		c.Release()
	}

	table := pgx.Identifier{"loadgen_raw_events_" + runID}
	if _, err := pool.Exec(ctx, "CREATE TABLE "+table.Sanitize()+" (LIKE events INCLUDING ALL)"); err != nil {
		return nil, fmt.Errorf("baseline: create the raw table: %w", err)
	}
	defer func() {
		dropCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(dropCtx, "DROP TABLE "+table.Sanitize()); err != nil {
			fmt.Fprintf(r.stderr, "devflow-loadgen: baseline: drop %s: %v\n", table.Sanitize(), err)
		}
	}()
	if !r.o.quiet {
		fmt.Fprintf(r.stderr, "baseline: raw CopyFrom, %d writers, batches of %d ...\n", r.o.users, r.o.batch)
	}

	stop, cancel, budget := r.bounds(ctx)
	defer cancel()
	var copied atomic.Int64
	errs := make([]error, r.o.users)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range r.o.users {
		c := r.newSimulator(i, start)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.copyWriter(ctx, stop, pool, table, c, budget, &copied)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	rep := &baselineReport{Kind: "copy", Writers: r.o.users, BatchSize: r.o.batch,
		ElapsedSeconds: elapsed.Seconds(), EventsCopied: copied.Load()}
	if elapsed > 0 {
		rep.EventsPerSecond = float64(rep.EventsCopied) / elapsed.Seconds()
	}
	return rep, nil
}

// copyWriter is one raw writer's loop, the counterpart of send: it generates each batch
// as a client would (so both phases spend the same on generating), then copies it in a
// transaction of its own. A batch begun before stop is finished and counted.
func (r *runner) copyWriter(ctx, stop context.Context, pool *pgxpool.Pool, table pgx.Identifier, c simulator, budget *atomic.Int64, copied *atomic.Int64) error {
	user := ids.New().String() // the metadata names the caller, as the ingest's does
	versions := map[string]int64{}
	for stop.Err() == nil {
		n := r.take(budget)
		if n == 0 {
			return nil
		}
		rows, err := c.stored(n, user, versions)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, table, copyColumns, pgx.CopyFromRows(rows))
			return err
		})
		if err != nil {
			return err
		}
		copied.Add(int64(n))
	}
	return nil
}

// storedRows are env's events as the ingest stores them (commands/telemetry): one row
// each in its session's stream, the next version of that stream, the payload recorded
// with the envelope's machine timestamp, the caller and receive time in the metadata.
// versions holds each stream's last version and is advanced.
func storedRows(env envelope, user string, versions map[string]int64) ([][]any, error) {
	machineTimestamp, err := json.Marshal(env.MachineTimestamp)
	if err != nil {
		return nil, err
	}
	meta, err := json.Marshal(eventlog.Metadata{UserID: user, ReceivedAt: time.Now().UTC(), RequestID: ids.New().String()})
	if err != nil {
		return nil, err
	}
	rows := make([][]any, len(env.Events))
	for i, e := range env.Events {
		session, err := ids.Parse(e.SessionID)
		if err != nil {
			return nil, err
		}
		payload, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		stream := telemetry.StreamID(session)
		versions[stream]++
		rows[i] = []any{[16]byte(ids.New()), stream, versions[stream], telemetry.EventType(e.Type),
			telemetry.SchemaVersion, telemetry.AppendRecorded(nil, machineTimestamp, payload), meta}
	}
	return rows, nil
}
