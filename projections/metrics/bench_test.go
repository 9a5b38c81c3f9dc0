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

// BenchmarkRebuild measures a blue/green rebuild of the metrics projection over a log
// of generated extension telemetry (BENCH_REBUILD_EVENTS, default 1,000,000 events:
// 200 sessions of 40 users), on a cluster with default durability. Beside it, in the
// same run, a pass that only reads the whole log (the floor any projection pays).
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
	var rebuildTime, readTime time.Duration
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
	}
	events := float64(b.N * appended)
	b.ReportMetric(float64(appended), "events")
	b.ReportMetric(events/rebuildTime.Seconds(), "rebuild-events/s")
	b.ReportMetric(events/readTime.Seconds(), "read-only-events/s")
	b.ReportMetric(rebuildTime.Seconds()/readTime.Seconds(), "rebuild/read-time")
}
