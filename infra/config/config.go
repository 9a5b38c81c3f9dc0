// Package config reads devFlow's configuration from the environment (contract section
// 12): typed values, the contract's defaults, and the parsing rules shared by every
// variable. Bad numbers fall back to their default with a warning; unknown enumerated
// values and a missing JWT_SECRET stop the service before it starts.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/devflow/backend/domain/ids"
	"go.uber.org/fx"
)

// DefaultFrontendURL is the dashboard base used for pairing links when FRONTEND_URL is
// unset or empty.
const DefaultFrontendURL = "https://who-goes-to-try.hackathon.sev-2.com"

// InsightsProvider selects who writes recommendations (INSIGHTS_PROVIDER, decision D24).
type InsightsProvider string

const (
	ProviderAuto   InsightsProvider = "auto"
	ProviderGemini InsightsProvider = "gemini"
	ProviderRules  InsightsProvider = "rules"
	ProviderOff    InsightsProvider = "off"
)

// InvalidEventsMode says what telemetry ingest does with invalid events
// (TELEMETRY_INVALID_EVENTS, decision D15).
type InvalidEventsMode string

const (
	InvalidEventsQuarantine InvalidEventsMode = "quarantine"
	InvalidEventsReject     InvalidEventsMode = "reject"
)

// Config is the whole service configuration. The zero value is not useful; build it with
// Load (or, in tests, fill in the fields a test needs).
type Config struct {
	Port     int    // PORT
	AppEnv   string // APP_ENV, else NODE_ENV, else "development"
	LogLevel string // LOG_LEVEL: debug, info, warn, error

	// DBURL is the PostgreSQL URL: DATABASE_URL, else one built from DB_* (+DB_SSLMODE),
	// else empty, which means "start the private cluster". Read it with DatabaseURL.
	DBURL          string
	DataDir        string // DEVFLOW_DATA_DIR: the private cluster's data folder
	MigrateOnStart bool   // MIGRATE_ON_START
	EventStoreURL  string // EVENTSTORE_URL (esdb://…), empty: the Postgres event log

	JWTSecret          string   // JWT_SECRET (required)
	DataKey            string   // DATA_KEY: base64 of the 32-byte master key of the data keys
	DataKeyFile        string   // DATA_KEY_FILE: a file holding DATA_KEY's value
	CORSAllowedOrigins []string // CORS_ALLOWED_ORIGINS, exact origins

	GoogleClientID       string
	GoogleClientSecret   string
	GitHubClientID       string
	GitHubClientSecret   string
	OAuthCallbackBaseURL string // OAUTH_CALLBACK_BASE_URL
	WebAppURL            string // WEB_APP_URL
	VSCodeDeepLink       string // VSCODE_DEEPLINK
	FrontendURL          string // FRONTEND_URL without trailing slashes

	GoogleAPIKey        string // GOOGLE_API_KEY
	GeminiModel         string // GEMINI_MODEL
	GoogleGeminiBaseURL string // GOOGLE_GEMINI_BASE_URL (the genai SDK reads it itself too)

	InsightsProvider      InsightsProvider
	InsightsEnabled       bool          // INSIGHTS_ENABLED
	InsightCheckInterval  time.Duration // INSIGHT_CHECK_INTERVAL_SECONDS
	InsightCooldown       time.Duration // INSIGHT_COOLDOWN_MINUTES
	SnoozeDuration        time.Duration // SNOOZE_DURATION_MINUTES
	InsightActivityWindow time.Duration // INSIGHT_ACTIVITY_WINDOW_MINUTES

	// Rule thresholds (decision D2); comparisons are strict and fractions are allowed.
	RuleVeryLongSessionMin float64
	RuleLongSessionMin     float64
	RuleHighChurnRatio     float64
	RuleRapidSwitchCount   float64
	RuleDeleteHeavyTotal   float64

	AdminUserIDs []ids.ID // ADMIN_USER_IDS

	TelemetryMaxBodyBytes  int64             // TELEMETRY_MAX_BODY_BYTES
	TelemetryInvalidEvents InvalidEventsMode // TELEMETRY_INVALID_EVENTS
	MetricsETLBatchSize    int               // METRICS_ETL_BATCH_SIZE

	HeartbeatMaxAge time.Duration // HEARTBEAT_MAX_AGE (days): older heartbeats are rejected
	WakaTimeTimeout time.Duration // WAKATIME_TIMEOUT_MINUTES: longest gap between heartbeats that counts as coding

	MetricsAddr     string        // METRICS_ADDR: own listener for /metrics; empty: the API port
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT_SECONDS: how long in-flight requests may drain
}

// DatabaseURL returns the configured PostgreSQL URL, or ("", false) when neither
// DATABASE_URL nor any DB_* variable is set and the service must start its own cluster.
func (c Config) DatabaseURL() (string, bool) { return c.DBURL, c.DBURL != "" }

