// Package insightstest starts the insights area over real PostgreSQL and real HTTP for
// tests: telemetry ingest with the metrics and sessions projections (the insight
// inputs), the recommendations projection, the evaluator with the chosen provider (the
// Gemini one pointed at a local fake), and the recommendation endpoints behind the real
// authenticator.
package insightstest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	cmdinsights "github.com/devflow/backend/commands/insights"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/insight"
	"github.com/devflow/backend/domain/recommendation"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/auth"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/gemini"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/httpapi/recommendationsapi"
	"github.com/devflow/backend/infra/httpapi/telemetryapi/telemetryapitest"
	infrainsights "github.com/devflow/backend/infra/insights"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
	metricsprojection "github.com/devflow/backend/projections/metrics"
	projection "github.com/devflow/backend/projections/recommendations"
	sessionsprojection "github.com/devflow/backend/projections/sessions"
)

// Options tune an Env.
type Options struct {
	Provider cmdinsights.Provider // default rules
	// Gemini, for the gemini provider: the fake the SDK calls.
	Gemini        *FakeGemini
	GeminiTimeout time.Duration // default 2 s
	Thresholds    *insight.Thresholds
	Cooldown      *recommendation.Cooldown
	Now           func() time.Time
	// CatchUpLimit bounds the evaluation's wait for its read models; default the
	// service's infrainsights.CatchUpLimit.
	CatchUpLimit time.Duration
}

// Env is one test's insights service. The telemetry part (ingest, users, Do for
// /telemetry) is the embedded telemetryapitest.Env; Do here reaches the
// recommendation endpoints.
type Env struct {
	*telemetryapitest.Env
	t         testing.TB
	Engine    *projections.Engine // the recommendations projection's engine
	Evaluator *cmdinsights.Evaluator
	Activity  *infrainsights.Activity
	Locker    *infrainsights.Locker
	Read      *infrainsights.ReadModel
	URL       string
}

// New starts the service on a fresh database.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.NewPool(ctx, testdb.New(t)) // the service's pool settings
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	tel := telemetryapitest.NewOnPool(t, pool, telemetryapitest.Options{})
	e := &Env{Env: tel, t: t}
	e.Evaluator = NewEvaluator(t, pool, tel.Store, opts, e)

	api := httpapi.New(httpapi.Params{Config: config.Config{AppEnv: "development"}, Logger: telemetryapitest.Quiet,
		Authenticator: auth.NewAuthenticator(pool, tel.JWT, nil)})
	api.Mount(recommendationsapi.NewHandler(api, pool, e.Evaluator, cmdinsights.NewActHandler(tel.Store, e.Read, opts.Now, telemetryapitest.Quiet)))
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	e.URL = srv.URL + httpapi.Prefix
	return e
}

