package authapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/devflow/backend/infra/app"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
)

// TestModule_WiresIntoTheApp starts the fx graph the service uses (httpapi + auth) and
// checks that the routes and the Authenticator are live and that stop ends the
// background work.
func TestModule_WiresIntoTheApp(t *testing.T) {
	t.Parallel()
	pool := testdb.Pool(t)
	cfg := testConfig()
	cfg.Port = 0
	var api *httpapi.API
	app := fx.New(
		fx.NopLogger,
		fx.Supply(cfg, pool, postgres.NewEventStore(pool), slog.New(slog.NewTextHandler(io.Discard, nil))),
		httpapi.Module,
		app.AuthModule,
		fx.Populate(&api),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	base := "http://" + api.ListenAddr() + httpapi.Prefix
	if res := do(t, base, req{method: "POST", path: "/auth/pairings"}); res.status != http.StatusCreated {
		t.Fatalf("POST /auth/pairings: %d %s", res.status, res.body)
	}
	expect(t, do(t, base, req{method: "GET", path: "/auth/me", auth: mintWith(t, "wrong", "fedf1d98-c503-49a8-a576-9d634cc2d9b5")}), 401, `{"error":"Unauthorized"}`)
	expect(t, do(t, base, req{method: "GET", path: "/auth/me", auth: mintWith(t, testSecret, "fedf1d98-c503-49a8-a576-9d634cc2d9b5")}), 404, `{"error":"User not found"}`)
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestModule_RefusesToStartWithoutJWTSecret(t *testing.T) {
	t.Parallel()
	pool := testdb.Pool(t)
	cfg := config.Config{}
	app := fx.New(
		fx.NopLogger,
		fx.Supply(cfg, pool, postgres.NewEventStore(pool), slog.New(slog.NewTextHandler(io.Discard, nil))),
		httpapi.Module,
		app.AuthModule,
	)
	if app.Err() == nil {
		t.Fatal("the auth module must refuse an empty JWT_SECRET")
	}
}