// IsProduction reports whether APP_ENV is "production" (Secure, SameSite=None cookies).
func (c Config) IsProduction() bool { return c.AppEnv == "production" }

// Warnings are the non-fatal findings of Load; the service logs them at start-up.
type Warnings []string

// Module provides Config and its Warnings, loaded from the process environment.
var Module = fx.Module("config", fx.Provide(FromEnvironment))

// FromEnvironment is Load over the process environment.
func FromEnvironment() (Config, Warnings, error) {
	return Load(os.Getenv)
}

// Load builds the configuration from getenv (os.Getenv in production, a map in tests).
// Unset and empty variables are treated alike. It returns the warnings to log, or an
// error naming the variable that stops the service from starting.
func Load(getenv func(string) string) (Config, Warnings, error) {
	l := loader{getenv: getenv}
	var c Config

	c.Port = l.integer("PORT", 3000)
	c.AppEnv = l.str("APP_ENV", l.str("NODE_ENV", "development"))
	c.LogLevel = l.enum("LOG_LEVEL", "info", "debug", "info", "warn", "error")

	c.DBURL = l.databaseURL()
	c.DataDir = l.str("DEVFLOW_DATA_DIR", ".devflow/pgdata")
	c.MigrateOnStart = l.boolean("MIGRATE_ON_START")
	c.EventStoreURL = l.str("EVENTSTORE_URL", "")

	c.JWTSecret = getenv("JWT_SECRET")
	if c.JWTSecret == "" {
		l.fail("JWT_SECRET is required: set it to a long random secret (make run sets a development-only one)")
	}
	c.CORSAllowedOrigins = splitList(getenv("CORS_ALLOWED_ORIGINS"))
	c.DataKey = getenv("DATA_KEY")
	c.DataKeyFile = l.str("DATA_KEY_FILE", "")

	c.GoogleClientID = l.str("GOOGLE_CLIENT_ID", "")
	c.GoogleClientSecret = l.str("GOOGLE_CLIENT_SECRET", "")
	c.GitHubClientID = l.str("GITHUB_CLIENT_ID", "")
	c.GitHubClientSecret = l.str("GITHUB_CLIENT_SECRET", "")
	c.OAuthCallbackBaseURL = l.str("OAUTH_CALLBACK_BASE_URL", "")
	c.WebAppURL = l.str("WEB_APP_URL", "")
	c.VSCodeDeepLink = l.str("VSCODE_DEEPLINK", "")
	c.FrontendURL = strings.TrimRight(l.str("FRONTEND_URL", DefaultFrontendURL), "/")

	c.GoogleAPIKey = l.str("GOOGLE_API_KEY", "")
	c.GeminiModel = l.str("GEMINI_MODEL", "gemini-2.5-flash")
	c.GoogleGeminiBaseURL = l.str("GOOGLE_GEMINI_BASE_URL", "")

	c.InsightsProvider = InsightsProvider(l.enum("INSIGHTS_PROVIDER", "auto", "auto", "gemini", "rules", "off"))
	c.InsightsEnabled = l.boolean("INSIGHTS_ENABLED")
	c.InsightCheckInterval = l.duration("INSIGHT_CHECK_INTERVAL_SECONDS", 600, time.Second)
	c.InsightCooldown = l.duration("INSIGHT_COOLDOWN_MINUTES", 45, time.Minute)
	c.SnoozeDuration = l.duration("SNOOZE_DURATION_MINUTES", 30, time.Minute)
	c.InsightActivityWindow = l.duration("INSIGHT_ACTIVITY_WINDOW_MINUTES", 30, time.Minute)

	c.RuleVeryLongSessionMin = l.number("RULE_VERY_LONG_SESSION_MIN", 30)
	c.RuleLongSessionMin = l.number("RULE_LONG_SESSION_MIN", 15)
	c.RuleHighChurnRatio = l.number("RULE_HIGH_CHURN_RATIO", 0.3)
	c.RuleRapidSwitchCount = l.number("RULE_RAPID_SWITCH_COUNT", 3)
	c.RuleDeleteHeavyTotal = l.number("RULE_DELETE_HEAVY_TOTAL", 5)

	c.AdminUserIDs = l.adminIDs()

	c.TelemetryMaxBodyBytes = int64(l.integer("TELEMETRY_MAX_BODY_BYTES", 8388608))
	c.TelemetryInvalidEvents = InvalidEventsMode(l.enum("TELEMETRY_INVALID_EVENTS", "quarantine", "quarantine", "reject"))
	c.MetricsETLBatchSize = l.integer("METRICS_ETL_BATCH_SIZE", 5000)

	c.HeartbeatMaxAge = l.duration("HEARTBEAT_MAX_AGE", 14, 24*time.Hour)
	c.WakaTimeTimeout = l.duration("WAKATIME_TIMEOUT_MINUTES", 15, time.Minute)

	c.MetricsAddr = l.str("METRICS_ADDR", "")
	c.ShutdownTimeout = l.duration("SHUTDOWN_TIMEOUT_SECONDS", 20, time.Second)

	for _, name := range []string{"METRICS_ETL_INTERVAL_SECONDS", "METRICS_ETL_ENABLED"} {
		if getenv(name) != "" {
			l.warn("%s is no longer read (decision D14): metrics are kept up to date continuously by projections", name)
		}
	}

	if len(l.errs) > 0 {
		return Config{}, l.warnings, errors.Join(l.errs...)
	}
	return c, l.warnings, nil
}

