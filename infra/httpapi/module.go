package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/devflow/backend/infra/config"
	"go.uber.org/fx"
)

// Module provides *API and *Schemas and runs the HTTP server: it mounts every Routes of
// the "routes" group, listens on PORT when the app starts (a taken port fails start-up),
// and on stop marks the API as shutting down (/ready answers 503) and drains in-flight
// requests for up to SHUTDOWN_TIMEOUT_SECONDS. Give fx a StopTimeout at least that long.
var Module = fx.Module("httpapi",
	fx.Provide(New, RequestSchemas),
	fx.Invoke(Serve),
)

// ServeParams are Serve's dependencies.
type ServeParams struct {
	fx.In

	Lifecycle  fx.Lifecycle
	Shutdowner fx.Shutdowner
	API        *API
	Config     config.Config
	Logger     *slog.Logger
	Routes     []Routes `group:"routes"`
}

// Serve mounts the routes and ties an http.Server to the fx lifecycle.
func Serve(p ServeParams) {
	p.API.Mount(p.Routes...)
	srv := &http.Server{
		Handler:           p.API.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(p.Logger.Handler(), slog.LevelWarn),
	}
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			// Listen here rather than in the goroutine so a taken port fails start-up.
			ln, err := net.Listen("tcp", ":"+strconv.Itoa(p.Config.Port))
			if err != nil {
				return fmt.Errorf("httpapi: listen on PORT %d: %w; set PORT to a free port or stop what holds it", p.Config.Port, err)
			}
			addr := ln.Addr().String()
			p.API.listenAddr.Store(addr)
			p.Logger.Info("http server listening", "addr", addr)
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					p.Logger.Error("http server failed", "error", err.Error())
					_ = p.Shutdowner.Shutdown(fx.ExitCode(1))
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			p.API.BeginShutdown()
			timeout := p.Config.ShutdownTimeout
			if timeout <= 0 {
				timeout = 20 * time.Second
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			p.Logger.Info("http server draining", "timeout", timeout.String())
			if err := srv.Shutdown(ctx); err != nil {
				// Requests still running after the drain window are cut off.
				_ = srv.Close()
				return fmt.Errorf("httpapi: drain: %w", err)
			}
			return nil
		},
	})
}
