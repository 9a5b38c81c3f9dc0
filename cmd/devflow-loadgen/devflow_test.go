package main

import (
	"context"
	"os"
	"testing"

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
		"--lag-url", s.URL[:len(s.URL)-len("/api/v1")]+"/metrics", "--sample-interval", "100ms", "--drain-timeout", "30s")
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
	if rep.Lag == nil || rep.Lag.Samples == 0 || rep.Lag.Errors != 0 || rep.Lag.DrainSeconds == nil {
		t.Fatalf("projection lag not sampled from /metrics or never drained: %+v", rep.Lag)
	}
}
