package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/devflow/backend/domain/ids"
)

// env builds a getenv over a map, always with the one required variable unless the test
// overrides it.
func env(kv ...string) func(string) string {
	m := map[string]string{"JWT_SECRET": "test-secret"}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(name string) string { return m[name] }
}

func mustLoad(t *testing.T, getenv func(string) string) (Config, Warnings) {
	t.Helper()
	c, warnings, err := Load(getenv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c, warnings
}

func TestLoad_DefaultsMatchTheContractTable(t *testing.T) {
	c, warnings := mustLoad(t, env())
	if len(warnings) != 0 {
		t.Errorf("warnings = %q, want none", warnings)
	}
	want := Config{
		Port:                   3000,
		AppEnv:                 "development",
		LogLevel:               "info",
		DBURL:                  "",
		DataDir:                ".devflow/pgdata",
		MigrateOnStart:         true,
		JWTSecret:              "test-secret",
		FrontendURL:            "https://who-goes-to-try.hackathon.sev-2.com",
		GeminiModel:            "gemini-2.5-flash",
		InsightsProvider:       ProviderAuto,
		InsightsEnabled:        true,
		InsightCheckInterval:   600 * time.Second,
		InsightCooldown:        45 * time.Minute,
		SnoozeDuration:         30 * time.Minute,
		InsightActivityWindow:  30 * time.Minute,
		RuleVeryLongSessionMin: 30,
		RuleLongSessionMin:     15,
		RuleHighChurnRatio:     0.3,
		RuleRapidSwitchCount:   3,
		RuleDeleteHeavyTotal:   5,
		TelemetryMaxBodyBytes:  8388608,
		TelemetryInvalidEvents: InvalidEventsQuarantine,
		MetricsETLBatchSize:    5000,
		HeartbeatMaxAge:        14 * 24 * time.Hour,
		WakaTimeTimeout:        15 * time.Minute,
		ShutdownTimeout:        20 * time.Second,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c.LogValue(), want.LogValue())
	}
	if u, ok := c.DatabaseURL(); ok || u != "" {
		t.Errorf("DatabaseURL() = %q, %v; want private cluster (\"\", false)", u, ok)
	}
}

