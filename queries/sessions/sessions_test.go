package sessions_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/devflow/backend/domain/ids"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/httpapi/telemetryapi/telemetryapitest"
	"github.com/devflow/backend/infra/testdb"
	sessionsprojection "github.com/devflow/backend/projections/sessions"
	"github.com/devflow/backend/queries/sessions"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func TestCurrentAndActiveSince(t *testing.T) {
	ctx := context.Background()
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	alice, bob, carol := e.NewUser(), e.NewUser(), e.NewUser()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	older, newer := ids.New(), ids.New()
	post := func(u telemetryapitest.User, events ...tt.Event) {
		t.Helper()
		if r := e.Do("POST", "/telemetry", u.Token, tt.Payload(events...)); r.Status != 202 {
			t.Fatal(r)
		}
	}
	// The newer session starts later, though the older one has the latest event.
	post(alice, tt.FileSave(newer.String(), at.Add(time.Hour), "a.ts", 1))
	post(alice, tt.FileSave(older.String(), at, "a.ts", 1), tt.FileSave(older.String(), at.Add(3*time.Hour), "a.ts", 1))
	post(bob, tt.FileSave(ids.New().String(), at.Add(-2*time.Hour), "b.ts", 1))
	e.Run(sessionsprojection.New(), 1000)

	cur, err := sessions.Current(ctx, e.Pool, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cur.ID != newer || cur.Owner != alice.ID || !cur.StartTime.Equal(at.Add(time.Hour)) || !cur.LastEventAt.Equal(at.Add(time.Hour)) {
		t.Fatalf("current session %+v", cur)
	}
	if _, err := sessions.Current(ctx, e.Pool, carol.ID); !errors.Is(err, sessions.ErrNoSession) {
		t.Fatalf("carol: %v, want ErrNoSession", err)
	}

	for _, c := range []struct {
		since time.Time
		want  []ids.ID
	}{
		{at.Add(3 * time.Hour), nil},                       // strictly later than since
		{at.Add(2 * time.Hour), []ids.ID{alice.ID}},        // alice's latest event is at +3h
		{at.Add(-3 * time.Hour), sorted(alice.ID, bob.ID)}, // bob's only event is at −2h
	} {
		got, err := sessions.ActiveSince(ctx, e.Pool, c.since)
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
