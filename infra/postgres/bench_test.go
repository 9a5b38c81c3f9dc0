package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
)

// telemetryEvent is a realistic stored text_change (about 650 bytes of JSON). Events
// of one request share their metadata, as in ingest.
func telemetryEvent(session string, i int, meta eventlog.Metadata) eventlog.EventData {
	data, _ := json.Marshal(map[string]any{
		"type": "text_change", "timestamp": time.Date(2026, 11, 27, 10, 0, 0, i*1e6, time.UTC).Format(time.RFC3339Nano),
		"workspace": "shop-api", "session_id": session,
		"file": map[string]any{"name": "cart.ts", "path": "src/cart/cart.ts", "absolute_path": "/home/dev/shop-api/src/cart/cart.ts",
			"extension": ".ts", "language": "typescript", "workspace": "shop-api", "lines": 212 + i%40, "size_bytes": 6841 + i},
		"metrics": map[string]any{"characters_added": 1, "characters_deleted": 0, "change_count": 1,
			"affected_line_ranges": []map[string]int{{"start": 88, "end": 88}}, "edit_duration_ms": 143,
			"is_large_paste": false, "is_possible_rewrite": false, "is_possible_undo_cycle": false},
		"machine_timestamp": "2026-11-27T10:15:02.118Z",
	})
	return eventlog.EventData{ID: ids.New(), Type: "TextChanged", SchemaVersion: 1, Data: data, Metadata: meta}
}

// BenchmarkAppend compares the event store's append with a raw pgx CopyFrom of the same
// rows into a table of the same definition, batch by batch, interleaved in one run so
// machine noise hits both alike. ratio = store events/s ÷ raw events/s.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	pool := testdb.DurablePool(b)
	if _, err := pool.Exec(ctx, `CREATE TABLE raw_events (LIKE events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	store := postgres.NewEventStore(pool)
	defer store.Close()
	columns := []string{"event_id", "stream_id", "stream_version", "event_type", "schema_version", "data", "metadata"}
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			var storeTime, rawTime time.Duration
			for n := 0; n < b.N; n++ {
				session := ids.New().String()
				meta := eventlog.Metadata{UserID: ids.New().String(), ReceivedAt: time.Now().UTC(), RequestID: "bench"}
				events := make([]eventlog.EventData, size)
				rows := make([][]any, size)
				for i := range events {
					events[i] = telemetryEvent(session, i, meta)
					meta, _ := json.Marshal(events[i].Metadata)
					rows[i] = []any{[16]byte(ids.New()), "session-" + session, int64(i), events[i].Type, 1, []byte(events[i].Data), meta}
				}
				start := time.Now()
				if _, err := store.Append(ctx, eventlog.Append{StreamID: "session-" + session, Expected: eventlog.NoStream(), Events: events}); err != nil {
					b.Fatal(err)
				}
				storeTime += time.Since(start)
				start = time.Now()
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					_, err := tx.CopyFrom(ctx, pgx.Identifier{"raw_events"}, columns, pgx.CopyFromRows(rows))
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				rawTime += time.Since(start)
			}
			total := float64(b.N * size)
			b.ReportMetric(total/storeTime.Seconds(), "store-events/s")
			b.ReportMetric(total/rawTime.Seconds(), "raw-copy-events/s")
			b.ReportMetric(rawTime.Seconds()/storeTime.Seconds(), "ratio")
		})
	}
}

// nop is a projection that does nothing, so its throughput is the engine's own:
// reading the log, one transaction and checkpoint per batch.
type nop struct{}

func (nop) Name() string                                                         { return "nop" }
func (nop) Version() int                                                         { return 1 }
func (nop) Tables() []string                                                     { return nil }
func (nop) Handles() []string                                                    { return nil }
func (nop) Apply(context.Context, pgx.Tx, []projections.Event, *pgx.Batch) error { return nil }

// BenchmarkProjectionEngine replays 200,000 events through a projection that does
// nothing, beside a raw sequential read of the same rows in log order (the baseline).
func BenchmarkProjectionEngine(b *testing.B) {
	ctx := context.Background()
	pool := testdb.DurablePool(b)
	store := postgres.NewEventStore(pool)
	defer store.Close()
	const total, batch = 200_000, 1000
	for s := 0; s < total/batch; s++ {
		session := ids.New().String()
		meta := eventlog.Metadata{UserID: ids.New().String(), ReceivedAt: time.Now().UTC(), RequestID: "bench"}
		events := make([]eventlog.EventData, batch)
		for i := range events {
			events[i] = telemetryEvent(session, i, meta)
		}
		if _, err := store.Append(ctx, eventlog.Append{StreamID: "session-" + session, Expected: eventlog.Any(), Events: events}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var engineTime, rawTime time.Duration
	for n := 0; n < b.N; n++ {
		start := time.Now()
		applied, err := projections.Replay(ctx, pool, store, nop{}, fmt.Sprintf("bench_%d", n), 5000, nil)
		if err != nil || applied != total {
			b.Fatalf("replay applied %d: %v", applied, err)
		}
		engineTime += time.Since(start)
		start = time.Now()
		var count int
		rows, err := pool.Query(ctx, `SELECT event_id, stream_id, stream_version, event_type, data, metadata, recorded_at FROM events ORDER BY events.txid, events.position`)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			count++
		}
		if rows.Err() != nil || count != total {
			b.Fatalf("raw read %d rows: %v", count, rows.Err())
		}
		rawTime += time.Since(start)
	}
	b.ReportMetric(float64(b.N*total)/engineTime.Seconds(), "engine-events/s")
	b.ReportMetric(float64(b.N*total)/rawTime.Seconds(), "raw-read-events/s")
	b.ReportMetric(rawTime.Seconds()/engineTime.Seconds(), "ratio")
}
