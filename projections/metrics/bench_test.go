package metrics_test

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
	"github.com/devflow/backend/projections/metrics"
)

// rawDailyAggregate is the baseline a SQL-only ETL would run: one pass over the log
// computing the daily read model (v1 lines, which SQL can compute without per-file
// state, switches and rapid switches) with a GROUP BY.
const rawDailyAggregate = `CREATE TEMP TABLE IF NOT EXISTS raw_daily AS SELECT NULL::text AS user_id, NULL::date AS day,
		0::bigint AS lines_added, 0::bigint AS lines_deleted, 0::bigint AS switches, 0::bigint AS rapid WITH NO DATA;
	TRUNCATE raw_daily;
	INSERT INTO raw_daily
	SELECT e.metadata->>'user_id',
	       ((e.data->'event'->>'timestamp')::timestamptz AT TIME ZONE 'UTC')::date,
	       sum(CASE WHEN (e.data->'event'->'metrics'->>'characters_added')::bigint > 0 THEN w.width ELSE 0 END),
	       sum(CASE WHEN (e.data->'event'->'metrics'->>'characters_deleted')::bigint > 0 THEN w.width ELSE 0 END),
	       count(*) FILTER (WHERE e.event_type = 'EditorSwitched'),
	       count(*) FILTER (WHERE e.event_type = 'EditorSwitched' AND (e.data->'event'->'metrics'->>'is_rapid_context_switching')::boolean)
	FROM events e
	LEFT JOIN LATERAL (
	    SELECT coalesce(sum((r->>'end')::bigint - (r->>'start')::bigint + 1), 0) AS width
	    FROM json_array_elements(CASE WHEN e.event_type = 'TextChanged'
	                                  THEN e.data->'event'->'metrics'->'affected_line_ranges' ELSE '[]'::json END) r
	) w ON true
	WHERE e.event_type IN ('TextChanged', 'EditorSwitched')
	GROUP BY 1, 2`

// BenchmarkRebuild measures a blue/green rebuild of the metrics projection over a log
// of generated extension telemetry (BENCH_REBUILD_EVENTS, default 1,000,000 events:
// 200 sessions of 40 users), on a cluster with default durability. Beside it, in the
// same run, a pass that only reads the whole log (the floor any projection pays).
// A third pass runs the same day aggregation as one raw SQL statement (the baseline of
// a SQL-only ETL, with none of the projection's guarantees).
// Target: rebuild ≥ 150,000 events/s.
func BenchmarkRebuild(b *testing.B) {
	ctx := context.Background()
	total := 1_000_000
	if s := os.Getenv("BENCH_REBUILD_EVENTS"); s != "" {
		total, _ = strconv.Atoi(s)
	}
	pool := testdb.DurablePool(b)
	store := postgres.NewEventStore(pool)
	defer store.Close()

	const perSession = 5000
	appended := 0
	for s := 0; appended < total; s++ {
		user, session := ids.New(), ids.New()
		if s%5 != 0 { // five sessions per user
			user = ids.FromContent(ids.Nil, []byte(strconv.Itoa(s/5)))
		}
		meta := eventlog.Metadata{UserID: user.String(), ReceivedAt: time.Now().UTC(), RequestID: "bench"}
		g := tt.NewGenerator(uint64(s), session.String(), time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC).Add(time.Duration(s)*time.Hour))
		n := min(perSession, total-appended)
		events := make([]eventlog.EventData, 0, n+1)
		started, _ := json.Marshal(telemetry.SessionStarted{Owner: user, StartTime: g.At})
		events = append(events, eventlog.EventData{ID: ids.New(), Type: telemetry.TypeSessionStarted, SchemaVersion: 1, Data: started, Metadata: meta})
		for range n - 1 {
			ev := g.Next()
			raw, _ := json.Marshal(ev)
			events = append(events, eventlog.EventData{ID: ids.New(), Type: telemetry.EventType(ev["type"].(string)), SchemaVersion: 1,
				Data: telemetry.AppendRecorded(nil, []byte(`"2026-11-27T10:15:02.118Z"`), raw), Metadata: meta})
		}
		if _, err := store.Append(ctx, eventlog.Append{StreamID: telemetry.StreamID(session), Expected: eventlog.NoStream(), Events: events}); err != nil {
			b.Fatal(err)
		}
		appended += len(events)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE events`); err != nil {
		b.Fatal(err)
	}

	p := metrics.New(metrics.Options{})
	var rebuildTime, readTime, sqlTime time.Duration
	for n := 0; n < b.N; n++ {
		start := time.Now()
		read := 0
		for pos := eventlog.Start; ; {
			batch, err := store.ReadAll(ctx, pos, 5000)
			if err != nil {
				b.Fatal(err)
			}
			if len(batch) == 0 {
				break
			}
			read += len(batch)
			pos = batch[len(batch)-1].Position
		}
		readTime += time.Since(start)
		if read != appended {
			b.Fatalf("read %d of %d events", read, appended)
		}

		start = time.Now()
		if err := projections.Rebuild(ctx, pool, store, p, 5000, nil); err != nil {
			b.Fatal(err)
		}
		rebuildTime += time.Since(start)

		start = time.Now()
		if _, err := pool.Exec(ctx, rawDailyAggregate); err != nil {
			b.Fatal(err)
		}
		sqlTime += time.Since(start)
		var sqlRows, projected int
		if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM raw_daily), (SELECT count(*) FROM metrics_daily)`).Scan(&sqlRows, &projected); err != nil || sqlRows != projected {
			b.Fatalf("the raw aggregate made %d day rows, the projection %d (%v)", sqlRows, projected, err)
		}
	}
	events := float64(b.N * appended)
	b.ReportMetric(float64(appended), "events")
	b.ReportMetric(events/rebuildTime.Seconds(), "rebuild-events/s")
	b.ReportMetric(events/readTime.Seconds(), "read-only-events/s")
	b.ReportMetric(events/sqlTime.Seconds(), "raw-sql-aggregate-events/s")
	b.ReportMetric(rebuildTime.Seconds()/readTime.Seconds(), "rebuild/read-time")
	b.ReportMetric(sqlTime.Seconds()/rebuildTime.Seconds(), "rebuild-vs-sql-speed")
}
