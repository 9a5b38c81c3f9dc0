package app

import (
	"time"

	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/projections"
	heartbeatsprojection "github.com/devflow/backend/projections/heartbeats"
	metricsprojection "github.com/devflow/backend/projections/metrics"
	recommendationsprojection "github.com/devflow/backend/projections/recommendations"
	sessionsprojection "github.com/devflow/backend/projections/sessions"
)

// allProjections is the registry of the service's projections, the one list that both
// `serve` (the engine's runners) and the CLI (status, rebuild, replay) use.
func allProjections(cfg config.Config) []projections.Projection {
	return []projections.Projection{
		metricsprojection.New(metricsprojection.Options{}),
		sessionsprojection.New(),
		heartbeatsprojection.New(wakaTimeTimeout(cfg)),
		recommendationsprojection.New(),
	}
}

// wakaTimeTimeout is WAKATIME_TIMEOUT_MINUTES, with its default where the
// configuration has none (tests that build a Config by hand).
func wakaTimeTimeout(cfg config.Config) time.Duration {
	if cfg.WakaTimeTimeout <= 0 {
		return 15 * time.Minute
	}
	return cfg.WakaTimeTimeout
}
