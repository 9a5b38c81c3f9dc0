package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	"github.com/devflow/backend/infra/app/apptest"
	"github.com/devflow/backend/infra/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// TestLoadgen_AgainstDevflow runs the load generator against the real service for a few
// seconds: what it reports as accepted is exactly what the event log holds, and the
// projection lag it reads from the service's /metrics drains to zero.
func TestLoadgen_AgainstDevflow(t *testing.T) {
	s := apptest.Start(t, map[string]string{"INSIGHTS_ENABLED": "false"})
	rep, _ := runJSON(t, "--base-url", s.URL, "--users", "3", "--batch", "100",
		"--rate", "2000", "--duration", "3s",
		"--lag-url", strings.TrimSuffix(s.URL, "/api/v1")+"/metrics", "--sample-interval", "100ms", "--drain-timeout", "30s")
	if rep.EventsAccepted == 0 || len(rep.Errors) != 0 {
		t.Fatalf("accepted %d, errors %v", rep.EventsAccepted, rep.Errors)
	}
	var stored int64
	err := s.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM events WHERE stream_id LIKE 'session-%' AND event_type <> $1`, telemetry.TypeSessionStarted).Scan(&stored)
	if err != nil {
		t.Fatal(err)
	}
	if stored != rep.EventsAccepted {
		t.Fatalf("loadgen reported %d accepted events, the event log holds %d", rep.EventsAccepted, stored)
	}
	if rep.Lag == nil || rep.Lag.DuringRun == nil || rep.Lag.Errors != 0 || rep.Lag.DrainSeconds == nil {
		t.Fatalf("projection lag not sampled from /metrics or never drained: %+v", rep.Lag)
	}
}

// One run gives the whole comparison: the raw CopyFrom ceiling of the server's own
// database, the HTTP run against it with projections live, the ratio of the two, the
// lag while sending, and how long an accepted event takes to show on the dashboard.
func TestLoadgen_BaselineRatioLagAndFreshnessInOneRun(t *testing.T) {
	// Payloads in plaintext (no DATA_KEY): the test reads them in SQL.
	s := apptest.Start(t, map[string]string{"INSIGHTS_ENABLED": "false", "DATA_KEY": ""})
	rep, _ := runJSON(t, "--base-url", s.URL, "--users", "2", "--batch", "100", "--duration", "1s",
		"--baseline", "copy", "--database-url", os.Getenv("DATABASE_URL"), "--freshness",
		"--lag-url", strings.TrimSuffix(s.URL, "/api/v1")+"/metrics", "--sample-interval", "100ms", "--drain-timeout", "30s")
	ctx := context.Background()

	b := rep.Baseline
	if b == nil || b.Kind != "copy" || b.Writers != 2 || b.EventsCopied == 0 || b.EventsCopied%100 != 0 || b.EventsPerSecond <= 0 {
		t.Fatalf("baseline: %+v, want full batches of 100 from 2 writers", b)
	}
	if rep.AcceptedToRaw == nil || math.Abs(*rep.AcceptedToRaw-rep.AcceptedPerSecond/b.EventsPerSecond) > 1e-9 {
		t.Errorf("ratio %v, want accepted %v ÷ raw %v", rep.AcceptedToRaw, rep.AcceptedPerSecond, b.EventsPerSecond)
	}
	var rawTables int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename LIKE 'loadgen_raw_events_%'`).Scan(&rawTables); err != nil {
		t.Fatal(err)
	}
	if rawTables != 0 {
		t.Errorf("%d raw baseline tables left behind", rawTables)
	}

	if l := rep.Lag; l == nil || l.Errors != 0 || l.DuringRun == nil || l.DuringRun.Seconds == nil || l.AfterSending == nil {
		t.Fatalf("projection lag not sampled while sending and after: %+v", l)
	}

	f := rep.Freshness
	if f == nil || f.Probes == 0 || f.Seen != f.Probes || f.Errors != 0 || f.MS == nil || f.MS.P50 <= 0 || f.MS.Max < f.MS.P99 {
		t.Fatalf("freshness: %+v", f)
	}
	// The probe's events are its own: the clients' accepted count is still exactly
	// what the log holds besides them.
	var probes, others int64
	err := s.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE data->'event'->>'workspace' = 'devflow-loadgen-probe'),
	                                    count(*) FILTER (WHERE data->'event'->>'workspace' <> 'devflow-loadgen-probe')
	                               FROM events WHERE stream_id LIKE 'session-%' AND event_type <> $1`, telemetry.TypeSessionStarted).Scan(&probes, &others)
	if err != nil {
		t.Fatal(err)
	}
	if probes != int64(f.Probes) || others != rep.EventsAccepted {
		t.Errorf("the log holds %d probe and %d client events; the report says %d probes, %d accepted", probes, others, f.Probes, rep.EventsAccepted)
	}

	var table bytes.Buffer
	if err := rep.writeTable(&table); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(table.String(), "\n")
	for key, want := range map[string]string{
		"accepted / raw CopyFrom":                   fmt.Sprintf("%.2f (%.0f / %.0f events/s)", *rep.AcceptedToRaw, rep.AcceptedPerSecond, b.EventsPerSecond),
		"projection lag during the run p50/p99/max": fmt.Sprintf("%.3f / %.3f / %.3f s", rep.Lag.DuringRun.Seconds.P50, rep.Lag.DuringRun.Seconds.P99, rep.Lag.DuringRun.Seconds.Max),
		"read-after-write p50/p99/max":              fmt.Sprintf("%.0f / %.0f / %.0f ms", f.MS.P50, f.MS.P99, f.MS.Max),
	} {
		i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, key+"  ") })
		if i < 0 || !strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(lines[i], key)), want) {
			t.Errorf("table row %q does not show %q:\n%s", key, want, table.String())
		}
		if key == "accepted / raw CopyFrom" && i != 0 {
			t.Errorf("the ratio is not the table's first row:\n%s", table.String())
		}
	}
}

// The baseline copies rows the way the ingest stores the same events: same stream,
// type, schema version, payload bytes and metadata fields.
func TestStoredRows_AreWhatTheIngestStores(t *testing.T) {
	// Payloads in plaintext (no DATA_KEY): the test reads them in SQL.
	s := apptest.Start(t, map[string]string{"INSIGHTS_ENABLED": "false", "DATA_KEY": ""})
	ctx := context.Background()
	r := newRunner(options{baseURL: s.URL, users: 1, timeout: 30 * time.Second}, io.Discard)
	cred, err := r.enrol(ctx, "rows@example.com", "rows-password")
	if err != nil {
		t.Fatal(err)
	}
	env := newClient(5, time.Now().Add(-time.Hour)).flush(60, time.Now())
	body, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/telemetry", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+cred.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /telemetry: %d", resp.StatusCode)
	}

	type stored struct {
		stream, typ, data string
		version           int64
		schema            int
		metaKeys          []string
	}
	metaKeys := func(meta []byte) []string {
		var m map[string]any
		if err := json.Unmarshal(meta, &m); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys
	}
	session, _ := ids.Parse(env.Events[0].SessionID)
	rows, err := s.Pool.Query(ctx, `SELECT stream_id, event_type, data::text, stream_version, schema_version, metadata::text
	                                  FROM events WHERE stream_id = $1 AND event_type <> $2 ORDER BY stream_version`,
		telemetry.StreamID(session), telemetry.TypeSessionStarted)
	if err != nil {
		t.Fatal(err)
	}
	var ingested []stored
	for rows.Next() {
		var st stored
		var meta []byte
		if err := rows.Scan(&st.stream, &st.typ, &st.data, &st.version, &st.schema, &meta); err != nil {
			t.Fatal(err)
		}
		st.metaKeys = metaKeys(meta)
		ingested = append(ingested, st)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}

	raw, err := storedRows(env, ids.New().String(), map[string]int64{})
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != len(env.Events) || len(ingested) != len(raw) {
		t.Fatalf("%d events, %d raw rows, the ingest stored %d", len(env.Events), len(raw), len(ingested))
	}
	for i, row := range raw {
		got := stored{stream: row[1].(string), version: row[2].(int64), typ: row[3].(string), schema: row[4].(int),
			data: string(row[5].([]byte)), metaKeys: metaKeys(row[6].([]byte))}
		want := ingested[i]
		// The ingest's stream starts with the session's SessionStarted; the raw
		// stream holds the client events alone.
		want.version -= ingested[0].version - 1
		if got.stream != want.stream || got.version != want.version || got.typ != want.typ || got.schema != want.schema ||
			got.data != want.data || !slices.Equal(got.metaKeys, want.metaKeys) {
			t.Fatalf("row %d:\nraw      %+v\ningested %+v", i, got, want)
		}
	}
}

// A raw writer copies its batches one transaction each, and counts exactly the rows
// it stored; the last batch takes what is left of -events.
func TestCopyWriter_OneTransactionPerBatchEveryRowCounted(t *testing.T) {
	pool := testdb.Pool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE raw_events (LIKE events INCLUDING ALL)`); err != nil {
		t.Fatal(err)
	}
	r := newRunner(options{users: 1, batch: 40, events: 190, seed: 11}, io.Discard)
	stop, cancel, budget := r.bounds(ctx)
	defer cancel()
	var copied atomic.Int64
	if err := r.copyWriter(ctx, stop, pool, pgx.Identifier{"raw_events"}, r.newClient(0, time.Now()), budget, &copied); err != nil {
		t.Fatal(err)
	}
	var rows, transactions, types int64
	err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT txid), count(DISTINCT event_type) FROM raw_events`).Scan(&rows, &transactions, &types)
	if err != nil {
		t.Fatal(err)
	}
	if copied.Load() != 190 || rows != 190 || transactions != 5 {
		t.Errorf("copied %d, stored %d rows in %d transactions; want 190 rows in 4 batches of 40 and one of 30", copied.Load(), rows, transactions)
	}
	if types < 3 {
		t.Errorf("%d event types among the rows: the workload's mix is missing", types)
	}
}
