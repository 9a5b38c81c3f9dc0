package app

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	cmdheartbeats "github.com/devflow/backend/commands/heartbeats"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/httpapi/wakatimeapi"
	qheartbeats "github.com/devflow/backend/queries/heartbeats"
)

// WakaTimeModule is the WakaTime-compatible area: the endpoints under /api/v1 (group
// "routes") and their alias under wakatimeapi.CompatPrefix; its projection is in
// allProjections.
var WakaTimeModule = fx.Module("wakatime",
	fx.Provide(
		provideWakaTime,
		fx.Annotate(func(h *wakatimeapi.Handler) httpapi.Routes { return h }, fx.ResultTags(`group:"routes"`)),
	),
	fx.Invoke(func(api *httpapi.API, h *wakatimeapi.Handler) { api.MountAt(wakatimeapi.CompatPrefix, h) }),
)

func provideWakaTime(api *httpapi.API, cfg config.Config, log eventlog.Store, pool *pgxpool.Pool) *wakatimeapi.Handler {
	maxAge := cfg.HeartbeatMaxAge
	if maxAge <= 0 {
		maxAge = 14 * 24 * time.Hour
	}
	return wakatimeapi.NewHandler(api, cmdheartbeats.NewRecordHandler(log, maxAge, nil), qheartbeats.New(pool),
		cfg.TelemetryMaxBodyBytes, wakaTimeTimeout(cfg).Minutes())
}
