package config

import (
	"log/slog"
	"net/url"
	"strings"
)

// LogValue is the start-up log view of the configuration: every setting an operator may
// want to check, with secrets reduced to "set"/"unset" and the database password removed.
// Because Config implements slog.LogValuer, slog.Any("config", cfg) can never print a
// secret.
func (c Config) LogValue() slog.Value {
	admins := make([]string, len(c.AdminUserIDs))
	for i, id := range c.AdminUserIDs {
		admins[i] = id.String()
	}
	return slog.GroupValue(
		slog.Int("port", c.Port),
		slog.String("app_env", c.AppEnv),
		slog.String("log_level", c.LogLevel),
		slog.String("database", redactURL(c.DBURL)),
		slog.String("data_dir", c.DataDir),
		slog.Bool("migrate_on_start", c.MigrateOnStart),
		slog.String("eventstore", redactURL(c.EventStoreURL)),
		slog.String("jwt_secret", setOrUnset(c.JWTSecret)),
		slog.String("data_key", setOrUnset(c.DataKey)),
		slog.String("data_key_file", c.DataKeyFile),
		slog.String("cors_allowed_origins", strings.Join(c.CORSAllowedOrigins, ",")),
		slog.String("google_client_id", c.GoogleClientID),
		slog.String("google_client_secret", setOrUnset(c.GoogleClientSecret)),
		slog.String("github_client_id", c.GitHubClientID),
		slog.String("github_client_secret", setOrUnset(c.GitHubClientSecret)),
		slog.String("oauth_callback_base_url", c.OAuthCallbackBaseURL),
		slog.String("web_app_url", c.WebAppURL),
		slog.String("vscode_deeplink", c.VSCodeDeepLink),
		slog.String("frontend_url", c.FrontendURL),
		slog.String("google_api_key", setOrUnset(c.GoogleAPIKey)),
		slog.String("gemini_model", c.GeminiModel),
		slog.String("google_gemini_base_url", redactURL(c.GoogleGeminiBaseURL)),
		slog.String("insights_provider", string(c.InsightsProvider)),
		slog.Bool("insights_enabled", c.InsightsEnabled),
		slog.Duration("insight_check_interval", c.InsightCheckInterval),
		slog.Duration("insight_cooldown", c.InsightCooldown),
		slog.Duration("snooze_duration", c.SnoozeDuration),
		slog.Duration("insight_activity_window", c.InsightActivityWindow),
		slog.Float64("rule_very_long_session_min", c.RuleVeryLongSessionMin),
		slog.Float64("rule_long_session_min", c.RuleLongSessionMin),
		slog.Float64("rule_high_churn_ratio", c.RuleHighChurnRatio),
		slog.Float64("rule_rapid_switch_count", c.RuleRapidSwitchCount),
		slog.Float64("rule_delete_heavy_total", c.RuleDeleteHeavyTotal),
		slog.String("admin_user_ids", strings.Join(admins, ",")),
		slog.Int64("telemetry_max_body_bytes", c.TelemetryMaxBodyBytes),
		slog.String("telemetry_invalid_events", string(c.TelemetryInvalidEvents)),
		slog.Int("metrics_etl_batch_size", c.MetricsETLBatchSize),
		slog.Duration("heartbeat_max_age", c.HeartbeatMaxAge),
		slog.Duration("wakatime_timeout", c.WakaTimeTimeout),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
	)
}

// String and GoString print the redacted view too, so fmt ("%v", "%+v", "%#v") cannot
// leak a secret either.
func (c Config) String() string { return "config.Config" + c.LogValue().String() }

// GoString: see String.
func (c Config) GoString() string { return c.String() }

func setOrUnset(secret string) string {
	if secret == "" {
		return "unset"
	}
	return "set"
}

// redactURL keeps a URL's scheme, user, host, path and harmless query parameters, but
// drops the password and the values of secret-looking parameters (libpq URLs may carry
// "password=" in the query). Anything that is not a URL with a scheme, such as a libpq
// key=value string, is hidden entirely.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "(set, not shown)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	for key := range q {
		k := strings.ToLower(key)
		if strings.Contains(k, "pass") || strings.Contains(k, "secret") || strings.Contains(k, "key") || strings.Contains(k, "token") {
			q[key] = []string{"redacted"}
		}
	}
	u.RawQuery = q.Encode()
	u.Fragment = ""
	return u.String()
}
