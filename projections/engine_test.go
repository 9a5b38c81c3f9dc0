package projections_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/eventlog/eventlogtest"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// counting is a trivial projection: per stream, how many events and the sum of their
// "n" fields, plus one row per applied event id (a second apply of one event breaks
// the primary key, so exactly-once is checked by the schema itself).
type counting struct {
	version int
	onApply func(ctx context.Context, tx pgx.Tx) error
	inApply *atomic.Int32
	overlap *atomic.Bool
}

func (c *counting) Name() string     { return "counting" }
func (c *counting) Version() int     { return c.version }
func (c *counting) Tables() []string { return []string{"counting_streams", "counting_seen"} }

func (c *counting) Handles() []string { return []string{"Counted"} }

func (c *counting) Apply(ctx context.Context, tx pgx.Tx, events []projections.Event, _ *pgx.Batch) error {
	if c.inApply != nil {
		if c.inApply.Add(1) > 1 {
			c.overlap.Store(true)
		}
		defer c.inApply.Add(-1)
		time.Sleep(2 * time.Millisecond)
	}
	for _, e := range events {
		if _, err := tx.Exec(ctx, `INSERT INTO counting_seen (event_id) VALUES ($1)`, e.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO counting_streams (stream_id, events, total)
			VALUES ($1, 1, ($2::jsonb->>'n')::bigint)
			ON CONFLICT (stream_id) DO UPDATE SET events = counting_streams.events + 1, total = counting_streams.total + excluded.total`,
			e.StreamID, e.Data); err != nil {
			return err
		}
		if c.onApply != nil {
			if err := c.onApply(ctx, tx); err != nil {
				return err
			}
		}
	}
	return nil
}

func setup(t *testing.T) (*pgxpool.Pool, *postgres.EventStore) {
	pool := testdb.Pool(t)
	_, err := pool.Exec(context.Background(), `
		CREATE TABLE counting_streams (stream_id text PRIMARY KEY, events bigint NOT NULL, total bigint NOT NULL);
		CREATE TABLE counting_seen (event_id uuid PRIMARY KEY)`)
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewEventStore(pool)
	t.Cleanup(store.Close)
	return pool, store
}

func appendEvents(t *testing.T, store eventlog.Store, streams, perStream int) {
	t.Helper()
	for s := 0; s < streams; s++ {
		events := make([]eventlog.EventData, perStream)
		for i := range events {
			events[i] = eventlogtest.Event("Counted", fmt.Sprintf(`{"n":%d}`, i+1))
		}
		if _, err := store.Append(context.Background(), eventlog.Append{StreamID: fmt.Sprintf("s-%03d", s), Expected: eventlog.Any(), Events: events}); err != nil {
			t.Fatal(err)
		}
	}
}

func rows(t *testing.T, pool *pgxpool.Pool, schema string) string {
	t.Helper()
	var out string
	err := pool.QueryRow(context.Background(), fmt.Sprintf(
		`SELECT coalesce(string_agg(format('%%s:%%s:%%s', stream_id, events, total), ',' ORDER BY stream_id), '') FROM %s.counting_streams`,
		pgx.Identifier{schema}.Sanitize())).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runToEnd steps until the checkpoint passes the log head. A step can apply nothing
// while some older transaction elsewhere in the cluster is still open, so an empty step
// alone does not mean caught up.
func runToEnd(t *testing.T, pool *pgxpool.Pool, store eventlog.Store, p projections.Projection, batch int) {
	t.Helper()
	ctx := context.Background()
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for checkpoint(t, pool).Position.Less(head) {
		if time.Now().After(deadline) {
			t.Fatal("projection did not reach the head within a minute")
		}
		n, err := projections.Step(ctx, pool, store, p, batch)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			_ = store.WaitForAppend(ctx, 20*time.Millisecond)
		}
	}
}

// startEngine runs an engine with one projection until the test ends.
func startEngine(t *testing.T, pool *pgxpool.Pool, store eventlog.Store, opts projections.Options, p projections.Projection) *projections.Engine {
	t.Helper()
	e := projections.NewEngine(pool, store, quiet, opts, []projections.Projection{p})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	return e
}

// waitForHead waits, up to limit, until the counting projection has passed the log's
// current head.
func waitForHead(t *testing.T, e *projections.Engine, store eventlog.Store, limit time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return e.WaitFor(ctx, "counting", head)
}

func expected(streams, perStream int) string {
	s := ""
	for i := 0; i < streams; i++ {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf("s-%03d:%d:%d", i, perStream, perStream*(perStream+1)/2)
	}
	return s
}

func TestStep_InterruptedBatchesApplyExactlyOnce(t *testing.T) {
	ctx := context.Background()
	pool, store := setup(t)
	appendEvents(t, store, 10, 50)
	p := &counting{version: 1}
	if _, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, version) VALUES ('counting', 1)`); err != nil {
		t.Fatal(err)
	}
	applied := 0
	// Every few events, break the batch: cancel its context, or kill its connection.
	interruptions := 0
	p.onApply = func(ctx context.Context, tx pgx.Tx) error {
		applied++
		if applied%53 != 0 { // longer than a batch, so every other attempt gets through
			return nil
		}
		interruptions++
		if interruptions%2 == 0 {
			_, err := tx.Exec(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
			if err == nil {
				return errors.New("connection survived termination")
			}
			return err
		}
		return context.Canceled
	}
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for checkpoint(t, pool).Position.Less(head) {
		// An interrupted batch rolls back; the next step tries again.
		if n, err := projections.Step(ctx, pool, store, p, 40); err == nil && n == 0 {
			_ = store.WaitForAppend(ctx, 20*time.Millisecond)
		}
	}
	if interruptions < 10 {
		t.Fatalf("only %d interruptions; the test did not exercise failure", interruptions)
	}
	if got, want := rows(t, pool, "public"), expected(10, 50); got != want {
		t.Fatalf("rows after interrupted run:\n%s\nwant\n%s", got, want)
	}
	cp := checkpoint(t, pool)
	if cp.Ordinal != 500 {
		t.Fatalf("ordinal = %d, want 500", cp.Ordinal)
	}
}

func checkpoint(t *testing.T, pool *pgxpool.Pool) projections.Checkpoint {
	t.Helper()
	e := projections.NewEngine(pool, nil, quiet, projections.Options{}, nil)
	cp, err := e.Checkpoint(context.Background(), "counting")
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func TestRebuildAndReplay_MatchIncremental(t *testing.T) {
	ctx := context.Background()
	pool, store := setup(t)
	p := &counting{version: 1}
	if _, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, version) VALUES ('counting', 1)`); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, store, 7, 30)
	runToEnd(t, pool, store, p, 25)
	incremental := rows(t, pool, "public")

	var reports atomic.Int32
	applied, err := projections.Replay(ctx, pool, store, p, "analysis", 16, func(projections.Progress) { reports.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	if applied != 210 || reports.Load() == 0 {
		t.Fatalf("replay applied %d events with %d progress reports", applied, reports.Load())
	}
	if got := rows(t, pool, "analysis"); got != incremental {
		t.Fatalf("replay rows\n%s\nwant\n%s", got, incremental)
	}
	if _, err := projections.Replay(ctx, pool, store, p, "analysis", 16, nil); err == nil {
		t.Fatal("replay into an existing schema succeeded; it must refuse to mix results")
	}

	p.version = 2
	if err := projections.Rebuild(ctx, pool, store, p, 16, nil); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, pool, "public"); got != incremental {
		t.Fatalf("rebuilt rows\n%s\nwant\n%s", got, incremental)
	}
	cp := checkpoint(t, pool)
	if cp.Version != 2 || cp.Ordinal != 210 {
		t.Fatalf("checkpoint after rebuild = %+v, want version 2, ordinal 210", cp)
	}
	// After the swap, incremental projection continues on the rebuilt tables.
	appendEvents(t, store, 7, 30)
	runToEnd(t, pool, store, p, 25)
	var total int64
	if err := pool.QueryRow(ctx, `SELECT sum(events) FROM counting_streams`).Scan(&total); err != nil || total != 420 {
		t.Fatalf("events counted after rebuild and more appends = %d, %v; want 420", total, err)
	}
}

func TestEngines_TwoReplicasNeverRunOneProjectionAtOnce(t *testing.T) {
	ctx := context.Background()
	pool, store := setup(t)
	var inApply atomic.Int32
	var overlap atomic.Bool
	// Each engine has its own pool, as two processes would.
	url := pool.Config().ConnString()
	var engines []*projections.Engine
	for i := 0; i < 2; i++ {
		own, err := postgres.NewPool(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(own.Close)
		ownStore := postgres.NewEventStore(own)
		t.Cleanup(ownStore.Close)
		p := &counting{version: 1, inApply: &inApply, overlap: &overlap}
		e := projections.NewEngine(own, ownStore, quiet, projections.Options{BatchSize: 10, IdleWait: 20 * time.Millisecond}, []projections.Projection{p})
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Stop(context.Background()) })
		engines = append(engines, e)
	}
	appendEvents(t, store, 20, 25)
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := engines[0].WaitFor(waitCtx, "counting", head); err != nil {
		t.Fatal(err)
	}
	if overlap.Load() {
		t.Fatal("two engines applied batches of one projection at the same time")
	}
	states := []string{engines[0].States()["counting"], engines[1].States()["counting"]}
	if !(states[0] == projections.StateRunning && states[1] == projections.StateHeld ||
		states[1] == projections.StateRunning && states[0] == projections.StateHeld) {
		t.Fatalf("states = %v, want one running and one held", states)
	}
	if got, want := rows(t, pool, "public"), expected(20, 25); got != want {
		t.Fatalf("rows\n%s\nwant\n%s", got, want)
	}
	for _, e := range engines {
		if err := e.Ready(); err != nil {
			t.Fatalf("engine not ready: %v", err)
		}
	}
}

func TestEngine_RebuildsBlueGreenWhenTheVersionGoesUp(t *testing.T) {
	ctx := context.Background()
	pool, store := setup(t)
	appendEvents(t, store, 4, 10)
	if _, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, version) VALUES ('counting', 1)`); err != nil {
		t.Fatal(err)
	}
	runToEnd(t, pool, store, &counting{version: 1}, 7)
	// Version 1 counted wrongly (say); the fixed version 2 must replace its rows.
	if _, err := pool.Exec(ctx, `UPDATE counting_streams SET total = -1`); err != nil {
		t.Fatal(err)
	}
	startEngine(t, pool, store, projections.Options{BatchSize: 7, IdleWait: 20 * time.Millisecond}, &counting{version: 2})
	for deadline := time.Now().Add(time.Minute); checkpoint(t, pool).Version != 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the engine did not rebuild to version 2 within a minute")
		}
	}
	if got, want := rows(t, pool, "public"), expected(4, 10); got != want {
		t.Fatalf("rows after the version rebuild\n%s\nwant\n%s", got, want)
	}
}

