package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/eventlog/eventlogtest"
	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/projections"
	"github.com/devflow/backend/projections/heartbeats"
	"github.com/devflow/backend/projections/metrics"
	"github.com/devflow/backend/projections/recommendations"
	"github.com/devflow/backend/projections/sessions"
)

// history is a random history written straight into the log, in calls of random size:
// sessions of a few users, their SessionStarted first (some in schema version 1, which
// the decoder upcasts), then realistic client events, and the same users' WakaTime
// heartbeats.
func history(t *testing.T, ctx context.Context, store eventlog.Store, rng *rand.Rand, sessionsN, perSession int) {
	t.Helper()
	users := []ids.ID{ids.New(), ids.New(), ids.New()}
	for _, u := range users[:2] { // the third stays in UTC
		zone, err := accounts.Encode(accounts.TimeZoneChanged{UserID: u, TimeZone: "Europe/Berlin", ChangedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(ctx, eventlog.Append{StreamID: accounts.StreamID(u), Events: []eventlog.EventData{zone}}); err != nil {
			t.Fatal(err)
		}
	}
	for s := range sessionsN {
		user, session := users[rng.IntN(len(users))], ids.New()
		meta := eventlog.Metadata{UserID: user.String(), ReceivedAt: time.Now().UTC(), RequestID: fmt.Sprint(s)}
		// Sessions spread over a few days, some crossing midnight.
		at := time.Date(2026, 11, 20+rng.IntN(3), 23, rng.IntN(60), 0, 0, time.UTC)
		g := tt.NewGenerator(rng.Uint64(), session.String(), at)
		started := telemetry.SessionStarted{Owner: user, StartTime: at, Source: telemetry.SourceExtension}
		version := telemetry.SessionStartedVersion
		if rng.IntN(2) == 0 {
			version = 1
			started.Source = ""
		}
		data, _ := json.Marshal(started)
		events := []eventlog.EventData{{ID: telemetry.SessionStartedID(session, user), Type: telemetry.TypeSessionStarted,
			SchemaVersion: version, Data: data, Metadata: meta}}
		for range perSession {
			ev := g.Next()
			raw, _ := json.Marshal(ev)
			events = append(events, eventlog.EventData{ID: ids.New(), Type: telemetry.EventType(ev["type"].(string)),
				SchemaVersion: telemetry.SchemaVersion, Data: telemetry.AppendRecorded(nil, []byte(`"2026-11-27T10:15:02.118Z"`), raw), Metadata: meta})
		}
		for len(events) > 0 {
			n := min(len(events), 1+rng.IntN(60))
			if _, err := store.Append(ctx, eventlog.Append{StreamID: telemetry.StreamID(session), Events: events[:n]}); err != nil {
				t.Fatal(err)
			}
			events = events[n:]
		}
		// The same user's other editor, through the WakaTime API: file heartbeats that
		// switch between a few files and add and delete lines.
		var beats []eventlog.EventData
		for i := range 1 + rng.IntN(40) {
			raw, _ := json.Marshal(map[string]any{"entity": fmt.Sprintf("/src/f%d.go", rng.IntN(4)), "type": "file",
				"time":    float64(at.Add(time.Duration(i*(30+rng.IntN(900)))*time.Second).UnixMilli()) / 1000,
				"project": "api", "language": "Go", "line_additions": rng.IntN(5), "line_deletions": rng.IntN(3)})
			_, ev, err := heartbeat.Parse(user, raw, heartbeat.Client{UserAgent: "wakatime/v1.90.0 (linux) go1.22 vim/9.0 vim-wakatime/11.1.1", Machine: "box"},
				at.Add(48*time.Hour), 30*24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			beats = append(beats, ev)
		}
		if _, err := store.Append(ctx, eventlog.Append{StreamID: heartbeat.StreamID(user), Events: beats}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitAll waits until every named projection has passed the log head.
func waitAll(t *testing.T, e *projections.Engine, store eventlog.Store, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if err := e.WaitFor(ctx, name, head); err != nil {
			t.Fatalf("%s did not reach the head: %v", name, err)
		}
	}
}

// sameRows fails unless table holds the same rows in both schemas (and some rows).
func sameRows(t *testing.T, pool *pgxpool.Pool, table, a, b string) {
	t.Helper()
	ta, tb := pgx.Identifier{a, table}.Sanitize(), pgx.Identifier{b, table}.Sanitize()
	var onlyA, onlyB, total int
	err := pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT
		(SELECT count(*) FROM (TABLE %[1]s EXCEPT ALL TABLE %[2]s) x),
		(SELECT count(*) FROM (TABLE %[2]s EXCEPT ALL TABLE %[1]s) y),
		(SELECT count(*) FROM %[1]s)`, ta, tb)).Scan(&onlyA, &onlyB, &total)
	if err != nil {
		t.Fatal(err)
	}
	if onlyA != 0 || onlyB != 0 || total == 0 {
		t.Errorf("%s: %d rows only in %s, %d only in %s, %d in all", table, onlyA, a, onlyB, b, total)
	}
}

// The shared reader builds exactly what each projection builds reading the log on its
// own (a replay, the previous engine's way), whatever the batch boundaries, with a
// projection that starts from scratch while the others are at the head and catches up
// to join them, and with a rebuild at the end.
func TestEngine_SharedReadEqualsEachProjectionAlone(t *testing.T) {
	ctx := context.Background()
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			pool, store := setup(t)
			rng := rand.New(rand.NewPCG(seed, seed))
			batch := 3 + rng.IntN(40)
			ps := []projections.Projection{metrics.New(metrics.Options{}), sessions.New(), heartbeats.New(15 * time.Minute), recommendations.New()}
			opts := projections.Options{BatchSize: batch, IdleWait: 50 * time.Millisecond}
			e := projections.NewEngine(pool, store, quiet, opts, ps)
			if err := e.Start(ctx); err != nil {
				t.Fatal(err)
			}
			history(t, ctx, store, rng, 6, 80) // appended while the engine follows
			waitAll(t, e, store, metrics.Name, sessions.Name, heartbeats.Name)
			if err := e.Stop(ctx); err != nil {
				t.Fatal(err)
			}

			// sessions starts over (as a new projection would) while metrics is at the head.
			if _, err := pool.Exec(ctx, `TRUNCATE sessions, active_users;
				UPDATE projection_checkpoints SET commit_pos = 0, prepare_pos = 0, ordinal = 0 WHERE name = 'sessions'`); err != nil {
				t.Fatal(err)
			}
			e = projections.NewEngine(pool, store, quiet, opts, ps)
			if err := e.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = e.Stop(ctx) }()
			history(t, ctx, store, rng, 4, 80)
			waitAll(t, e, store, metrics.Name, sessions.Name, heartbeats.Name)

			for _, p := range ps[:3] {
				schema := "alone_" + p.Name()
				if _, err := projections.Replay(ctx, pool, store, p, schema, 1+rng.IntN(100), nil); err != nil {
					t.Fatal(err)
				}
				for _, table := range p.Tables() {
					sameRows(t, pool, table, "public", schema)
				}
			}
			recomputedDurations(t, pool)
			// The extension's activity is in the replayed heartbeats, sampled.
			var points, clientEvents int
			if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM heartbeats WHERE editor = 'vscode'),
				(SELECT count(*) FROM events WHERE stream_id LIKE 'session-%' AND event_type <> 'SessionStarted')`).Scan(&points, &clientEvents); err != nil {
				t.Fatal(err)
			}
			if points == 0 || points >= clientEvents/2 {
				t.Errorf("%d activity points of %d client events", points, clientEvents)
			}
			cps := map[string]int64{}
			for _, s := range must(e.Status(ctx)) {
				cps[s.Name] = s.Ordinal
			}
			var logged int64
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&logged); err != nil {
				t.Fatal(err)
			}
			if cps[metrics.Name] != logged || cps[sessions.Name] != logged || cps[heartbeats.Name] != logged || cps[recommendations.Name] != logged {
				t.Errorf("checkpoint ordinals %v, the log holds %d events", cps, logged)
			}

			if err := projections.Rebuild(ctx, pool, store, ps[0], batch, nil); err != nil {
				t.Fatal(err)
			}
			for _, table := range ps[0].Tables() {
				sameRows(t, pool, table, "public", "alone_metrics")
			}
		})
	}
}

