package app_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/devflow/backend/infra/app"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/testdb"
)

// stopOrder records the functions of the OnStop hooks in the order fx runs them.
type stopOrder struct {
	mu    sync.Mutex
	calls []string
}

func (s *stopOrder) LogEvent(e fxevent.Event) {
	if ev, ok := e.(*fxevent.OnStopExecuting); ok {
		s.mu.Lock()
		s.calls = append(s.calls, ev.FunctionName)
		s.mu.Unlock()
	}
}

func (s *stopOrder) index(t *testing.T, fragment string) int {
	t.Helper()
	i := slices.IndexFunc(s.calls, func(c string) bool { return strings.Contains(c, fragment) })
	if i < 0 {
		t.Fatalf("no stop hook matching %q in %v", fragment, s.calls)
	}
	return i
}

// TestServer_ShutdownOrder: on SIGTERM the HTTP server drains first, then the
// background jobs stop, then the projection runners finish their batch, then the pool
// closes.
func TestServer_ShutdownOrder(t *testing.T) {
	t.Setenv("JWT_SECRET", "apptest-secret")
	t.Setenv("DATABASE_URL", testdb.New(t))
	order := &stopOrder{}
	a := fx.New(app.Server,
		fx.Decorate(func(c config.Config) config.Config { c.Port = 0; return c }),
		fx.WithLogger(func() fxevent.Logger { return order }),
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	httpStop := order.index(t, "httpapi.Serve")
	schedulerStop := order.index(t, "Scheduler).Stop")
	engineStop := order.index(t, "Engine).Stop")
	poolClose := order.index(t, "Pool).Close")
	if !(httpStop < schedulerStop && schedulerStop < engineStop && engineStop < poolClose) {
		t.Fatalf("stop order %v: want HTTP drain, then scheduler, then projection engine, then pool", order.calls)
	}
}
