package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/infra/app/apptest"
)

// The heartbeat workload against the real service: every heartbeat it reports accepted
// is a HeartbeatRecorded event in the log, the projections fold them into coding time,
// and the copy baseline writes the same kind of rows.
func TestLoadgen_HeartbeatWorkloadAgainstDevflow(t *testing.T) {
	s := apptest.Start(t, map[string]string{"INSIGHTS_ENABLED": "false", "DATA_KEY": ""})
	rep, _ := runJSON(t, "--workload", "heartbeats", "--base-url", s.URL, "--users", "2", "--batch", "25", "--duration", "1s",
		"--baseline", "copy", "--database-url", os.Getenv("DATABASE_URL"),
		"--lag-url", strings.TrimSuffix(s.URL, "/api/v1")+"/metrics", "--sample-interval", "100ms", "--drain-timeout", "30s")
	if rep.Workload != "heartbeats" || rep.EventsAccepted == 0 || rep.EventsRejected != 0 || len(rep.Errors) != 0 {
		t.Fatalf("workload %q: accepted %d, rejected %d, errors %v", rep.Workload, rep.EventsAccepted, rep.EventsRejected, rep.Errors)
	}
	ctx := context.Background()
	var stored, users int64
	var seconds float64
	err := s.Pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT stream_id) FROM events WHERE event_type = $1`, heartbeat.TypeRecorded).Scan(&stored, &users)
	if err != nil {
		t.Fatal(err)
	}
	if stored != rep.EventsAccepted || users != 2 {
		t.Errorf("loadgen reported %d accepted heartbeats, the log holds %d in %d streams", rep.EventsAccepted, stored, users)
	}
	if err := s.Pool.QueryRow(ctx, `SELECT coalesce(sum(micros), 0) / 1e6 FROM heartbeat_durations WHERE dimension = 'total'`).Scan(&seconds); err != nil {
		t.Fatal(err)
	}
	if seconds <= 0 {
		t.Error("the heartbeats add up to no coding time")
	}
	if b := rep.Baseline; b == nil || b.EventsCopied == 0 || b.EventsCopied%25 != 0 {
		t.Errorf("baseline %+v, want full batches of 25", b)
	}
	if rep.Lag == nil || rep.Lag.DrainSeconds == nil {
		t.Errorf("projection lag not drained: %+v", rep.Lag)
	}
}

// The statusbar probe imports its user's history with the devflow binary, waits for the
// projections, then reads today's status bar at its rate while the clients send: every
// read answers, and today has coding time.
func TestLoadgen_StatusBarProbeReadsADayOfAYearsHistory(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "devflow")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/devflow/backend/cmd/devflow").CombinedOutput(); err != nil {
		t.Fatalf("build devflow: %v\n%s", err, out)
	}
	s := apptest.Start(t, map[string]string{"INSIGHTS_ENABLED": "false"})
	rep, _ := runJSON(t, "--workload", "heartbeats", "--base-url", s.URL, "--users", "1", "--batch", "25", "--rate", "100",
		"--duration", "2s", "--statusbar-rate", "20", "--history-days", "365", "--devflow-bin", bin,
		"--database-url", os.Getenv("DATABASE_URL"), "--lag-url", strings.TrimSuffix(s.URL, "/api/v1")+"/metrics")
	sb := rep.StatusBar
	if sb == nil {
		t.Fatal("no statusbar report")
	}
	if sb.Requests < 20 || len(sb.Errors) != 0 || sb.LatencyMS.P50 <= 0 || sb.LatencyMS.Max < sb.LatencyMS.P99 {
		t.Errorf("statusbar reads: %+v", sb)
	}
	if sb.HistoryDays != 365 || sb.HistoryHeartbeats < 10_000 || sb.TodaySeconds <= 0 {
		t.Errorf("history %d days, %d heartbeats; today %v s", sb.HistoryDays, sb.HistoryHeartbeats, sb.TodaySeconds)
	}
	var days int
	if err := s.Pool.QueryRow(context.Background(), `SELECT count(DISTINCT day) FROM heartbeat_durations WHERE dimension = 'total'`).Scan(&days); err != nil {
		t.Fatal(err)
	}
	if days < 250 {
		t.Errorf("the imported history covers %d days", days)
	}
}
