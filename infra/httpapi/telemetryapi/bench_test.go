package telemetryapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/devflow/backend/infra/testdb"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/httpapi/telemetryapi/telemetryapitest"
)

// BenchmarkIngest measures POST /telemetry end to end (HTTP request with a realistic
// extension batch, authenticated with an API token, answered 202 once committed) beside
// a raw pgx CopyFrom of the same rows (the stored events of the batch) into a copy of
// the events table, batch by batch, interleaved in one run so machine noise hits both
// alike. Both run on a cluster with PostgreSQL's default durability.
// ratio = ingest events/s ÷ raw-copy events/s (target ≥ 0.8).
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	pool := testdb.DurablePool(b)
	if _, err := pool.Exec(ctx, `CREATE TABLE raw_events (LIKE events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	e := telemetryapitest.NewOnPool(b, pool, telemetryapitest.Options{NoEngine: true})
	user := e.NewUser()
	columns := []string{"event_id", "stream_id", "stream_version", "event_type", "schema_version", "data", "metadata"}
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			// One extension session, as in real use: it outlives many batches.
			session := ids.New().String()
			g := tt.NewGenerator(uint64(size), session, time.Now().Add(-time.Hour))
			var version int64
			var ingestTime, rawTime time.Duration
			var bytes int64
			for n := 0; n < b.N; n++ {
				body := tt.Payload(g.Events(size)...)
				rows := rawRows(b, body, user.ID, session, &version)
				bytes += int64(len(body))

				start := time.Now()
				if r := e.Do("POST", "/telemetry", user.Token, body); r.Status != 202 {
					b.Fatalf("ingest: %s", r)
				}
				ingestTime += time.Since(start)

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
			b.ReportMetric(total/ingestTime.Seconds(), "ingest-events/s")
			b.ReportMetric(total/rawTime.Seconds(), "raw-copy-events/s")
			b.ReportMetric(rawTime.Seconds()/ingestTime.Seconds(), "ratio")
			b.ReportMetric(float64(bytes)/float64(b.N), "body-bytes/batch")
		})
	}
}

// BenchmarkIngestConcurrent is BenchmarkIngest with 8 extension clients sending at
// once (each its own user and session), as a deployment sees them, beside 8 concurrent
// raw CopyFrom writers of the same rows: a throughput ratio, where per-request latency
// (HTTP, token lookup, round trips) overlaps instead of adding up.
func BenchmarkIngestConcurrent(b *testing.B) {
	ctx := context.Background()
	pool := testdb.DurablePool(b)
	if _, err := pool.Exec(ctx, `CREATE TABLE raw_events (LIKE events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	e := telemetryapitest.NewOnPool(b, pool, telemetryapitest.Options{NoEngine: true})
	const clients = 8
	columns := []string{"event_id", "stream_id", "stream_version", "event_type", "schema_version", "data", "metadata"}
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d/clients=%d", size, clients), func(b *testing.B) {
			type work struct {
				token  string
				bodies [][]byte
				rows   [][][]any
			}
			var ws [clients]work
			for c := range ws {
				user := e.NewUser()
				session := ids.New().String()
				g := tt.NewGenerator(uint64(size*100+c), session, time.Now().Add(-time.Hour))
				var version int64
				ws[c].token = user.Token
				for n := c; n < b.N; n += clients {
					body := tt.Payload(g.Events(size)...)
					ws[c].bodies = append(ws[c].bodies, body)
					ws[c].rows = append(ws[c].rows, rawRows(b, body, user.ID, session, &version))
				}
			}
			run := func(each func(w work, i int) error) time.Duration {
				start := time.Now()
				var wg sync.WaitGroup
				for c := range ws {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range ws[c].bodies {
							if err := each(ws[c], i); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				return time.Since(start)
			}
			b.ResetTimer()
			ingestTime := run(func(w work, i int) error {
				if r := e.Do("POST", "/telemetry", w.token, w.bodies[i]); r.Status != 202 {
					return fmt.Errorf("ingest: %s", r)
				}
				return nil
			})
			rawTime := run(func(w work, i int) error {
				return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					_, err := tx.CopyFrom(ctx, pgx.Identifier{"raw_events"}, columns, pgx.CopyFromRows(w.rows[i]))
					return err
				})
			})
			total := float64(b.N * size)
			b.ReportMetric(total/ingestTime.Seconds(), "ingest-events/s")
			b.ReportMetric(total/rawTime.Seconds(), "raw-copy-events/s")
			b.ReportMetric(rawTime.Seconds()/ingestTime.Seconds(), "ratio")
		})
	}
}

// rawRows are the rows the ingest stores for body, as a raw copy would write them.
func rawRows(b *testing.B, body []byte, user ids.ID, session string, version *int64) [][]any {
	var d telemetry.Doc
	if err := d.Parse(body); err != nil {
		b.Fatal(err)
	}
	meta, _ := json.Marshal(eventlog.Metadata{UserID: user.String(), ReceivedAt: time.Now().UTC(), RequestID: "bench"})
	mt := d.Root().Get("machine_timestamp").Raw()
	var rows [][]any
	for _, ev := range d.Root().Get("events").Elements() {
		c, err := telemetry.Identify(ev)
		if err != nil {
			b.Fatal(err)
		}
		*version++
		rows = append(rows, []any{[16]byte(ids.New()), "session-" + session, *version, telemetry.EventType(c.ClientType), 1,
			telemetry.AppendRecorded(nil, mt, ev.Raw()), meta})
	}
	return rows
}