func TestLoad_EveryVariableIsRead(t *testing.T) {
	admin := "FEDF1D98-C503-49A8-A576-9D634CC2D9B5"
	c, warnings := mustLoad(t, env(
		"PORT", "8080", "APP_ENV", "production", "LOG_LEVEL", "debug",
		"DATABASE_URL", "postgres://u:p@db:5432/x", "DEVFLOW_DATA_DIR", "/data", "MIGRATE_ON_START", "false",
		"EVENTSTORE_URL", "esdb://es:2113", "CORS_ALLOWED_ORIGINS", "https://a.example, ,https://b.example",
		"GOOGLE_CLIENT_ID", "gid", "GOOGLE_CLIENT_SECRET", "gsec", "GITHUB_CLIENT_ID", "hid", "GITHUB_CLIENT_SECRET", "hsec",
		"OAUTH_CALLBACK_BASE_URL", "https://api.example", "WEB_APP_URL", "https://app.example/", "VSCODE_DEEPLINK", "vscode://x/auth",
		"FRONTEND_URL", "http://127.0.0.1:4173//", "GOOGLE_API_KEY", "k", "GEMINI_MODEL", "m", "GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:9",
		"INSIGHTS_PROVIDER", "rules", "INSIGHTS_ENABLED", "0", "INSIGHT_CHECK_INTERVAL_SECONDS", "60",
		"INSIGHT_COOLDOWN_MINUTES", "0.5", "SNOOZE_DURATION_MINUTES", "2", "INSIGHT_ACTIVITY_WINDOW_MINUTES", "10",
		"RULE_VERY_LONG_SESSION_MIN", "240", "RULE_LONG_SESSION_MIN", "120", "RULE_HIGH_CHURN_RATIO", "0.4",
		"RULE_RAPID_SWITCH_COUNT", "30", "RULE_DELETE_HEAVY_TOTAL", "50", "ADMIN_USER_IDS", " "+admin+" ,,",
		"TELEMETRY_MAX_BODY_BYTES", "1024", "TELEMETRY_INVALID_EVENTS", "reject", "METRICS_ETL_BATCH_SIZE", "100",
		"METRICS_ADDR", ":9090", "SHUTDOWN_TIMEOUT_SECONDS", "5", "HEARTBEAT_MAX_AGE", "30", "WAKATIME_TIMEOUT_MINUTES", "5",
	))
	if len(warnings) != 0 {
		t.Errorf("warnings = %q, want none", warnings)
	}
	want := Config{
		Port: 8080, AppEnv: "production", LogLevel: "debug",
		DBURL: "postgres://u:p@db:5432/x", DataDir: "/data", MigrateOnStart: false, EventStoreURL: "esdb://es:2113",
		JWTSecret: "test-secret", CORSAllowedOrigins: []string{"https://a.example", "https://b.example"},
		GoogleClientID: "gid", GoogleClientSecret: "gsec", GitHubClientID: "hid", GitHubClientSecret: "hsec",
		OAuthCallbackBaseURL: "https://api.example", WebAppURL: "https://app.example/", VSCodeDeepLink: "vscode://x/auth",
		FrontendURL: "http://127.0.0.1:4173", GoogleAPIKey: "k", GeminiModel: "m", GoogleGeminiBaseURL: "http://127.0.0.1:9",
		InsightsProvider: ProviderRules, InsightsEnabled: false, InsightCheckInterval: time.Minute,
		InsightCooldown: 30 * time.Second, SnoozeDuration: 2 * time.Minute, InsightActivityWindow: 10 * time.Minute,
		RuleVeryLongSessionMin: 240, RuleLongSessionMin: 120, RuleHighChurnRatio: 0.4, RuleRapidSwitchCount: 30, RuleDeleteHeavyTotal: 50,
		AdminUserIDs:          []ids.ID{ids.MustParse(admin)},
		TelemetryMaxBodyBytes: 1024, TelemetryInvalidEvents: InvalidEventsReject, MetricsETLBatchSize: 100,
		HeartbeatMaxAge: 30 * 24 * time.Hour, WakaTimeTimeout: 5 * time.Minute,
		MetricsAddr: ":9090", ShutdownTimeout: 5 * time.Second,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %#v\nwant %#v\n(raw) got %v", c, want, fmt.Sprintf("%v", c.AdminUserIDs))
	}
	if !c.IsProduction() {
		t.Error("IsProduction() = false for APP_ENV=production")
	}
}

func TestLoad_NumberRule(t *testing.T) {
	cases := []struct {
		raw      string
		want     time.Duration
		warnings int
	}{
		{"", 45 * time.Minute, 0},
		{"10", 10 * time.Minute, 0},
		{"0.5", 30 * time.Second, 0},
		{" 2 ", 2 * time.Minute, 0},
		{"1e1", 10 * time.Minute, 0},
		{"0", 45 * time.Minute, 1},
		{"-3", 45 * time.Minute, 1},
		{"abc", 45 * time.Minute, 1},
		{"NaN", 45 * time.Minute, 1},
		{"Infinity", 45 * time.Minute, 1},
		{"+Inf", 45 * time.Minute, 1},
		{"10m", 45 * time.Minute, 1},
	}
	for _, tc := range cases {
		t.Run(tc.raw, func(t *testing.T) {
			c, warnings := mustLoad(t, env("INSIGHT_COOLDOWN_MINUTES", tc.raw))
			if c.InsightCooldown != tc.want {
				t.Errorf("InsightCooldown = %v, want %v", c.InsightCooldown, tc.want)
			}
			if len(warnings) != tc.warnings {
				t.Fatalf("warnings = %q, want %d", warnings, tc.warnings)
			}
			if tc.warnings > 0 && !strings.Contains(warnings[0], "INSIGHT_COOLDOWN_MINUTES") {
				t.Errorf("warning %q does not name the variable", warnings[0])
			}
		})
	}
}

func TestLoad_IntegerVariablesCutFractions(t *testing.T) {
	cases := []struct {
		raw      string
		want     int
		warnings int
	}{
		{"8080", 8080, 0},
		{"8080.9", 8080, 0},
		{"0.5", 3000, 1},
		{"0", 3000, 1},
		{"x", 3000, 1},
		{"1e300", 3000, 1},
	}
	for _, tc := range cases {
		t.Run(tc.raw, func(t *testing.T) {
			c, warnings := mustLoad(t, env("PORT", tc.raw))
			if c.Port != tc.want || len(warnings) != tc.warnings {
				t.Errorf("Port = %d (warnings %q), want %d with %d warnings", c.Port, warnings, tc.want, tc.warnings)
			}
		})
	}
}