// NewEvaluator builds an evaluator (and, the first time, the recommendations engine and
// the adapters) over pool; several evaluators on one Env stand for several replicas.
func NewEvaluator(t testing.TB, pool *pgxpool.Pool, store *postgres.EventStore, opts Options, e *Env) *cmdinsights.Evaluator {
	t.Helper()
	ctx := context.Background()
	if e.Engine == nil {
		e.Engine = projections.NewEngine(pool, store, telemetryapitest.Quiet, projections.Options{IdleWait: 50 * time.Millisecond},
			[]projections.Projection{projection.New()})
		if err := e.Engine.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Engine.Stop(context.Background()) })
		limit := opts.CatchUpLimit
		if limit == 0 {
			limit = infrainsights.CatchUpLimit
		}
		e.Read = infrainsights.NewReadModel(pool, store, e.Engine, limit)
		e.Activity = infrainsights.NewActivity(pool)
	}
	locker, err := infrainsights.NewLocker(ctx, pool, infrainsights.LockSlots)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(locker.Close)
	if e.Locker == nil {
		e.Locker = locker
	}

	if opts.Provider == 0 && opts.Gemini == nil {
		opts.Provider = cmdinsights.ProviderRules
	}
	if opts.Gemini != nil && opts.Provider == 0 {
		opts.Provider = cmdinsights.ProviderGemini
	}
	th := insight.DefaultThresholds()
	if opts.Thresholds != nil {
		th = *opts.Thresholds
	}
	cooldown := recommendation.Cooldown{Pending: 45 * time.Minute, Snooze: 30 * time.Minute}
	if opts.Cooldown != nil {
		cooldown = *opts.Cooldown
	}
	var llm cmdinsights.LLM
	if opts.Provider == cmdinsights.ProviderGemini {
		if opts.Gemini == nil {
			t.Fatal("insightstest: gemini provider without a fake")
		}
		timeout := opts.GeminiTimeout
		if timeout == 0 {
			timeout = 2 * time.Second
		}
		client, err := gemini.New(ctx, gemini.Config{APIKey: "test-key", Model: "gemini-2.5-flash", BaseURL: opts.Gemini.URL, Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		llm = client
	}
	return cmdinsights.NewEvaluator(cmdinsights.Config{Provider: opts.Provider, Thresholds: th, Cooldown: cooldown},
		cmdinsights.Deps{Store: store, Locker: locker, Read: e.Read, Sessions: e.Activity, Metrics: e.Activity, LLM: llm,
			Now: opts.Now, Log: telemetryapitest.Quiet})
}

// Work is what Send sends for a user: a session that started Minutes ago and is
// still active, with Added/Deleted lines typed into File and Switches editor switches
// (Rapid of them flagged rapid).
type Work struct {
	Minutes         int
	File            string
	Added, Deleted  int
	Switches, Rapid int
}

// Send posts one telemetry batch for the user (with their API token) and waits
// until the metrics and sessions projections have it. It returns the session id.
func (e *Env) Send(u telemetryapitest.User, w Work) string {
	e.t.Helper()
	session := e.Post(u, w)
	e.CatchUp()
	return session
}

// Post posts one telemetry batch for the user (with their API token) and returns at
// its 202, without waiting for any projection. It returns the session id.
func (e *Env) Post(u telemetryapitest.User, w Work) string {
	e.t.Helper()
	session := ids.New().String()
	now := time.Now().UTC()
	start := now.Add(-time.Duration(w.Minutes) * time.Minute)
	if w.File == "" {
		w.File = "src/app.ts"
	}
	events := []tt.Event{tt.FileSave(session, start, w.File, 100)}
	at := start.Add(time.Second)
	// One text change per line, each a one-line range (formula v1 counts the width).
	for i := range w.Added {
		events = append(events, tt.TextChange(session, at, w.File, 100, 5, 0, tt.Range{Start: 10 + i, End: 10 + i}))
	}
	for i := range w.Deleted {
		events = append(events, tt.TextChange(session, at, w.File, 100, 0, 5, tt.Range{Start: 10 + i, End: 10 + i}))
	}
	for i := range w.Switches {
		to := w.File
		if i%2 == 1 {
			to = "src/other.ts"
		}
		events = append(events, tt.EditorSwitch(session, at, "src/x.ts", to, i < w.Rapid))
	}
	events = append(events, tt.FileSave(session, now.Add(-time.Second), w.File, 100)) // keeps the user in the window
	r := e.Env.Do("POST", "/telemetry", u.Token, tt.Payload(events...))
	if r.Status != 202 {
		e.t.Fatalf("telemetry: %s", r)
	}
	return session
}

// HoldTelemetryProjections stops the runners of the metrics and sessions projections,
// as when the replica that leads them stalls, and returns the function that starts
// them again (on a new engine, as another replica taking over would).
func (e *Env) HoldTelemetryProjections() (release func()) {
	e.t.Helper()
	if err := e.Env.Engine.Stop(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return func() {
		e.t.Helper()
		engine := projections.NewEngine(e.Pool, e.Store, telemetryapitest.Quiet, projections.Options{IdleWait: 50 * time.Millisecond},
			[]projections.Projection{metricsprojection.New(metricsprojection.Options{}), sessionsprojection.New()})
		if err := engine.Start(context.Background()); err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { _ = engine.Stop(context.Background()) })
		e.Env.Engine = engine // the runners the next hold stops
	}
}

// CatchUpAll waits until the metrics, sessions and recommendations projections have
// processed the whole log.
func (e *Env) CatchUpAll() {
	e.t.Helper()
	e.CatchUp()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	head, err := e.Store.Head(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.Engine.WaitFor(ctx, projection.Name, head); err != nil {
		e.t.Fatal(err)
	}
}

// Do sends a request to the recommendation endpoints (credential "" sends none; a
// non-nil body is sent as application/json).
func (e *Env) Do(method, path, credential string, body []byte) telemetryapitest.Response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
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
	return telemetryapitest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}
