// Package apptest runs the whole devflow service (app.Server: every area, the
// projection runners, the scheduler) on a fresh test database and a free loopback port,
// for tests that must see the service exactly as clients do.
package apptest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/infra/app"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/privacy"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
)

// Server is a running service.
type Server struct {
	URL     string // e.g. http://127.0.0.1:41234/api/v1
	Pool    *pgxpool.Pool
	API     *httpapi.API
	Store   eventlog.Store
	Engine  *projections.Engine
	Privacy *privacy.Service
}

// TestDataKey is the master key (DATA_KEY) every test service runs with, so that tests
// run with payloads encrypted as in production.
const TestDataKey = "ZGV2Zmxvdy10ZXN0LW1hc3Rlci1rZXktMzItYnl0ZXM="

// Start runs the service until the test ends. env sets configuration variables on top
// of JWT_SECRET and DATABASE_URL (a fresh database); tests using it cannot be parallel.
func Start(t testing.TB, env map[string]string) *Server {
	t.Helper()
	t.Setenv("JWT_SECRET", "apptest-secret")
	t.Setenv("DATABASE_URL", testdb.New(t))
	t.Setenv("LOG_LEVEL", "warn")
	t.Setenv("DATA_KEY", TestDataKey)
	for k, v := range env {
		t.Setenv(k, v)
	}
	var s Server
	a := fx.New(app.Server,
		fx.Decorate(func(c config.Config) config.Config { c.Port = 0; return c }), // a free port
		fx.Populate(&s.Pool, &s.API, &s.Store, &s.Engine, &s.Privacy),
		fx.NopLogger,
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start service: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stop service: %v", err)
		}
	})
	_, port, err := net.SplitHostPort(s.API.ListenAddr())
	if err != nil {
		t.Fatalf("listen address %q: %v", s.API.ListenAddr(), err)
	}
	s.URL = "http://127.0.0.1:" + port + httpapi.Prefix
	return &s
}