// recomputedDurations fails unless heartbeat_durations, folded gap by gap with late
// heartbeats among them, holds what recomputing every day from the stored heartbeats
// gives (every user keeps one zone in history).
func recomputedDurations(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	zones := map[ids.ID]*time.Location{}
	rows, err := pool.Query(ctx, `SELECT DISTINCT h.user_id, coalesce(z.time_zone, 'UTC') FROM heartbeats h LEFT JOIN heartbeat_zones z USING (user_id)`)
	if err != nil {
		t.Fatal(err)
	}
	var u ids.ID
	var zone string
	if _, err := pgx.ForEachRow(rows, []any{&u, &zone}, func() error {
		zones[u] = must(time.LoadLocation(zone))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for user, loc := range zones {
		rows, err := pool.Query(ctx, `SELECT time, id, entity, category, project, branch, language, editor, os, machine
			FROM heartbeats WHERE user_id = $1 ORDER BY time, id`, user)
		if err != nil {
			t.Fatal(err)
		}
		beats, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (heartbeat.Heartbeat, error) {
			var h heartbeat.Heartbeat
			err := r.Scan(&h.Time, &h.ID, &h.Entity, &h.Category, &h.Project, &h.Branch, &h.Language, &h.Editor, &h.OS, &h.Machine)
			return h, err
		})
		if err != nil {
			t.Fatal(err)
		}
		first, last := heartbeat.DayOf(beats[0].Time, loc), heartbeat.DayOf(beats[len(beats)-1].Time, loc)
		for day := first; !day.After(last); day = day.AddDate(0, 0, 1) {
			start, end := heartbeat.Bounds(day, loc)
			for k, micros := range heartbeat.DayTotals(beats, start, end, 15*time.Minute) {
				want[fmt.Sprintf("%s %s %s %q", user, day.Format("2006-01-02"), k.Dimension, k.Value)] = micros
			}
		}
	}
	got := map[string]int64{}
	rows, err = pool.Query(ctx, `SELECT user_id, day, dimension, value, micros FROM heartbeat_durations`)
	if err != nil {
		t.Fatal(err)
	}
	var day time.Time
	var dim, value string
	var micros int64
	if _, err := pgx.ForEachRow(rows, []any{&u, &day, &dim, &value, &micros}, func() error {
		got[fmt.Sprintf("%s %s %s %q", u, day.Format("2006-01-02"), dim, value)] = micros
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("durations %s: %d µs, recomputed %d", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("durations %s: %d µs, recomputed none", k, got[k])
		}
	}
	if len(want) == 0 {
		t.Error("no durations")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// tally is a test projection with a table of its own: one row per applied event, so
// applying an event twice breaks the primary key. fail decides, per event, to fail the
// batch with an error that is not about the data (the projection is failing) or not.
type tally struct {
	name  string
	fail  func(e projections.Event) error
	fixed atomic.Bool // n is read as int, or as text after a fix
}

func (p *tally) Name() string      { return p.name }
func (p *tally) Version() int      { return 1 }
func (p *tally) Tables() []string  { return []string{p.name + "_seen"} }
func (p *tally) Handles() []string { return []string{"Counted", "Odd"} }
func (p *tally) table() string     { return pgx.Identifier{p.name + "_seen"}.Sanitize() }
func newTally(t *testing.T, pool *pgxpool.Pool, name string) *tally {
	t.Helper()
	p := &tally{name: name}
	if _, err := pool.Exec(context.Background(), `CREATE TABLE `+p.table()+` (event_id uuid PRIMARY KEY, n int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *tally) nType() string {
	if p.fixed.Load() {
		return "text"
	}
	return "int"
}

// Apply stores the event's "n": before the fix, an "Odd" event whose n is not a number fails
// with a PostgreSQL data exception (an event the projection cannot apply).
func (p *tally) Apply(ctx context.Context, tx pgx.Tx, events []projections.Event, _ *pgx.Batch) error {
	for _, e := range events {
		if p.fail != nil {
			if err := p.fail(e); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+p.table()+` (event_id, n) VALUES ($1, ($2::jsonb->>'n')::`+p.nType()+`)`, e.ID, e.Data); err != nil {
			return err
		}
	}
	return nil
}

func countRows(t *testing.T, pool *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEngine_AFailingProjectionDoesNotStopTheOthers(t *testing.T) {
	ctx := context.Background()
	pool, store := setup(t)
	healthy, failing := newTally(t, pool, "healthy"), newTally(t, pool, "failing")
	var broken atomic.Bool
	broken.Store(true)
	failing.fail = func(projections.Event) error {
		if broken.Load() {
			return errors.New("read model unavailable")
		}
		return nil
	}
	e := projections.NewEngine(pool, store, quiet, projections.Options{BatchSize: 30, IdleWait: 50 * time.Millisecond},
		[]projections.Projection{healthy, failing})
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Stop(ctx) }()
	appendEvents(t, store, 5, 40)
	waitAll(t, e, store, "healthy")
	if n := countRows(t, pool, "healthy_seen"); n != 200 {
		t.Fatalf("healthy applied %d events, want 200", n)
	}
	if n := countRows(t, pool, "failing_seen"); n != 0 {
		t.Fatalf("failing applied %d events", n)
	}
	// It keeps its error in the status, and the replica stays ready.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := statusOf(t, e, "failing")
		if st.State == projections.StateFailing && strings.Contains(st.Error, "read model unavailable") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of the failing projection: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := e.Ready(); err != nil {
		t.Fatalf("a failing projection made the replica unready: %v", err)
	}
	if problems, err := e.Problems(ctx); err != nil || len(problems) != 1 || problems[0] != "failing: failing" {
		t.Fatalf("problems %q, %v", problems, err)
	}
	// Once the cause is gone it resumes from its own checkpoint and catches up, exactly once.
	broken.Store(false)
	appendEvents(t, store, 2, 10)
	waitAll(t, e, store, "healthy", "failing")
	if a, b := countRows(t, pool, "healthy_seen"), countRows(t, pool, "failing_seen"); a != 220 || b != 220 {
		t.Fatalf("applied %d and %d events, want 220 each", a, b)
	}
	if st := statusOf(t, e, "failing"); st.Error != "" || st.State != projections.StateRunning {
		t.Fatalf("status after recovery: %+v", st)
	}
}

func statusOf(t *testing.T, e *projections.Engine, name string) projections.Status {
	t.Helper()
	for _, s := range must(e.Status(context.Background())) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for %s", name)
	return projections.Status{}
}

func TestEngine_ParksAnEventItCannotApplyAndGoesOn(t *testing.T) {
	ctx := context.Background()
	pool, store := setup(t)
	p := newTally(t, pool, "strict")
	e := projections.NewEngine(pool, store, quiet, projections.Options{BatchSize: 50, IdleWait: 50 * time.Millisecond},
		[]projections.Projection{p, metrics.New(metrics.Options{})})
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Stop(ctx) }()

	odd := eventlogtest.Event("Odd", `{"n":"not a number"}`)
	// A TextChanged whose payload is not a stored client event: metrics cannot decode it.
	garbled := eventlog.EventData{ID: ids.New(), Type: telemetry.TypeTextChanged, SchemaVersion: 1, Data: json.RawMessage(`{"event":5}`),
		Metadata: eventlog.Metadata{UserID: ids.New().String()}}
	appendEvents(t, store, 2, 20)
	if _, err := store.Append(ctx, eventlog.Append{StreamID: "odd-1", Events: []eventlog.EventData{odd}},
		eventlog.Append{StreamID: telemetry.StreamID(ids.New()), Events: []eventlog.EventData{garbled}}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, store, 2, 20)
	waitAll(t, e, store, "strict", metrics.Name)

	if n := countRows(t, pool, "strict_seen"); n != 80 {
		t.Fatalf("strict applied %d events, want the 80 good ones", n)
	}
	parked := must(e.ParkedCounts(ctx))
	if parked["strict"] != 1 || parked[metrics.Name] != 1 {
		t.Fatalf("parked %v, want one event for strict and one for metrics", parked)
	}
	var parkedID, reason string
	if err := pool.QueryRow(ctx, `SELECT event_id::text, error FROM parked_events WHERE projection = 'strict'`).Scan(&parkedID, &reason); err != nil {
		t.Fatal(err)
	}
	if parkedID != odd.ID.String() || !strings.Contains(reason, "invalid input syntax for type integer") {
		t.Fatalf("parked %s: %q", parkedID, reason)
	}
	if err := e.Ready(); err != nil {
		t.Fatalf("parked events made the replica unready: %v", err)
	}
	problems := must(e.Problems(ctx))
	if strings.Join(problems, "; ") != "strict: 1 parked events; metrics: 1 parked events" {
		t.Fatalf("problems %q", problems)
	}
	if st := statusOf(t, e, "strict"); st.Parked != 1 || st.LagEvents != 0 {
		t.Fatalf("status %+v", st)
	}

	// Retrying before a fix keeps it parked; after the fix it applies once and leaves the list.
	res, err := projections.RetryParked(ctx, pool, store, p)
	if err != nil || res.Applied != 0 || res.StillParked != 1 {
		t.Fatalf("retry before the fix: %+v, %v", res, err)
	}
	if _, err := pool.Exec(ctx, `ALTER TABLE strict_seen ALTER COLUMN n TYPE text`); err != nil {
		t.Fatal(err)
	}
	p.fixed.Store(true)
	if res, err := projections.RetryParked(ctx, pool, store, p); err != nil || res.Applied != 1 || res.StillParked != 0 {
		t.Fatalf("retry after the fix: %+v, %v", res, err)
	}
	if n := countRows(t, pool, "strict_seen"); n != 81 {
		t.Fatalf("strict holds %d events after the retry, want 81", n)
	}
	if parked := must(e.ParkedCounts(ctx)); parked["strict"] != 0 {
		t.Fatalf("still parked after a successful retry: %v", parked)
	}
}
