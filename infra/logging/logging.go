// Package logging builds devFlow's structured logger: log/slog with a JSON handler, one
// object per line. It also logs the start-up configuration (redacted by config.Config's
// LogValue) and the configuration warnings.
package logging

import (
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/devflow/backend/infra/config"
	"go.uber.org/fx"
)

// New returns a JSON logger writing to w at level ("debug", "info", "warn", "error"; any
// other value means info).
func New(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// Module provides the *slog.Logger (stdout, LOG_LEVEL) and logs the configuration and
// its warnings once at start-up.
var Module = fx.Module("logging",
	fx.Provide(func(c config.Config) *slog.Logger { return New(os.Stdout, c.LogLevel) }),
	fx.Invoke(func(p startupParams) { LogStartup(p.Logger, p.Config, p.Warnings) }),
)

// startupParams makes the warnings optional, so a graph built on a supplied Config (tests)
// needs no Warnings.
type startupParams struct {
	fx.In
	Logger   *slog.Logger
	Config   config.Config
	Warnings config.Warnings `optional:"true"`
}

// LogStartup writes the redacted configuration and one line per configuration warning.
func LogStartup(logger *slog.Logger, c config.Config, warnings config.Warnings) {
	logger.Info("configuration", "config", c)
	for _, w := range warnings {
		logger.Warn(w)
	}
}
