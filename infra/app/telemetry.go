package app

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	cmdetl "github.com/devflow/backend/commands/etl"
	cmdtelemetry "github.com/devflow/backend/commands/telemetry"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/httpapi/metricsapi"
	"github.com/devflow/backend/infra/httpapi/telemetryapi"
	"github.com/devflow/backend/infra/metrics"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/projections"
	metricsprojection "github.com/devflow/backend/projections/metrics"
	metricsqueries "github.com/devflow/backend/queries/metrics"
)

// TelemetryModule is the telemetry area: POST /telemetry and the metrics endpoints
// (group "routes"); its projections are in allProjections.
var TelemetryModule = fx.Module("telemetry",
	fx.Provide(
		provideTelemetryStore,
		provideIngest,
		fx.Annotate(provideTelemetryRoutes, fx.ResultTags(`group:"routes"`)),
		fx.Annotate(provideMetricsRoutes, fx.ResultTags(`group:"routes"`)),
	),
)

// provideTelemetryStore commits an ingest in one PostgreSQL transaction when the event
// log is the PostgreSQL one, and through the generic log otherwise (EventStoreDB): the
// choice provideEventStore makes.
func provideTelemetryStore(cfg config.Config, pool *pgxpool.Pool, log eventlog.Store, pg *postgres.EventStore) cmdtelemetry.Store {
	if cfg.EventStoreURL == "" {
		return postgres.NewTelemetryStore(pool, pg)
	}
	return postgres.NewTelemetryLogStore(pool, log)
}

func provideIngest(cfg config.Config, store cmdtelemetry.Store, schemas *httpapi.Schemas) *cmdtelemetry.IngestHandler {
	mode := cmdtelemetry.Quarantine
	if cfg.TelemetryInvalidEvents == config.InvalidEventsReject {
		mode = cmdtelemetry.Reject
	}
	return cmdtelemetry.NewIngestHandler(store, schemas, mode, nil)
}

type telemetryRoutesParams struct {
	fx.In
	API     *httpapi.API
	Config  config.Config
	Ingest  *cmdtelemetry.IngestHandler
	Metrics *metrics.Metrics `optional:"true"`
}

func provideTelemetryRoutes(p telemetryRoutesParams) httpapi.Routes {
	return telemetryapi.NewHandler(p.API, p.Ingest, p.Config.TelemetryMaxBodyBytes, p.Metrics)
}

func provideMetricsRoutes(api *httpapi.API, pool *pgxpool.Pool, log eventlog.Store, engine *projections.Engine) httpapi.Routes {
	etl := cmdetl.NewRunHandler(log, postgres.NewETLProjections(pool, engine), metricsprojection.Name)
	return metricsapi.NewHandler(api, metricsqueries.New(pool), etl)
}
