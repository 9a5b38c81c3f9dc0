package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/devflow/backend/infra/config"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

func TestNew_WritesOneJSONObjectPerLineAtTheConfiguredLevel(t *testing.T) {
	cases := []struct {
		level       string
		debugLogged bool
		infoLogged  bool
	}{
		{"debug", true, true},
		{"info", false, true},
		{"warn", false, false},
		{"error", false, false},
		{"", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.level, func(t *testing.T) {
			var buf bytes.Buffer
			logger := New(&buf, tc.level)
			logger.Debug("d")
			logger.Info("i", "request_id", "abc")
			logger.Error("e")
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			msgs := map[string]bool{}
			for _, line := range lines {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("line %q is not JSON: %v", line, err)
				}
				msgs[rec["msg"].(string)] = true
			}
			if msgs["d"] != tc.debugLogged || msgs["i"] != tc.infoLogged || !msgs["e"] {
				t.Errorf("level %q logged %v", tc.level, msgs)
			}
		})
	}
}

func TestLogStartup_LogsRedactedConfigAndWarnings(t *testing.T) {
	var buf bytes.Buffer
	c := config.Config{JWTSecret: "s3cret-value", Port: 3000}
	LogStartup(New(&buf, "info"), c, config.Warnings{"PORT=\"x\" is not a positive number"})
	out := buf.String()
	if strings.Contains(out, "s3cret-value") {
		t.Fatalf("start-up log leaks the JWT secret: %s", out)
	}
	if !strings.Contains(out, `"jwt_secret":"set"`) || !strings.Contains(out, `"port":3000`) || !strings.Contains(out, "is not a positive number") {
		t.Errorf("start-up log lacks the config or the warning: %s", out)
	}
}

func TestModule_WorksWithASuppliedConfig(t *testing.T) {
	var logger *slog.Logger
	app := fxtest.New(t, fx.Supply(config.Config{LogLevel: "error"}), Module, fx.Populate(&logger), fx.NopLogger)
	app.RequireStart().RequireStop()
	if logger == nil || logger.Enabled(context.Background(), slog.LevelInfo) {
		t.Fatal("logger missing or not at LOG_LEVEL")
	}
}

func TestModule_WithConfigModuleLogsTheWarnings(t *testing.T) {
	t.Setenv("JWT_SECRET", "x")
	t.Setenv("METRICS_ETL_ENABLED", "true")
	var warnings config.Warnings
	app := fxtest.New(t, config.Module, Module, fx.Populate(&warnings), fx.NopLogger)
	app.RequireStart().RequireStop()
	if len(warnings) != 1 {
		t.Fatalf("warnings = %q", warnings)
	}
}