func TestLoad_BooleanRule(t *testing.T) {
	cases := map[string]bool{
		"": true, "false": false, "0": false, "true": true, "1": true,
		"FALSE": true, "False": true, "no": true, "off": true, " false": true,
	}
	for raw, want := range cases {
		t.Run(raw, func(t *testing.T) {
			c, _ := mustLoad(t, env("INSIGHTS_ENABLED", raw, "MIGRATE_ON_START", raw))
			if c.InsightsEnabled != want || c.MigrateOnStart != want {
				t.Errorf("INSIGHTS_ENABLED=%q -> %v, MIGRATE_ON_START -> %v; want %v", raw, c.InsightsEnabled, c.MigrateOnStart, want)
			}
		})
	}
}

func TestLoad_UnknownEnumRefusesToStartNamingTheVariable(t *testing.T) {
	for _, name := range []string{"LOG_LEVEL", "INSIGHTS_PROVIDER", "TELEMETRY_INVALID_EVENTS", "DB_SSLMODE"} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Load(env(name, "bogus"))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("err = %v, want an error naming %s", err, name)
			}
		})
	}
}

func TestLoad_EnumsAcceptAnyCase(t *testing.T) {
	c, _ := mustLoad(t, env("LOG_LEVEL", "WARN", "INSIGHTS_PROVIDER", " Gemini ", "TELEMETRY_INVALID_EVENTS", "Reject"))
	if c.LogLevel != "warn" || c.InsightsProvider != ProviderGemini || c.TelemetryInvalidEvents != InvalidEventsReject {
		t.Errorf("got %q %q %q", c.LogLevel, c.InsightsProvider, c.TelemetryInvalidEvents)
	}
}

func TestLoad_JWTSecretIsRequired(t *testing.T) {
	_, _, err := Load(env("JWT_SECRET", ""))
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
		t.Fatalf("err = %v, want JWT_SECRET is required", err)
	}
}

func TestLoad_AllErrorsAreReportedTogether(t *testing.T) {
	_, _, err := Load(env("JWT_SECRET", "", "LOG_LEVEL", "loud"))
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET") || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Fatalf("err = %v, want both problems", err)
	}
}

func TestLoad_AppEnvFallsBackToNodeEnv(t *testing.T) {
	cases := []struct{ appEnv, nodeEnv, want string }{
		{"", "", "development"},
		{"", "production", "production"},
		{"staging", "production", "staging"},
		{"production", "", "production"},
	}
	for _, tc := range cases {
		c, _ := mustLoad(t, env("APP_ENV", tc.appEnv, "NODE_ENV", tc.nodeEnv))
		if c.AppEnv != tc.want {
			t.Errorf("APP_ENV=%q NODE_ENV=%q -> %q, want %q", tc.appEnv, tc.nodeEnv, c.AppEnv, tc.want)
		}
	}
}

