// Package telemetryapitest starts the telemetry area over real PostgreSQL and real
// HTTP for tests and benchmarks: the API with the real authenticator, POST /telemetry,
// the metrics endpoints, and the projection engine with the metrics and sessions
// projections.
package telemetryapitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	cmdetl "github.com/devflow/backend/commands/etl"
	cmdtelemetry "github.com/devflow/backend/commands/telemetry"
	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/auth"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/httpapi/metricsapi"
	"github.com/devflow/backend/infra/httpapi/telemetryapi"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
	metricsprojection "github.com/devflow/backend/projections/metrics"
	sessionsprojection "github.com/devflow/backend/projections/sessions"
	metricsqueries "github.com/devflow/backend/queries/metrics"
)

// Quiet discards logs.
var Quiet = quiet()

func quiet() *slog.Logger {
	if os.Getenv("TELEMETRY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

const jwtSecret = "telemetry-test-secret"

// Options tune an Env.
type Options struct {
	Mode    cmdtelemetry.Mode
	MaxBody int64    // TELEMETRY_MAX_BODY_BYTES; default 8 MiB
	Admins  []ids.ID // ADMIN_USER_IDS
	// NoEngine leaves the projection runners stopped (tests that step projections
	// themselves).
	NoEngine bool
	// BodyLimits are the API's (the defaults when zero).
	BodyLimits httpapi.BodyLimits
}

// Env is one test's service.
type Env struct {
	t      testing.TB
	Pool   *pgxpool.Pool
	Store  *postgres.EventStore
	Engine *projections.Engine
	Ingest *cmdtelemetry.IngestHandler
	ETL    *cmdetl.RunHandler
	JWT    *auth.JWT
	URL    string // base URL including /api/v1
	Addr   string // the server's host:port
	Client *http.Client
}

// New starts the service on a fresh database.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	return NewOnPool(t, Pool(t), opts)
}

// Pool is a pool on a fresh database, large enough for the engine's runners (each holds
// a leader connection, and a batch takes two more) beside the HTTP handlers.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewOnPool starts the service on pool.
func NewOnPool(t testing.TB, pool *pgxpool.Pool, opts Options) *Env {
	t.Helper()
	if opts.MaxBody == 0 {
		opts.MaxBody = 8388608
	}
	store := postgres.NewEventStore(pool)
	t.Cleanup(store.Close)
	schemas, err := httpapi.RequestSchemas()
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := auth.NewJWT(jwtSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{AppEnv: "development", JWTSecret: jwtSecret, AdminUserIDs: opts.Admins, TelemetryMaxBodyBytes: opts.MaxBody}
	api := httpapi.New(httpapi.Params{Config: cfg, Logger: Quiet, Authenticator: auth.NewAuthenticator(pool, jwt, nil), BodyLimits: opts.BodyLimits})
	ingest := cmdtelemetry.NewIngestHandler(postgres.NewTelemetryStore(pool, store), schemas, opts.Mode, nil)
	engine := projections.NewEngine(pool, store, Quiet, projections.Options{IdleWait: 50 * time.Millisecond},
		[]projections.Projection{metricsprojection.New(metricsprojection.Options{}), sessionsprojection.New()})
	etl := cmdetl.NewRunHandler(store, postgres.NewETLProjections(pool, engine), metricsprojection.Name)
	api.Mount(
		telemetryapi.NewHandler(api, ingest, opts.MaxBody, nil),
		metricsapi.NewHandler(api, metricsqueries.New(pool), etl),
	)
	if !opts.NoEngine {
		if err := engine.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = engine.Stop(context.Background()) })
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	// Like the extension's HTTP client (axios on Node), which hands the kernel a
	// request body in one write, not in net/http's default 4 KB pieces.
	transport := srv.Client().Transport.(*http.Transport).Clone()
	transport.WriteBufferSize = 64 << 10
	return &Env{t: t, Pool: pool, Store: store, Engine: engine, Ingest: ingest, ETL: etl, JWT: jwt, URL: srv.URL + httpapi.Prefix, Addr: srv.Listener.Addr().String(),
		Client: &http.Client{Transport: transport}}
}

// For is the Env with t reporting its failures: a fuzz function's own t, since the
// *testing.F the Env was made with must not be used there.
func (e *Env) For(t testing.TB) *Env {
	c := *e
	c.t = t
	return &c
}

// User is a registered user with an API token (as the extension holds) and a JWT (as
// the dashboard's cookie holds).
type User struct {
	ID    ids.ID
	Token string // dvf_…
	JWT   string
}

// NewUser inserts a user and issues an API token for it.
func (e *Env) NewUser() User {
	e.t.Helper()
	return e.NewUserWithID(ids.New())
}

// NewUserWithID is NewUser with a chosen id (e.g. one listed in ADMIN_USER_IDS).
func (e *Env) NewUserWithID(id ids.ID) User {
	e.t.Helper()
	ctx := context.Background()
	name := "user_" + id.String()[:8]
	if _, err := e.Pool.Exec(ctx, `INSERT INTO users (id, username, email, provider, provider_user_id) VALUES ($1, $2, $3, 'password', $3)`,
		id, name, name+"@example.com"); err != nil {
		e.t.Fatal(err)
	}
	token, plaintext := accounts.Issue(id, "test", accounts.TokenSourcePairing, time.Now())
	if _, err := e.Pool.Exec(ctx, `INSERT INTO api_tokens (id, user_id, name, token_hash, token_prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		token.ID, id, token.Name, token.Hash, token.Prefix, token.CreatedAt); err != nil {
		e.t.Fatal(err)
	}
	jwt, err := e.JWT.Mint(id, accounts.ProviderPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	return User{ID: id, Token: plaintext, JWT: jwt}
}

// Response is an HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r Response) String() string { return fmt.Sprintf("%d %s", r.Status, r.Body) }

// Do sends a request; credential "" sends none; body nil sends none. JSON bodies get
// Content-Type application/json.
func (e *Env) Do(method, path, credential string, body []byte) Response {
	e.t.Helper()
	return e.DoType(method, path, credential, body, "application/json")
}

// DoType is Do with an explicit Content-Type ("" for none).
func (e *Env) DoType(method, path, credential string, body []byte, contentType string) Response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" && body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// CatchUp waits until the running projections have processed the whole log.
func (e *Env) CatchUp() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	head, err := e.Store.Head(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, name := range []string{metricsprojection.Name, sessionsprojection.Name} {
		if err := e.Engine.WaitFor(ctx, name, head); err != nil {
			e.t.Fatal(err)
		}
	}
}

// Count runs a count query.
func (e *Env) Count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}
