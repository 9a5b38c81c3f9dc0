package esdb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/eventlog/eventlogtest"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	"github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
	"github.com/devflow/backend/projections/metrics"
	"github.com/devflow/backend/projections/sessions"
)

// The read models live in PostgreSQL whichever log is used.
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// scenario is a log to build (append calls, in order) and the projections and tables
// to compare.
type scenario struct {
	calls       [][]eventlog.Append
	projections func() []projections.Projection // fresh instances per engine
	setup       string                          // SQL for tables that no migration creates
	tables      []string
}

// apply appends calls [from, to), each followed by its retry (which must write nothing)
// and returns the position of the last event written.
func (sc scenario) apply(t *testing.T, store eventlog.Store, from, to int) eventlog.Position {
	t.Helper()
	ctx := context.Background()
	var last eventlog.Position
	for _, call := range sc.calls[from:to] {
		res, err := store.Append(ctx, call...)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if last.Less(r.Position) {
				last = r.Position
			}
		}
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
	stale := eventlog.Append{StreamID: sc.calls[0][0].StreamID, Expected: eventlog.NoStream(), Events: []eventlog.EventData{eventlogtest.Event("Stale", `{"n":1000}`)}}
	if _, err := store.Append(ctx, stale); err == nil {
		t.Fatal("stale append succeeded")
	}
	return last
}

