package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/devflow/backend/infra/config"
	"github.com/go-chi/chi/v5"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

// slowRoutes holds a request until the test releases it.
type slowRoutes struct {
	entered chan struct{}
	release chan struct{}
}

func (s slowRoutes) Routes(r chi.Router) {
	r.Get("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(s.entered)
		<-s.release
		WriteJSON(w, http.StatusOK, map[string]string{"done": "yes"})
	})
}

func startApp(t *testing.T, cfg config.Config, routes ...Routes) (*fxtest.App, *API) {
	t.Helper()
	var api *API
	opts := []fx.Option{
		fx.Supply(cfg, slog.New(slog.DiscardHandler)),
		Module,
		fx.Populate(&api),
		fx.NopLogger,
	}
	for _, r := range routes {
		opts = append(opts, fx.Supply(fx.Annotate(r, fx.As(new(Routes)), fx.ResultTags(`group:"routes"`))))
	}
	app := fxtest.New(t, opts...)
	app.RequireStart()
	return app, api
}

func TestModule_ServesOnPortAndDrainsInFlightRequestsOnStop(t *testing.T) {
	slow := slowRoutes{entered: make(chan struct{}), release: make(chan struct{})}
	app, api := startApp(t, config.Config{Port: 0, ShutdownTimeout: 30 * time.Second}, slow)
	base := "http://" + api.ListenAddr()

	resp, err := http.Get(base + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("health = %d", resp.StatusCode)
	}

	type result struct {
		status int
		body   string
		err    error
	}
	inFlight := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/api/v1/slow")
		if err != nil {
			inFlight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inFlight <- result{resp.StatusCode, string(b), err}
	}()
	<-slow.entered

	stopped := make(chan error, 1)
	go func() { stopped <- app.Stop(context.Background()) }()
	// Stop begins by marking the API as shutting down; only then release the request.
	for !api.shuttingDown.Load() {
		time.Sleep(time.Millisecond)
	}
	close(slow.release)

	r := <-inFlight
	if r.err != nil || r.status != 200 || r.body != `{"done":"yes"}` {
		t.Fatalf("in-flight request during shutdown = %d %q %v, want it completed", r.status, r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := net.Dial("tcp", api.ListenAddr()); err == nil {
		t.Error("still listening after Stop")
	}
}

func TestModule_TakenPortFailsStart(t *testing.T) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	app := fx.New(
		fx.Supply(config.Config{Port: port}, slog.New(slog.DiscardHandler)),
		Module,
		fx.NopLogger,
	)
	if err := app.Start(context.Background()); err == nil {
		_ = app.Stop(context.Background())
		t.Fatal("start succeeded on a taken port")
	}
}

func TestModule_ProvidesTheCompiledSchemas(t *testing.T) {
	var schemas *Schemas
	app := fxtest.New(t, fx.Supply(config.Config{}, slog.New(slog.DiscardHandler)), Module, fx.Populate(&schemas), fx.NopLogger)
	defer app.RequireStart().RequireStop()
	if schemas == nil || schemas.Validate("login", map[string]any{}) == nil {
		t.Fatal("no usable *Schemas in the graph")
	}
}
