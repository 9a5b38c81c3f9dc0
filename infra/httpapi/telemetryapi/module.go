package telemetryapi

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	cmdtelemetry "github.com/devflow/backend/commands/telemetry"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/httpapi/metricsapi"
	"github.com/devflow/backend/infra/metrics"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/projections"
	metricsprojection "github.com/devflow/backend/projections/metrics"
	sessionsprojection "github.com/devflow/backend/projections/sessions"
	metricsqueries "github.com/devflow/backend/queries/metrics"
)

// Module is the telemetry area: the metrics and sessions projections (group
// "projections"), POST /telemetry and the metrics endpoints (group "routes").
var Module = fx.Module("telemetry",
	Projections,
	fx.Provide(
		newIngestHandler,
		fx.Annotate(newTelemetryRoutes, fx.ResultTags(`group:"routes"`)),
		fx.Annotate(newMetricsRoutes, fx.ResultTags(`group:"routes"`)),
	),
)

// Projections provides the area's projections (group "projections") alone, for the CLI.
var Projections = fx.Provide(
	fx.Annotate(newMetricsProjection, fx.ResultTags(`group:"projections"`)),
	fx.Annotate(newSessionsProjection, fx.ResultTags(`group:"projections"`)),
)

func newMetricsProjection() projections.Projection {
	return metricsprojection.New(metricsprojection.Options{})
}

func newSessionsProjection() projections.Projection { return sessionsprojection.New() }

type ingestParams struct {
	fx.In
	Config  config.Config
	Pool    *pgxpool.Pool
	Store   eventlog.Store
	PG      *postgres.EventStore
	Schemas *httpapi.Schemas
}

// newIngestHandler commits ingests in one PostgreSQL transaction when the event log is
// the PostgreSQL one, and through the generic store otherwise (EventStoreDB).
func newIngestHandler(p ingestParams) *cmdtelemetry.IngestHandler {
	var store cmdtelemetry.Store
	if pg, ok := p.Store.(*postgres.EventStore); ok && pg == p.PG {
		store = cmdtelemetry.NewPostgresStore(p.Pool, pg, pg)
	} else {
		store = cmdtelemetry.NewLogStore(p.Pool, p.Store)
	}
	mode := cmdtelemetry.Quarantine
	if p.Config.TelemetryInvalidEvents == config.InvalidEventsReject {
		mode = cmdtelemetry.Reject
	}
	return cmdtelemetry.NewIngestHandler(store, Validator{Schemas: p.Schemas}, mode, nil)
}

type routesParams struct {
	fx.In
	API     *httpapi.API
	Config  config.Config
	Ingest  *cmdtelemetry.IngestHandler
	Metrics *metrics.Metrics `optional:"true"`
}

func newTelemetryRoutes(p routesParams) httpapi.Routes {
	return NewHandler(p.API, p.Ingest, p.Config.TelemetryMaxBodyBytes, p.Metrics)
}

func newMetricsRoutes(api *httpapi.API, pool *pgxpool.Pool, store eventlog.Store, engine *projections.Engine) httpapi.Routes {
	etl := metricsapi.NewETL(pool, store, engine, metricsprojection.Name)
	return metricsapi.NewHandler(api, metricsqueries.New(pool), etl)
}
