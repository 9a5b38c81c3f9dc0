package sessions_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/devflow/backend/domain/ids"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections/projectionstest"
	sessionsprojection "github.com/devflow/backend/projections/sessions"
	"github.com/devflow/backend/queries/sessions"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func TestCurrentAndActiveSince(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Pool(t)
	alice, bob, carol := ids.New(), ids.New(), ids.New()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	older, newer := ids.New(), ids.New()
	var log tt.Log
	// The newer session starts later, though the older one has the latest event.
	log.Send(alice, tt.FileSave(newer.String(), at.Add(time.Hour), "a.ts", 1))
	log.Send(alice, tt.FileSave(older.String(), at, "a.ts", 1), tt.FileSave(older.String(), at.Add(3*time.Hour), "a.ts", 1))
	log.Send(bob, tt.FileSave(ids.New().String(), at.Add(-2*time.Hour), "b.ts", 1))
	projectionstest.Apply(t, pool, sessionsprojection.New(), log.Envelopes, 1000)

	cur, err := sessions.Current(ctx, pool, alice)
	if err != nil {
		t.Fatal(err)
	}
	if cur.ID != newer || cur.Owner != alice || !cur.StartTime.Equal(at.Add(time.Hour)) || !cur.LastEventAt.Equal(at.Add(time.Hour)) {
		t.Fatalf("current session %+v", cur)
	}
	if _, err := sessions.Current(ctx, pool, carol); !errors.Is(err, sessions.ErrNoSession) {
		t.Fatalf("carol: %v, want ErrNoSession", err)
	}

	for _, c := range []struct {
		since time.Time
		want  []ids.ID
	}{
		{at.Add(3 * time.Hour), nil},                 // strictly later than since
		{at.Add(2 * time.Hour), []ids.ID{alice}},     // alice's latest event is at +3h
		{at.Add(-3 * time.Hour), sorted(alice, bob)}, // bob's only event is at −2h
	} {
		got, err := sessions.ActiveSince(ctx, pool, c.since)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(c.want) || (len(got) > 0 && (got[0] != c.want[0] || got[len(got)-1] != c.want[len(c.want)-1])) {
			t.Fatalf("ActiveSince(%v) = %v, want %v", c.since, got, c.want)
		}
	}
}

func sorted(a, b ids.ID) []ids.ID {
	if a.String() < b.String() {
		return []ids.ID{a, b}
	}
	return []ids.ID{b, a}
}