// TestRebuild_WhileTheLiveRunnerFollowsAppends is the operator's case: `devflow
// projections rebuild` while the service's runner follows a log that keeps growing.
// The swap and the live batches take turns; the rows end exactly right.
func TestRebuild_WhileTheLiveRunnerFollowsAppends(t *testing.T) {
	ctx := context.Background()
	pool, store := setup(t)
	e := startEngine(t, pool, store, projections.Options{BatchSize: 5, IdleWait: 10 * time.Millisecond}, &counting{version: 1})
	stopAppending := make(chan struct{})
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for round := 0; ; round++ {
			select {
			case <-stopAppending:
				return
			default:
			}
			events := []eventlog.EventData{eventlogtest.Event("Counted", `{"n":1}`)}
			if _, err := store.Append(ctx, eventlog.Append{StreamID: fmt.Sprintf("s-%03d", round%6), Expected: eventlog.Any(), Events: events}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; i < 3; i++ {
		if err := projections.Rebuild(ctx, pool, store, &counting{version: 1}, 7, nil); err != nil {
			t.Fatalf("rebuild %d while the runner is live: %v", i, err)
		}
	}
	close(stopAppending)
	<-appended
	if err := waitForHead(t, e, store, time.Minute); err != nil {
		t.Fatal(err)
	}
	var total, events int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events), (SELECT coalesce(sum(events), 0) FROM counting_streams)`).Scan(&events, &total); err != nil {
		t.Fatal(err)
	}
	if total != events || events == 0 {
		t.Fatalf("read model counts %d events, the log holds %d", total, events)
	}
}

// holdHorizon opens a transaction with a transaction id, which holds the reader horizon
// (no later append is readable) until it ends; it is rolled back when the test ends.
func holdHorizon(t *testing.T, pool *pgxpool.Pool) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	older, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = older.Rollback(ctx) })
	if _, err := older.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	return older
}

// TestEngine_AppliesEventsReleasedByAnOlderTransaction: an event whose append was
// announced while an older transaction held the reader horizon becomes readable later
// without any new announcement; the runner must not sleep its whole idle wait on it.
func TestEngine_AppliesEventsReleasedByAnOlderTransaction(t *testing.T) {
	ctx := context.Background()
	pool, store := setup(t)
	e := startEngine(t, pool, store, projections.Options{BatchSize: 10, IdleWait: 10 * time.Minute}, &counting{version: 1})
	// Let the runner lead and go idle first.
	appendEvents(t, store, 1, 1)
	if err := waitForHead(t, e, store, time.Minute); err != nil {
		t.Fatal(err)
	}

	// An older transaction with a transaction id holds the horizon...
	older := holdHorizon(t, pool)
	// ...while an append commits and is announced, but cannot be read yet.
	appendEvents(t, store, 1, 1)
	time.Sleep(100 * time.Millisecond)
	if err := older.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := waitForHead(t, e, store, 30*time.Second); err != nil {
		t.Fatalf("the runner did not apply the released event within 30 s (idle wait is 10 min): %v", err)
	}
}

// The lag is the age of the oldest event not applied yet, even while the reader may not
// take it (an older transaction holds the horizon): not how long the projection sat
// idle before the event came.
func TestEngine_LagIsTheAgeOfTheOldestEventNotApplied(t *testing.T) {
	ctx := context.Background()
	pool, store := setup(t)
	e := startEngine(t, pool, store, projections.Options{BatchSize: 10, IdleWait: 10 * time.Minute}, &counting{version: 1})
	appendEvents(t, store, 1, 1)
	if err := waitForHead(t, e, store, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE projection_checkpoints SET updated_at = now() - interval '1 hour' WHERE name = 'counting'`); err != nil {
		t.Fatal(err)
	}
	older := holdHorizon(t, pool)
	appendEvents(t, store, 1, 1)
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE events SET recorded_at = now() - interval '5 minutes' WHERE position = $1`, int64(head.Prepare)); err != nil {
		t.Fatal(err)
	}
	statuses, err := e.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := statuses[0]; s.LagEvents != 1 || s.LagSeconds < 300 || s.LagSeconds > 1800 {
		t.Fatalf("lag = %d events, %.0f s; want 1 event of about 300 s (the event's age, not the hour the projection sat idle)", s.LagEvents, s.LagSeconds)
	}
	if err := older.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := waitForHead(t, e, store, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}
