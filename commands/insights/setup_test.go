package insights_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/commands/insights"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/insight"
	"github.com/devflow/backend/domain/recommendation"
	infrainsights "github.com/devflow/backend/infra/insights"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
	metricsprojection "github.com/devflow/backend/projections/metrics"
	projection "github.com/devflow/backend/projections/recommendations"
	sessionsprojection "github.com/devflow/backend/projections/sessions"
	query "github.com/devflow/backend/queries/recommendations"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// clock is the controllable clock of the timelines.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// activity stands in for the sessions and metrics read models (another area's
// projections): fixed inputs per user.
type activity struct {
	mu       sync.Mutex
	sessions map[ids.ID]insights.Session
	today    map[ids.ID]insight.Today
}

func (a *activity) Current(_ context.Context, user ids.ID) (insights.Session, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[user]
	return s, ok, nil
}

func (a *activity) Day(_ context.Context, user ids.ID, _ time.Time) (insight.Today, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.today[user], nil
}

func (a *activity) set(user ids.ID, start time.Time, today insight.Today) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sessions[user] = insights.Session{ID: ids.FromContent(user, []byte("session")), StartTime: start}
	a.today[user] = today
}

func (a *activity) clear(user ids.ID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.sessions, user)
}

type env struct {
	pool   *pgxpool.Pool
	store  *postgres.EventStore
	clock  *clock
	act    *activity
	rm     *infrainsights.ReadModel
	locker *infrainsights.Locker
	log    *slog.Logger
	eval   *insights.Evaluator
	acts   insights.ActHandler
}

func newEnv(t *testing.T, provider insights.Provider, llm insights.LLM) *env {
	t.Helper()
	pool, err := postgres.NewPool(context.Background(), testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := postgres.NewEventStore(pool)
	t.Cleanup(store.Close)
	log := slog.New(slog.NewTextHandler(testLogOut, nil))
	// The sessions and metrics projections run too: the evaluation waits for them,
	// although the activity fake stands in for their read models.
	engine := projections.NewEngine(pool, store, log, projections.Options{IdleWait: 50 * time.Millisecond},
		[]projections.Projection{projection.New(), sessionsprojection.New(), metricsprojection.New(metricsprojection.Options{})})
	if err := engine.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Stop(context.Background()) })

	e := &env{pool: pool, store: store, clock: &clock{now: t0}, log: log,
		act: &activity{sessions: map[ids.ID]insights.Session{}, today: map[ids.ID]insight.Today{}},
		rm:  infrainsights.NewReadModel(pool, store, engine, infrainsights.CatchUpLimit),
	}
	if e.locker, err = infrainsights.NewLocker(context.Background(), pool, 8); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.locker.Close)
	e.eval = e.evaluator(provider, llm, insight.DefaultThresholds())
	e.acts = insights.NewActHandler(store, e.rm, e.clock.Now, log)
	return e
}

// evaluator builds an evaluator over e's database and ports with these settings.
func (e *env) evaluator(provider insights.Provider, llm insights.LLM, th insight.Thresholds) *insights.Evaluator {
	return insights.NewEvaluator(insights.Config{
		Provider:   provider,
		Thresholds: th,
		Cooldown:   recommendation.Cooldown{Pending: 45 * time.Minute, Snooze: 30 * time.Minute},
	}, insights.Deps{Store: e.store, Locker: e.locker, Read: e.rm, Sessions: e.act, Metrics: e.act,
		LLM: llm, Now: e.clock.Now, Log: e.log})
}

// longSession gives user a session that fires very_long_session at the clock's now.
func (e *env) longSession(user ids.ID) {
	e.act.set(user, e.clock.Now().Add(-40*time.Minute), insight.Today{LinesAdded: 10, LinesDeleted: 2})
}

func (e *env) evaluate(t *testing.T, user ids.ID, mode insights.Mode) insights.Outcome {
	t.Helper()
	out, err := e.eval.Evaluate(context.Background(), user, mode)
	if err != nil {
		t.Fatalf("evaluate %s: %v", mode, err)
	}
	return out
}

func (e *env) pending(t *testing.T, user ids.ID) *query.View {
	t.Helper()
	v, err := query.Pending(context.Background(), e.pool, user)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (e *env) list(t *testing.T, user ids.ID) []query.View {
	t.Helper()
	v, err := query.List(context.Background(), e.pool, user, 100)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (e *env) pendingCount(t *testing.T, user ids.ID) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM recommendations WHERE user_id = $1 AND user_action IS NULL`, user).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) events(t *testing.T, stream string) []eventlog.Envelope {
	t.Helper()
	evs, err := e.store.ReadStream(context.Background(), stream, 0, 1000)
	if errors.Is(err, eventlog.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

var testLogOut io.Writer = io.Discard

func init() {
	if os.Getenv("INSIGHTS_TEST_LOG") != "" {
		testLogOut = os.Stderr
	}
}
