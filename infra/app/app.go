// Package app wires devFlow's object graph with fx: configuration and logging, the
// database (configured or private), the event log (PostgreSQL or EventStoreDB), the
// projection engine, the HTTP API and every feature area.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/datakeys"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/httpapi/privacyapi"
	"github.com/devflow/backend/infra/logging"
	"github.com/devflow/backend/infra/metrics"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/privacy"
	"github.com/devflow/backend/projections"
)

// data is the data layer: database (configured or private), event log, projection
// engine with every projection of the registry (allProjections).
var data = fx.Options(
	logging.Module,
	fx.Provide(
		provideDatabaseURL,
		providePool,
		provideKeyring,
		provideEventStore,
		allProjections,
		provideEngine,
	),
)

// CLI is what the operator commands start: the data layer, with the same projections
// as the server's, but no HTTP server, no runners and no background jobs.
// Configuration comes from the environment like the server's.
var CLI = fx.Options(
	fx.Provide(cliConfig),
	data,
	// Commands print their results on stdout; keep it clean of routine logs.
	fx.Decorate(func(c config.Config) *slog.Logger { return logging.New(os.Stderr, "warn") }),
)

// Server is the whole service of `devflow serve`. fx starts modules in this order and
// stops them in reverse, so on SIGTERM the HTTP server (last in) drains first, then the
// background jobs stop, then the projection runners finish their batch, then the pool
// and the private cluster close.
var Server = fx.Options(
	config.Module,
	data,
	fx.Module("engine",
		fx.Provide(
			fx.Annotate(func(p *pgxpool.Pool) httpapi.ReadinessCheck { return databaseCheck{p} }, fx.ResultTags(`group:"readiness"`)),
			fx.Annotate(func(e *projections.Engine) httpapi.ReadinessCheck { return projectionsCheck{e} }, fx.ResultTags(`group:"readiness"`)),
			projectionStatus,
		),
		fx.Invoke(func(lc fx.Lifecycle, e *projections.Engine) {
			lc.Append(fx.Hook{OnStart: e.Start, OnStop: e.Stop})
		}),
	),
	metrics.Module,
	AuthModule,
	TelemetryModule,
	WakaTimeModule,
	InsightsModule,
	PrivacyModule,
	httpapi.Module,
	// Draining HTTP may take SHUTDOWN_TIMEOUT_SECONDS; the rest must fit after it.
	fx.StopTimeout(time.Minute),
)

// provideEventStore picks the event log: PostgreSQL by default, EventStoreDB when
// EVENTSTORE_URL is set. The PostgreSQL store is provided either way for the areas
// that append inside a state-table transaction.
// Either encrypts users' payloads with the keyring when there is one.
func provideEventStore(lc fx.Lifecycle, cfg config.Config, pool *pgxpool.Pool, keyring *datakeys.Keyring, log *slog.Logger) (eventlog.Store, *postgres.EventStore, error) {
	pg := postgres.NewEventStore(pool)
	if keyring != nil {
		pg.EncryptWith(keyring)
	}
	lc.Append(fx.StopHook(pg.Close))
	if cfg.EventStoreURL == "" {
		return pg, pg, nil
	}
	esdbStore, err := openEventStoreDB(lc, cfg.EventStoreURL, log)
	if err != nil {
		return nil, nil, err
	}
	if keyring != nil {
		return datakeys.Encrypting(esdbStore, keyring), pg, nil
	}
	return esdbStore, pg, nil
}

// provideKeyring loads the master key of the users' data keys (datakeys.FromConfig) and
// checks it against the stored keys: a wrong key, or none while encrypted payloads
// exist, stops the start. nil when payloads are not encrypted (development on a
// DATABASE_URL without DATA_KEY).
func provideKeyring(cfg config.Config, pool *pgxpool.Pool, log *slog.Logger) (*datakeys.Keyring, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	master, ok, err := datakeys.FromConfig(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("data keys: %w", err)
	}
	if !ok {
		if err := datakeys.CheckNoKeys(ctx, pool); err != nil {
			return nil, fmt.Errorf("data keys: %w", err)
		}
		return nil, nil
	}
	k := datakeys.NewKeyring(pool, master)
	if err := k.Check(ctx); err != nil {
		return nil, fmt.Errorf("data keys: %w", err)
	}
	return k, nil
}

func provideEngine(cfg config.Config, pool *pgxpool.Pool, log eventlog.Store, logger *slog.Logger, all []projections.Projection) *projections.Engine {
	return projections.NewEngine(pool, log, logger, projections.Options{BatchSize: cfg.MetricsETLBatchSize}, all)
}

// PrivacyModule is a user's rights over their data: the privacy service and its
// endpoints (group "routes").
var PrivacyModule = fx.Module("privacy",
	fx.Provide(
		privacy.New,
		fx.Annotate(privacyapi.NewRoutes, fx.ResultTags(`group:"routes"`), fx.As(new(httpapi.Routes))),
	),
)

// projectionStatus feeds the Prometheus projection gauges.
func projectionStatus(e *projections.Engine) metrics.ProjectionStatusFunc {
	return func(ctx context.Context) ([]metrics.ProjectionStatus, error) {
		statuses, err := e.Status(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]metrics.ProjectionStatus, len(statuses))
		for i, s := range statuses {
			out[i] = metrics.ProjectionStatus{Name: s.Name, Checkpoint: uint64(s.Ordinal),
				Head: uint64(s.Ordinal + s.LagEvents), LagEvents: uint64(s.LagEvents), LagSeconds: s.LagSeconds, Parked: uint64(s.Parked)}
		}
		return out, nil
	}
}

// projectionsCheck is the /ready projections check.
type projectionsCheck struct{ engine *projections.Engine }

func (projectionsCheck) Name() string { return "projections" }

// Check is not ready only while the engine has not started; a failing projection or
// parked events are reported but leave the replica ready (contract 3.2).
func (c projectionsCheck) Check(ctx context.Context) error {
	if err := c.engine.Ready(); err != nil {
		return err
	}
	problems, err := c.engine.Problems(ctx)
	if err != nil {
		return httpapi.Degraded("status unknown")
	}
	if len(problems) > 0 {
		return httpapi.Degraded(strings.Join(problems, "; "))
	}
	return nil
}

// Data is the data layer as the CLI commands use it.
type Data struct {
	fx.In
	Config  config.Config
	Pool    *pgxpool.Pool
	Store   eventlog.Store
	Events  *postgres.EventStore
	Keyring *datakeys.Keyring
	Engine  *projections.Engine
	Log     *slog.Logger
}

// cliConfig is the environment's configuration for the operator commands, which sign
// nothing and so must not demand JWT_SECRET.
func cliConfig() (config.Config, config.Warnings, error) {
	return config.Load(func(name string) string {
		if v := os.Getenv(name); v != "" || name != "JWT_SECRET" {
			return v
		}
		return "unused-by-the-cli"
	})
}
