package wakatimeapi

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	cmdheartbeats "github.com/devflow/backend/commands/heartbeats"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/projections"
	heartbeatsprojection "github.com/devflow/backend/projections/heartbeats"
	qheartbeats "github.com/devflow/backend/queries/heartbeats"
)

// Module is the WakaTime-compatible area: the heartbeats projection (group
// "projections"), the endpoints under /api/v1 (group "routes") and their alias under
// CompatPrefix.
var Module = fx.Module("wakatime",
	Projections,
	fx.Provide(
		newHandler,
		fx.Annotate(func(h *Handler) httpapi.Routes { return h }, fx.ResultTags(`group:"routes"`)),
	),
	fx.Invoke(func(api *httpapi.API, h *Handler) { api.MountAt(CompatPrefix, h) }),
)

// Projections provides the area's projection alone, for the CLI.
var Projections = fx.Provide(
	fx.Annotate(newProjection, fx.ResultTags(`group:"projections"`)),
)

func newProjection(cfg config.Config) projections.Projection {
	return heartbeatsprojection.New(timeout(cfg))
}

// timeout is WAKATIME_TIMEOUT_MINUTES, with its default where the configuration has
// none (tests that build a Config by hand).
func timeout(cfg config.Config) time.Duration {
	if cfg.WakaTimeTimeout <= 0 {
		return 15 * time.Minute
	}
	return cfg.WakaTimeTimeout
}

func newHandler(api *httpapi.API, cfg config.Config, store eventlog.Store, pool *pgxpool.Pool) *Handler {
	maxAge := cfg.HeartbeatMaxAge
	if maxAge <= 0 {
		maxAge = 14 * 24 * time.Hour
	}
	return NewHandler(api, cmdheartbeats.NewRecordHandler(store, maxAge, nil), qheartbeats.New(pool),
		cfg.TelemetryMaxBodyBytes, timeout(cfg).Minutes())
}
