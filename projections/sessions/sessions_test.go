package sessions_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/devflow/backend/domain/ids"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/httpapi/telemetryapi/telemetryapitest"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
	"github.com/devflow/backend/projections/sessions"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func TestSessions_OwnerStartAndLatestEvent(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	alice, bob := e.NewUser(), e.NewUser()
	s1, s2, s3 := ids.New().String(), ids.New().String(), ids.New().String()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	post := func(u telemetryapitest.User, events ...tt.Event) {
		t.Helper()
		if r := e.Do("POST", "/telemetry", u.Token, tt.Payload(events...)); r.Status != 202 {
			t.Fatal(r)
		}
	}
	post(alice, tt.FileSave(s1, at.Add(5*time.Minute), "a.ts", 1), tt.FileSave(s1, at, "a.ts", 1), tt.GitActivity(s2, at.Add(time.Hour), "", 1))
	// A late event (earlier timestamp, later batch) moves neither start nor latest.
	post(alice, tt.DebugStart(s1, at.Add(-time.Hour)), tt.TerminalOpen(s1, at.Add(20*time.Minute), false))
	post(bob, tt.EditorSwitch(s3, at.Add(2*time.Hour), "", "b.ts", false))
	e.Run(sessions.New(), 2)

	want := "== sessions\n" +
		"(" + s1 + "," + alice.ID.String() + ",\"2026-11-27 10:00:00+00\",\"2026-11-27 10:20:00+00\")\n" +
		"(" + s2 + "," + alice.ID.String() + ",\"2026-11-27 11:00:00+00\",\"2026-11-27 11:00:00+00\")\n" +
		"(" + s3 + "," + bob.ID.String() + ",\"2026-11-27 12:00:00+00\",\"2026-11-27 12:00:00+00\")\n"
	got := e.Rows("public", "sessions")
	if sortLines(got) != sortLines(want) {
		t.Fatalf("sessions rows\n%s\nwant\n%s", got, want)
	}
	users := e.Rows("public", "active_users")
	wantUsers := "== active_users\n(" + alice.ID.String() + ",\"2026-11-27 11:00:00+00\")\n(" + bob.ID.String() + ",\"2026-11-27 12:00:00+00\")\n"
	if sortLines(users) != sortLines(wantUsers) {
		t.Fatalf("active_users rows\n%s\nwant\n%s", users, wantUsers)
	}

	if _, err := projections.Replay(context.Background(), e.Pool, e.Store, sessions.New(), "replayed", 1000, nil); err != nil {
		t.Fatal(err)
	}
	if r := e.Rows("replayed", "sessions", "active_users"); r != e.Rows("public", "sessions", "active_users") {
		t.Fatalf("replay differs:\n%s", r)
	}
}
