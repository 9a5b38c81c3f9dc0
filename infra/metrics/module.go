package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	"github.com/devflow/backend/infra/config"
)

// Module provides *Metrics (its Config from config.Config's METRICS_ADDR), hooks the
// database pool and the projection status in when the graph has them, and serves
// /metrics (and the Go profiler at /debug/pprof/) on METRICS_ADDR when that is set. The HTTP core adds m.Middleware to the root router and
// calls m.Mount(root), which mounts /metrics there only when METRICS_ADDR is empty.
var Module = fx.Module("metrics",
	fx.Provide(fromServiceConfig, New),
	fx.Invoke(wire),
)

func fromServiceConfig(c config.Config) Config { return Config{Addr: c.MetricsAddr} }

type wireParams struct {
	fx.In
	Lifecycle   fx.Lifecycle
	Metrics     *Metrics
	Config      Config
	Pool        *pgxpool.Pool        `optional:"true"`
	Projections ProjectionStatusFunc `optional:"true"`
	Logger      *slog.Logger         `optional:"true"`
}

func wire(p wireParams) {
	p.Metrics.ObservePool(p.Pool)
	p.Metrics.ObserveProjections(p.Projections)
	if p.Config.Addr == "" {
		return
	}
	logger := p.Logger
	if logger == nil {
		logger = slog.Default()
	}
	// The operators' own port also serves the Go profiler (never the public port): a
	// CPU profile under load is how a slow path is found before it is optimised.
	mux := http.NewServeMux()
	mux.Handle("/metrics", p.Metrics.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			// Listen here, not in the goroutine, so a taken port fails start-up.
			ln, err := net.Listen("tcp", p.Config.Addr)
			if err != nil {
				return fmt.Errorf("metrics: listen on METRICS_ADDR %q: %w", p.Config.Addr, err)
			}
			logger.Info("metrics listening", "addr", ln.Addr().String())
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					logger.Error("metrics server stopped", "error", err)
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error { return srv.Shutdown(ctx) },
	})
}
