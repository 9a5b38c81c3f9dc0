package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/infra/app"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/httpapi/httpapitest"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
	"github.com/devflow/backend/projections/recommendations"
)

// startApp runs the insights module in an fx app with the real HTTP core, event log and
// projection engine, configured from env.
func startApp(t *testing.T, env map[string]string) (*httpapi.API, *projections.Engine, string) {
	t.Helper()
	url := testdb.New(t)
	env["DATABASE_URL"], env["JWT_SECRET"] = url, "module-test-secret"
	cfg, _, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Port = 0 // any free port
	logs := &httpapitest.Logs{}
	var api *httpapi.API
	var engine *projections.Engine
	app := fx.New(
		fx.NopLogger,
		fx.Supply(cfg, slog.New(slog.NewTextHandler(logs, nil))),
		fx.Provide(
			func(lc fx.Lifecycle) (*pgxpool.Pool, error) {
				pool, err := postgres.NewPool(context.Background(), url)
				if err == nil {
					lc.Append(fx.StopHook(pool.Close))
				}
				return pool, err
			},
			func(lc fx.Lifecycle, pool *pgxpool.Pool) eventlog.Store {
				store := postgres.NewEventStore(pool)
				lc.Append(fx.StopHook(store.Close))
				return store
			},
			// The area's projection, which the app's registry holds.
			func(pool *pgxpool.Pool, store eventlog.Store, log *slog.Logger) *projections.Engine {
				return projections.NewEngine(pool, store, log, projections.Options{}, []projections.Projection{recommendations.New()})
			},
		),
		fx.Invoke(func(lc fx.Lifecycle, e *projections.Engine) { lc.Append(fx.Hook{OnStart: e.Start, OnStop: e.Stop}) }),
		httpapi.Module,
		app.InsightsModule,
		fx.Populate(&api, &engine),
	)
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Stop(context.Background()) })
	return api, engine, logs.String()
}

func get(t *testing.T, api *httpapi.API, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + api.ListenAddr() + httpapi.Prefix + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Status + " " + string(b)
}

func TestInsightsModule_ProvidesRoutesAndScheduler(t *testing.T) {
	api, _, logs := startApp(t, map[string]string{})
	// The routes are mounted (behind authentication).
	if got := get(t, api, "/recommendations/pending"); got != `401 Unauthorized {"error":"Unauthorized"}` {
		t.Fatalf("GET pending: %s", got)
	}
	if !strings.Contains(logs, "insight scheduler started") {
		t.Fatalf("scheduler not started:\n%s", logs)
	}
}

func TestInsightsModule_SchedulerSwitches(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"INSIGHTS_ENABLED": "false"}, "insight scheduler disabled"},
		{map[string]string{"INSIGHTS_ENABLED": "0"}, "insight scheduler disabled"},
		{map[string]string{"INSIGHTS_PROVIDER": "off"}, "insight scheduler idle"},
		{map[string]string{"INSIGHTS_PROVIDER": "gemini"}, "GOOGLE_API_KEY is not set"},
	}
	for _, c := range cases {
		_, _, logs := startApp(t, c.env)
		if !strings.Contains(logs, c.want) {
			t.Errorf("%v: logs lack %q:\n%s", c.env, c.want, logs)
		}
	}
}

func TestInsightsModule_NeverLogsTheGeminiKey(t *testing.T) {
	const key = "AIza-module-test-secret-key"
	_, _, logs := startApp(t, map[string]string{"GOOGLE_API_KEY": key, "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:9"})
	if strings.Contains(logs, key) {
		t.Fatal("the API key is in the logs")
	}
	if !strings.Contains(logs, "insight scheduler started") {
		t.Fatalf("logs:\n%s", logs)
	}
}
