package recommendations_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/recommendation"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
	"github.com/devflow/backend/projections/recommendations"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

var (
	t0   = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	user = ids.MustParse("11111111-1111-4111-8111-111111111111")
)

func envelope(id ids.ID, version uint64, e eventlog.EventData) eventlog.Envelope {
	return eventlog.Envelope{ID: e.ID, StreamID: recommendation.StreamID(id), StreamVersion: version, Type: e.Type, SchemaVersion: e.SchemaVersion, Data: e.Data}
}

func apply(t *testing.T, pool *pgxpool.Pool, events []eventlog.Envelope) {
	t.Helper()
	decoded, err := projections.Decode(recommendations.New(), events)
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		writes := &pgx.Batch{}
		if err := recommendations.New().Apply(context.Background(), tx, decoded, writes); err != nil {
			return err
		}
		return tx.SendBatch(context.Background(), writes).Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func dump(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id::text || ' ' || state_type || ' ' || source || ' ' || coalesce(user_action, 'pending') || ' ' ||
		coalesce(to_char(acted_at AT TIME ZONE 'UTC', 'HH24:MI'), '-') || ' ' || evidence::text FROM recommendations ORDER BY created_at, seq`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestApply_FoldsTheLifecycleAndIsIdempotent(t *testing.T) {
	pool := testdb.Pool(t)
	a, b := ids.MustParse("aaaaaaaa-0000-4000-8000-000000000001"), ids.MustParse("bbbbbbbb-0000-4000-8000-000000000002")
	issueA, _ := recommendation.Issue(recommendation.Demo(a, user, ids.New(), t0))
	issueB, _ := recommendation.Issue(recommendation.Demo(b, user, ids.New(), t0.Add(time.Minute)))
	events := []eventlog.Envelope{
		envelope(a, 0, issueA),
		{Type: "TextChanged", StreamID: "session-x", Data: []byte(`{}`)}, // ignored
		envelope(a, 1, recommendation.Ending(a, user, recommendation.Expired, t0.Add(time.Minute))),
		envelope(b, 0, issueB),
		envelope(b, 1, recommendation.Ending(b, user, recommendation.Snoozed, t0.Add(5*time.Minute))),
	}
	apply(t, pool, events)
	want := []string{
		a.String() + ` demo demo expired 10:01 [{"value": 145, "metric": "duration_minutes"}, {"value": 220, "metric": "lines_added"}, {"value": 180, "metric": "lines_deleted"}, {"value": 0.82, "metric": "churn_ratio"}]`,
		b.String() + ` demo demo snoozed 10:05 [{"value": 145, "metric": "duration_minutes"}, {"value": 220, "metric": "lines_added"}, {"value": 180, "metric": "lines_deleted"}, {"value": 0.82, "metric": "churn_ratio"}]`,
	}
	got := dump(t, pool)
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("rows\n%v\nwant\n%v", got, want)
	}
	// Applying the same events again (a replay over live rows) changes nothing, and a
	// second end never overwrites the first.
	apply(t, pool, append(events, envelope(b, 2, recommendation.Ending(b, user, recommendation.Accepted, t0.Add(9*time.Minute)))))
	if again := dump(t, pool); again[0] != want[0] || again[1] != want[1] {
		t.Fatalf("after re-apply\n%v", again)
	}
}