// loader collects warnings and errors while reading variables, so that one start-up
// reports every problem at once.
type loader struct {
	getenv   func(string) string
	warnings Warnings
	errs     []error
}

func (l *loader) warn(format string, args ...any) {
	l.warnings = append(l.warnings, fmt.Sprintf(format, args...))
}

func (l *loader) fail(format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf(format, args...))
}

func (l *loader) str(name, def string) string {
	if v := l.getenv(name); v != "" {
		return v
	}
	return def
}

// number applies the contract's number rule: unset or empty means the default; a value
// that is not a finite number, or is <= 0, also means the default, with a warning.
func (l *loader) number(name string, def float64) float64 {
	raw := strings.TrimSpace(l.getenv(name))
	if raw == "" {
		return def
	}
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		l.warn("%s=%q is not a positive number; using the default %v", name, raw, def)
		return def
	}
	return v
}

// integer is number for counts and sizes: a fraction is cut to its whole part, which
// must still be positive.
func (l *loader) integer(name string, def int) int {
	v := l.number(name, float64(def))
	if v < 1 || v > 1<<53 {
		l.warn("%s=%q is not a positive whole number; using the default %d", name, l.getenv(name), def)
		return def
	}
	return int(v)
}

// duration is number in the variable's unit (seconds or minutes).
func (l *loader) duration(name string, def float64, unit time.Duration) time.Duration {
	return time.Duration(l.number(name, def) * float64(unit))
}

// boolean: unset or empty means true; only the exact strings "false" and "0" disable.
func (l *loader) boolean(name string) bool {
	v := l.getenv(name)
	return v != "false" && v != "0"
}

// enum accepts one of allowed (trimmed, any letter case) and refuses to start otherwise.
func (l *loader) enum(name, def string, allowed ...string) string {
	raw := strings.TrimSpace(l.getenv(name))
	if raw == "" {
		return def
	}
	v := strings.ToLower(raw)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	l.fail("%s=%q is not one of %s", name, raw, strings.Join(allowed, ", "))
	return def
}

// databaseURL applies decision D13: DATABASE_URL, else DB_* when any of the five is set,
// else none (the private cluster).
func (l *loader) databaseURL() string {
	sslmode := l.enum("DB_SSLMODE", "disable", "disable", "allow", "prefer", "require", "verify-ca", "verify-full")
	if u := l.getenv("DATABASE_URL"); u != "" {
		return u
	}
	anySet := false
	for _, name := range []string{"DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"} {
		if l.getenv(name) != "" {
			anySet = true
		}
	}
	if !anySet {
		if l.getenv("DB_SSLMODE") != "" {
			l.warn("DB_SSLMODE is set but no DB_HOST/DB_PORT/DB_NAME/DB_USER/DB_PASSWORD: it is ignored and the private PostgreSQL is used")
		}
		return ""
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(l.str("DB_USER", "postgres"), l.str("DB_PASSWORD", "postgres")),
		Host:     net.JoinHostPort(l.str("DB_HOST", "localhost"), strconv.Itoa(l.integer("DB_PORT", 5432))),
		Path:     "/" + l.str("DB_NAME", "devflow_db"),
		RawQuery: url.Values{"sslmode": {sslmode}}.Encode(),
	}
	return u.String()
}

// adminIDs parses ADMIN_USER_IDS: comma-separated UUIDs, trimmed, empty entries dropped,
// any letter case. An entry that is not a UUID can never match a user; it is dropped with
// a warning.
func (l *loader) adminIDs() []ids.ID {
	var out []ids.ID
	for _, entry := range splitList(l.getenv("ADMIN_USER_IDS")) {
		id, err := ids.Parse(entry)
		if err != nil {
			l.warn("ADMIN_USER_IDS entry %q is not a UUID; ignored", entry)
			continue
		}
		out = append(out, id)
	}
	return out
}

// splitList splits a comma-separated list, trimming entries and dropping empty ones.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
