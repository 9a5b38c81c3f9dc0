package heartbeats_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
	"github.com/devflow/backend/projections/heartbeats"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// A morning with the extension and a WakaTime plugin on two machines, sent the way
// clients send: the extension's events in time order but one late (of an earlier
// sampling window, whose point is stored already), then machine m1's bulk, then m2's
// bulk of the same minutes, late. Whatever the batch boundaries, the fold gives one
// sequence (10:00:10 ext, 10:01 m2, 10:02:30 ext, 10:03 m1, 10:04 m2, 10:05 m1), each
// gap counted once for the heartbeat that opens it.
func TestProjection_LateAndConcurrentHeartbeatsFoldAsOneSequence(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Pool(t)
	store := postgres.NewEventStore(pool)
	t.Cleanup(store.Close)
	user, session := ids.New(), ids.New()
	at := func(m, s int) time.Time { return time.Date(2026, 12, 3, 10, m, s, 0, time.UTC) }
	meta := eventlog.Metadata{UserID: user.String(), ReceivedAt: at(10, 0), RequestID: "r"}
	client := func(evs ...tt.Event) []eventlog.EventData {
		var out []eventlog.EventData
		for _, ev := range evs {
			raw, _ := json.Marshal(ev)
			out = append(out, eventlog.EventData{ID: ids.New(), Type: telemetry.EventType(ev["type"].(string)), SchemaVersion: telemetry.SchemaVersion,
				Data: telemetry.AppendRecorded(nil, []byte(`"2026-12-03T10:06:00.000Z"`), raw), Metadata: meta})
		}
		return out
	}
	plugin := func(machine, project string, times ...time.Time) []eventlog.EventData {
		var out []eventlog.EventData
		for _, tm := range times {
			raw, _ := json.Marshal(map[string]any{"entity": "/src/" + project + ".go", "type": "file", "time": tm.Unix(), "project": project, "language": "Go"})
			_, ev, err := heartbeat.Parse(user, raw, heartbeat.Client{UserAgent: "wakatime/v1.90.0 (linux) go1.22 vim/9.0 vim-wakatime/11.1.1", Machine: machine}, at(30, 0), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ev)
		}
		return out
	}
	text := func(m, s int) tt.Event {
		return tt.TextChange(session.String(), at(m, s), "src/a.ts", 120, 1, 0, tt.Range{Start: 3, End: 3})
	}
	for _, a := range []eventlog.Append{
		{StreamID: telemetry.StreamID(session), Events: client(text(0, 10), text(0, 50), text(2, 30))},
		{StreamID: telemetry.StreamID(session), Events: client(text(1, 40))}, // the 10:00 window's point is stored
		{StreamID: heartbeat.StreamID(user), Events: plugin("m1", "api", at(3, 0), at(5, 0))},
		{StreamID: heartbeat.StreamID(user), Events: plugin("m2", "web", at(1, 0), at(4, 0))},
	} {
		if _, err := store.Append(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	want := "total=290 | editor:vim=210 editor:vscode=80 | machine:Unknown=80 machine:m1=60 machine:m2=150 | " +
		"project:api=60 project:shop-api=80 project:web=150 | heartbeats=6"
	for _, batch := range []int{1, 2, 3, 100} {
		schema := fmt.Sprintf("batch_%d", batch)
		if _, err := projections.Replay(ctx, pool, store, heartbeats.New(15*time.Minute), schema, batch, nil); err != nil {
			t.Fatal(err)
		}
		got, err := summary(ctx, pool, schema)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("batches of %d:\n got %s\nwant %s", batch, got, want)
		}
	}
}

// summary is a schema's durations of the total, editors, machines and projects in whole
// seconds, and its count of heartbeats.
func summary(ctx context.Context, pool *pgxpool.Pool, schema string) (string, error) {
	rows, err := pool.Query(ctx, fmt.Sprintf(`SELECT dimension, value, micros FROM %s.heartbeat_durations
		WHERE dimension IN ('total', 'editor', 'machine', 'project') ORDER BY dimension <> 'total', dimension, value`, schema))
	if err != nil {
		return "", err
	}
	var out, last string
	var dim, value string
	var micros int64
	_, err = pgx.ForEachRow(rows, []any{&dim, &value, &micros}, func() error {
		switch {
		case dim == "total":
			out += fmt.Sprintf("total=%d", micros/1e6)
			return nil
		case dim != last:
			out += " |"
		}
		last = dim
		out += fmt.Sprintf(" %s:%s=%d", dim, value, micros/1e6)
		return nil
	})
	if err != nil {
		return "", err
	}
	var n int
	err = pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s.heartbeats`, schema)).Scan(&n)
	return fmt.Sprintf("%s | heartbeats=%d", out, n), err
}