// run drives the real engine over store with read models in a fresh database: the
// first half of the log is there before it starts (it builds the projections from it),
// the rest arrives while it runs (it follows through WaitForAppend; IdleWait is a
// second only so that a wake-up lost while the subscription is being set up cannot
// stall the test: waking through the subscription is tested in store_test.go). After
// each half the test waits for every projection to pass the half's last position, as
// a command does for read-your-writes. It returns the tables' rows.
func (sc scenario) run(t *testing.T, store eventlog.Store) string {
	t.Helper()
	ctx := context.Background()
	pool := testdb.Pool(t)
	if sc.setup != "" {
		if _, err := pool.Exec(ctx, sc.setup); err != nil {
			t.Fatal(err)
		}
	}
	ps := sc.projections()
	engine := projections.NewEngine(pool, store, slog.New(slog.DiscardHandler), projections.Options{BatchSize: 7, IdleWait: time.Second}, ps)
	half := len(sc.calls) / 2
	before := sc.apply(t, store, 0, half)
	if err := engine.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = engine.Stop(ctx) }()
	waitFor(t, engine, ps, before)
	after := sc.apply(t, store, half, len(sc.calls))
	waitFor(t, engine, ps, after)
	var out strings.Builder
	for _, table := range sc.tables {
		var rows string
		err := pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) || E'\n' || coalesce(string_agg(t::text, E'\n' ORDER BY t::text), '') FROM %s t`,
			pgx.Identifier{table}.Sanitize())).Scan(&rows)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s: %s\n", table, rows)
	}
	return out.String()
}

func waitFor(t *testing.T, engine *projections.Engine, ps []projections.Projection, pos eventlog.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, p := range ps {
		if err := engine.WaitFor(ctx, p.Name(), pos); err != nil {
			t.Fatalf("projection %s did not pass %v: %v", p.Name(), pos, err)
		}
	}
}

// compare runs the scenario over PostgreSQL, then over EventStoreDB, and compares.
func compare(t *testing.T, sc scenario) {
	pgStore := postgres.NewEventStore(testdb.Pool(t))
	t.Cleanup(pgStore.Close)
	want := sc.run(t, pgStore)
	servers(t, func(t *testing.T, url func(t *testing.T) string) {
		if got := sc.run(t, open(t, url(t))); got != want {
			t.Fatalf("read models over EventStoreDB:\n%s\nwant (over PostgreSQL):\n%s", got, want)
		}
	})
}

// The telemetry read models (metrics with line counting v2, which depends on event
// order within a session, and sessions) from ingest-shaped events: per request, a
// batch of client events to one session stream, the first one opening it.
func TestEngine_TelemetryProjectionsOverEventStoreDBMatchPostgres(t *testing.T) {
	start := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	var calls [][]eventlog.Append
	var sessionsN int
	for u := 0; u < 3; u++ {
		user := ids.New()
		for s := 0; s < 2; s++ {
			session := ids.New()
			sessionsN++
			gen := telemetrytest.NewGenerator(uint64(10*u+s), session.String(), start.Add(time.Duration(u*s)*time.Hour))
			stream := telemetry.StreamID(session)
			opened := telemetrytest.Stamp(gen.At)
			for req := 0; req < 4; req++ {
				var events []eventlog.EventData
				expected := eventlog.Any()
				if req == 0 {
					data, err := json.Marshal(telemetry.SessionStarted{Owner: user, StartTime: gen.At})
					if err != nil {
						t.Fatal(err)
					}
					events = append(events, eventlog.EventData{ID: telemetry.SessionStartedID(session, user), Type: telemetry.TypeSessionStarted,
						SchemaVersion: telemetry.SchemaVersion, Data: data, Metadata: eventlog.Metadata{UserID: user.String(), ReceivedAt: gen.At}})
					expected = eventlog.NoStream()
				}
				for _, ev := range gen.Events(25) {
					raw, err := json.Marshal(ev)
					if err != nil {
						t.Fatal(err)
					}
					id, _ := telemetry.EventID(user, raw, nil)
					events = append(events, eventlog.EventData{ID: id, Type: telemetry.EventType(ev["type"].(string)), SchemaVersion: telemetry.SchemaVersion,
						Data:     telemetry.AppendRecorded(nil, []byte(`"`+opened+`"`), raw),
						Metadata: eventlog.Metadata{UserID: user.String(), ReceivedAt: gen.At, Client: "vscode"}})
				}
				calls = append(calls, []eventlog.Append{{StreamID: stream, Expected: expected, Events: events}})
			}
		}
	}
	// Interleave the sessions' requests, as concurrent clients would.
	var interleaved [][]eventlog.Append
	for req := 0; req < 4; req++ {
		for s := 0; s < sessionsN; s++ {
			interleaved = append(interleaved, calls[s*4+req])
		}
	}
	compare(t, scenario{
		calls: interleaved,
		projections: func() []projections.Projection {
			return []projections.Projection{metrics.New(metrics.Options{}), sessions.New()}
		},
		tables: []string{"metrics_daily", "metrics_daily_files", "metrics_session", "metrics_session_files", "metrics_file_lines", "sessions", "active_users"},
	})
}

// folding's rows depend on every event, on log order within a stream, on metadata and
// on exactly-once application; its streams are written by multi-stream calls. It folds
// only the streams under its prefix: a real server holds other tests' streams.
type folding struct{ prefix string }

func (folding) Name() string     { return "folding" }
func (folding) Version() int     { return 1 }
func (folding) Tables() []string { return []string{"folding_streams"} }

func (folding) Handles() []string { return []string{"T0", "T1", "T2", "Stale"} }

func (p folding) Apply(ctx context.Context, tx pgx.Tx, events []projections.Event, _ *pgx.Batch) error {
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

// foldingCalls builds rounds of three-stream calls under a fresh stream prefix.
func foldingCalls(rounds int) (prefix string, calls [][]eventlog.Append) {
	prefix = "fold-" + ids.New().String() + "-"
	for r := 0; r < rounds; r++ {
		var call []eventlog.Append
		for s := 0; s < 3; s++ {
			events := make([]eventlog.EventData, 1+(r+s)%4)
			for i := range events {
				events[i] = eventlogtest.Event(fmt.Sprintf("T%d", (r+i)%3), fmt.Sprintf(`{"n":%d}`, r*10+s+i))
				events[i].Metadata.UserID = fmt.Sprintf("u%d", s)
			}
			call = append(call, eventlog.Append{StreamID: fmt.Sprintf("%ss%d", prefix, s), Expected: eventlog.Any(), Events: events})
		}
		calls = append(calls, call)
	}
	return prefix, calls
}

func TestEngine_MultiStreamFoldOverEventStoreDBMatchesPostgres(t *testing.T) {
	prefix, calls := foldingCalls(12)
	compare(t, scenario{
		calls:       calls,
		projections: func() []projections.Projection { return []projections.Projection{folding{prefix}} },
		setup: `CREATE TABLE folding_streams (stream_id text PRIMARY KEY, events bigint NOT NULL,
			total bigint NOT NULL, types text NOT NULL, last_version bigint NOT NULL, users text NOT NULL)`,
		tables: []string{"folding_streams"},
	})
}
