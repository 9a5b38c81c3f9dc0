package esdb_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/eventlog/eventlogtest"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
)

// The read models live in PostgreSQL whichever log is used.
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// folding is a projection whose rows depend on every event, on log order within a
// stream and on exactly-once application: per stream, the event count, the sum of "n",
// the types in the order applied and the last stream version seen. It folds only the
// streams of one fixture, so a real server's other streams do not count.
type folding struct{ prefix string }

func (folding) Name() string     { return "folding" }
func (folding) Version() int     { return 1 }
func (folding) Tables() []string { return []string{"folding_streams"} }

func (p folding) Apply(ctx context.Context, tx pgx.Tx, events []eventlog.Envelope) error {
	for _, e := range events {
		stream, ok := strings.CutPrefix(e.StreamID, p.prefix)
		if !ok {
			continue
		}
		if _, err := tx.Exec(ctx, `INSERT INTO folding_streams (stream_id, events, total, types, last_version, users)
			VALUES ($1, 1, ($2::jsonb->>'n')::bigint, $3, $4, $5)
			ON CONFLICT (stream_id) DO UPDATE SET events = folding_streams.events + 1,
				total = folding_streams.total + excluded.total,
				types = folding_streams.types || excluded.types,
				last_version = excluded.last_version,
				users = folding_streams.users || excluded.users`,
			stream, e.Data, e.Type, int64(e.StreamVersion), e.Metadata.UserID); err != nil {
			return err
		}
	}
	return nil
}

// fixture appends the same events, with the same ids, to any store: multi-stream
// calls, an idempotent retry and a conflicting call that must leave no trace.
type fixture struct {
	prefix  string
	batches [][]eventlog.Append
}

func newFixture(rounds int) fixture {
	f := fixture{prefix: "fold-" + ids.New().String() + "-"}
	for r := 0; r < rounds; r++ {
		var call []eventlog.Append
		for s := 0; s < 3; s++ {
			events := make([]eventlog.EventData, 1+(r+s)%4)
			for i := range events {
				events[i] = eventlogtest.Event(fmt.Sprintf("T%d", (r+i)%3), fmt.Sprintf(`{"n":%d}`, r*10+s+i))
				events[i].Metadata.UserID = fmt.Sprintf("u%d", s)
			}
			call = append(call, eventlog.Append{StreamID: fmt.Sprintf("%ss-%d", f.prefix, s), Expected: eventlog.Any(), Events: events})
		}
		f.batches = append(f.batches, call)
	}
	return f
}

// apply appends rounds [from, to) and returns the position of the last event written.
func (f fixture) apply(t *testing.T, store eventlog.Store, from, to int) eventlog.Position {
	t.Helper()
	ctx := context.Background()
	var last eventlog.Position
	for _, call := range f.batches[from:to] {
		res, err := store.Append(ctx, call...)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if last.Less(r.Position) {
				last = r.Position
			}
		}
		// A client retry of the same call writes nothing.
		again, err := store.Append(ctx, call...)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range again {
			if r.Appended != 0 {
				t.Fatalf("retry appended %d events to %s", r.Appended, r.StreamID)
			}
		}
	}
	// A stale expectation fails and writes nothing.
	if _, err := store.Append(ctx, eventlog.Append{StreamID: f.prefix + "s-0", Expected: eventlog.NoStream(), Events: []eventlog.EventData{eventlogtest.Event("Stale", `{"n":1000}`)}}); err == nil {
		t.Fatal("stale append succeeded")
	}
	return last
}

// runEngine runs the real engine over store with read models in a fresh database: a
// first part of the log is there before it starts (it builds the projection from it),
// the rest arrives while it runs (it follows through WaitForAppend). After each part
// the test waits for the projection to pass the part's last position, as a command
// does for read-your-writes. It returns the projection's rows.
func runEngine(t *testing.T, store eventlog.Store, f fixture) string {
	t.Helper()
	ctx := context.Background()
	pool := testdb.Pool(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE folding_streams (stream_id text PRIMARY KEY, events bigint NOT NULL,
		total bigint NOT NULL, types text NOT NULL, last_version bigint NOT NULL, users text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	engine := projections.NewEngine(pool, store, slog.New(slog.DiscardHandler),
		projections.Options{BatchSize: 7, IdleWait: time.Minute}, []projections.Projection{folding{prefix: f.prefix}})
	before := f.apply(t, store, 0, len(f.batches)/2)
	if err := engine.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = engine.Stop(ctx) }()
	waitFor(t, engine, before)
	// IdleWait is a minute: the live part arrives only through WaitForAppend's wake-ups.
	after := f.apply(t, store, len(f.batches)/2, len(f.batches))
	waitFor(t, engine, after)
	return foldedRows(t, pool)
}

func waitFor(t *testing.T, engine *projections.Engine, pos eventlog.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := engine.WaitFor(ctx, "folding", pos); err != nil {
		t.Fatalf("projection did not pass %v: %v", pos, err)
	}
}

func foldedRows(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var out string
	err := pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(format('%s:%s:%s:%s:%s:%s', stream_id, events, total, types, last_version, users), E'\n' ORDER BY stream_id), '')
		FROM folding_streams`).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEngine_ProjectionOverEventStoreDBMatchesPostgres(t *testing.T) {
	f := newFixture(12)

	pgStore := postgres.NewEventStore(testdb.Pool(t))
	t.Cleanup(pgStore.Close)
	want := runEngine(t, pgStore, f)
	if want == "" {
		t.Fatal("the projection over PostgreSQL produced no rows")
	}

	servers(t, func(t *testing.T, url func(t *testing.T) string) {
		got := runEngine(t, open(t, url(t)), f)
		if got != want {
			t.Fatalf("rows over EventStoreDB:\n%s\nwant (over PostgreSQL):\n%s", got, want)
		}
	})
}
