package httpapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

type fakeCheck struct {
	name string
	err  error
	hang bool
}

func (c fakeCheck) Name() string { return c.name }

func (c fakeCheck) Check(ctx context.Context) error {
	if c.hang {
		<-ctx.Done()
		return errors.New("timeout")
	}
	return c.err
}

type panickyCheck struct{}

func (panickyCheck) Name() string                    { return "projections" }
func (panickyCheck) Check(ctx context.Context) error { panic("engine state corrupted") }

func TestReady(t *testing.T) {
	cases := []struct {
		name   string
		checks []ReadinessCheck
		status int
		body   string
	}{
		{"all checks pass", []ReadinessCheck{fakeCheck{name: "database"}, fakeCheck{name: "projections"}}, 200,
			`{"status":"ready","checks":{"database":"ok","projections":"ok"}}`},
		{"database down", []ReadinessCheck{fakeCheck{name: "database", err: errors.New("unreachable")}, fakeCheck{name: "projections"}}, 503,
			`{"error":"Not ready","status":"not_ready","checks":{"database":"unreachable","projections":"ok"}}`},
		{"projection engine not started", []ReadinessCheck{fakeCheck{name: "database"}, fakeCheck{name: "projections", err: errors.New("projection metrics is starting")}}, 503,
			`{"error":"Not ready","status":"not_ready","checks":{"database":"ok","projections":"projection metrics is starting"}}`},
		{"parked events are reported, not unready", []ReadinessCheck{fakeCheck{name: "database"}, fakeCheck{name: "projections", err: Degraded("metrics: 2 parked events")}}, 200,
			`{"status":"ready","checks":{"database":"ok","projections":"metrics: 2 parked events"}}`},
		{"a panicking check is a failed check", []ReadinessCheck{fakeCheck{name: "database"}, panickyCheck{}}, 503,
			`{"error":"Not ready","status":"not_ready","checks":{"database":"ok","projections":"check failed"}}`},
		{"no checks", nil, 200, `{"status":"ready","checks":{}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, tc.checks...)
			expectJSON(t, s.do(t, "GET", "/api/v1/ready", nil), tc.status, tc.body)
		})
	}
}

func TestReady_503WhileShuttingDown(t *testing.T) {
	s := newTestServer(t, fakeCheck{name: "database"})
	expectJSON(t, s.do(t, "GET", "/api/v1/ready", nil), 200, `{"status":"ready","checks":{"database":"ok"}}`)
	s.api.BeginShutdown()
	expectJSON(t, s.do(t, "GET", "/api/v1/ready", nil), 503, `{"error":"Not ready","status":"not_ready","checks":{"server":"shutting down"}}`)
	// Liveness is unaffected.
	expectJSON(t, s.do(t, "GET", "/api/v1/health", nil), 200, `{"status":"ok"}`)
}

func TestReady_IsBoundedWhenACheckHangs(t *testing.T) {
	s := newTestServer(t, fakeCheck{name: "database", hang: true})
	s.api.readyTimeout = 50 * time.Millisecond
	expectJSON(t, s.do(t, "GET", "/api/v1/ready", nil), 503, `{"error":"Not ready","status":"not_ready","checks":{"database":"timeout"}}`)
}