func TestLoad_DatabaseSelection(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"nothing set: private cluster", nil, ""},
		{"DATABASE_URL wins over DB_*", []string{"DATABASE_URL", "postgres://a/b", "DB_HOST", "h", "DB_SSLMODE", "require"}, "postgres://a/b"},
		{"one DB_* variable selects DB_* with defaults", []string{"DB_HOST", "db.internal"}, "postgres://postgres:postgres@db.internal:5432/devflow_db?sslmode=disable"},
		{"all DB_* and sslmode", []string{"DB_HOST", "h", "DB_PORT", "6543", "DB_NAME", "n", "DB_USER", "u", "DB_PASSWORD", "p@ss/w:rd", "DB_SSLMODE", "verify-full"},
			"postgres://u:p%40ss%2Fw%3Ard@h:6543/n?sslmode=verify-full"},
		{"IPv6 host", []string{"DB_HOST", "::1"}, "postgres://postgres:postgres@[::1]:5432/devflow_db?sslmode=disable"},
		{"DB_PASSWORD alone counts", []string{"DB_PASSWORD", "x"}, "postgres://postgres:x@localhost:5432/devflow_db?sslmode=disable"},
		{"DB_SSLMODE alone does not", []string{"DB_SSLMODE", "require"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := mustLoad(t, env(tc.env...))
			got, ok := c.DatabaseURL()
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("DatabaseURL() = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

func TestLoad_FrontendURL(t *testing.T) {
	cases := map[string]string{
		"":                       DefaultFrontendURL,
		"http://127.0.0.1:4173/": "http://127.0.0.1:4173",
		"https://x.example///":   "https://x.example",
		"https://x.example/app":  "https://x.example/app",
	}
	for raw, want := range cases {
		c, _ := mustLoad(t, env("FRONTEND_URL", raw))
		if c.FrontendURL != want {
			t.Errorf("FRONTEND_URL=%q -> %q, want %q", raw, c.FrontendURL, want)
		}
	}
}

func TestLoad_AdminUserIDs(t *testing.T) {
	a := "fedf1d98-c503-49a8-a576-9d634cc2d9b5"
	b := "2FB73E17-63E6-4A60-A7BE-09F2F9676E34"
	c, warnings := mustLoad(t, env("ADMIN_USER_IDS", " "+a+",,"+b+", not-a-uuid ,"))
	want := []ids.ID{ids.MustParse(a), ids.MustParse(b)}
	if !reflect.DeepEqual(c.AdminUserIDs, want) {
		t.Errorf("AdminUserIDs = %v, want %v", c.AdminUserIDs, want)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "not-a-uuid") {
		t.Errorf("warnings = %q, want one about not-a-uuid", warnings)
	}
}

func TestLoad_CORSOrigins(t *testing.T) {
	cases := map[string][]string{
		"":                              nil,
		" , ":                           nil,
		"https://a.example":             {"https://a.example"},
		" https://a.example ,http://b ": {"https://a.example", "http://b"},
	}
	for raw, want := range cases {
		c, _ := mustLoad(t, env("CORS_ALLOWED_ORIGINS", raw))
		if !reflect.DeepEqual(c.CORSAllowedOrigins, want) {
			t.Errorf("CORS_ALLOWED_ORIGINS=%q -> %q, want %q", raw, c.CORSAllowedOrigins, want)
		}
	}
}

func TestLoad_RetiredETLVariablesGetANotice(t *testing.T) {
	_, warnings := mustLoad(t, env("METRICS_ETL_INTERVAL_SECONDS", "60", "METRICS_ETL_ENABLED", "true"))
	joined := strings.Join(warnings, "\n")
	if len(warnings) != 2 || !strings.Contains(joined, "METRICS_ETL_INTERVAL_SECONDS") || !strings.Contains(joined, "METRICS_ETL_ENABLED") {
		t.Errorf("warnings = %q, want one notice per retired variable", warnings)
	}
}

func TestConfig_LoggingNeverPrintsSecrets(t *testing.T) {
	secrets := []string{"jwt-s3cret", "gsec-s3cret", "hsec-s3cret", "api-s3cret", "dbpass-s3cret", "qpass-s3cret"}
	c, _ := mustLoad(t, env(
		"JWT_SECRET", secrets[0], "GOOGLE_CLIENT_SECRET", secrets[1], "GITHUB_CLIENT_SECRET", secrets[2],
		"GOOGLE_API_KEY", secrets[3],
		"DATABASE_URL", "postgres://alice:"+secrets[4]+"@db:5432/x?sslmode=require&password="+secrets[5],
		"GOOGLE_CLIENT_ID", "visible-client-id",
	))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	outputs := map[string]string{
		"slog":  buf.String(),
		"%v":    fmt.Sprintf("%v", c),
		"%+v":   fmt.Sprintf("%+v", c),
		"%#v":   fmt.Sprintf("%#v", c),
		"Print": fmt.Sprint(c),
	}
	for how, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s output contains secret %q: %s", how, s, out)
			}
		}
	}
	for _, want := range []string{"visible-client-id", `"jwt_secret":"set"`, "postgres://alice@db:5432/x", "sslmode=require"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log output lacks %q: %s", want, buf.String())
		}
	}
}

func TestRedactURL_HidesKeyValueDSNs(t *testing.T) {
	if got := redactURL("host=db password=hunter2"); strings.Contains(got, "hunter2") {
		t.Errorf("redactURL leaked: %q", got)
	}
}
