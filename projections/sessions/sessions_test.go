package sessions_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/ids"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections/projectionstest"
	"github.com/devflow/backend/projections/sessions"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func TestSessions_OwnerStartAndLatestEvent(t *testing.T) {
	pool := testdb.Pool(t)
	alice, bob := ids.New(), ids.New()
	s1, s2, s3 := ids.New().String(), ids.New().String(), ids.New().String()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	var log tt.Log
	log.Send(alice, tt.FileSave(s1, at.Add(5*time.Minute), "a.ts", 1), tt.FileSave(s1, at, "a.ts", 1), tt.GitActivity(s2, at.Add(time.Hour), "", 1))
	// A late event (earlier timestamp, later batch) moves neither start nor latest.
	log.Send(alice, tt.DebugStart(s1, at.Add(-time.Hour)), tt.TerminalOpen(s1, at.Add(20*time.Minute), false))
	log.Send(bob, tt.EditorSwitch(s3, at.Add(2*time.Hour), "", "b.ts", false))
	projectionstest.Apply(t, pool, sessions.New(), log.Envelopes, 2) // batches cut through sessions

	want := "(" + s1 + "," + alice.String() + ",\"2026-11-27 10:00:00+00\",\"2026-11-27 10:20:00+00\")\n" +
		"(" + s2 + "," + alice.String() + ",\"2026-11-27 11:00:00+00\",\"2026-11-27 11:00:00+00\")\n" +
		"(" + s3 + "," + bob.String() + ",\"2026-11-27 12:00:00+00\",\"2026-11-27 12:00:00+00\")"
	if got := rows(t, pool, "sessions"); got != sortLines(want) {
		t.Fatalf("sessions rows\n%s\nwant\n%s", got, want)
	}
	wantUsers := "(" + alice.String() + ",\"2026-11-27 11:00:00+00\")\n(" + bob.String() + ",\"2026-11-27 12:00:00+00\")"
	if got := rows(t, pool, "active_users"); got != sortLines(wantUsers) {
		t.Fatalf("active_users rows\n%s\nwant\n%s", got, wantUsers)
	}
}

func rows(t *testing.T, pool *pgxpool.Pool, table string) string {
	return sortLines(strings.TrimPrefix(projectionstest.Rows(t, pool, "public", table), "== "+table+"\n"))
}
