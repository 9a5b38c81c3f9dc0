package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cmdinsights "github.com/devflow/backend/commands/insights"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/insight"
	"github.com/devflow/backend/infra/httpapi/httpapitest"
	"github.com/devflow/backend/infra/httpapi/telemetryapi/telemetryapitest"
	"github.com/devflow/backend/infra/insights/insightstest"
	"github.com/devflow/backend/infra/scheduler"
	"github.com/devflow/backend/infra/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// normalReply keeps every tick evaluating: a normal outcome starts no cooldown.
func normalReply(in insight.Input) insightstest.Answer {
	return insightstest.Answer{Text: insightstest.ReplyJSON(insight.Reply{StateType: "normal", ConfidenceScore: 0.1,
		RecommendationType: "execute", RecommendationText: fmt.Sprintf("%d minutes in, all fine.", in.Session.DurationMinutes),
		Reasoning: "fine", Evidence: []insight.Evidence{}})}
}

// activeUsers makes n users active now, user i with i+1 lines added (which tells their
// provider inputs apart).
func activeUsers(e *insightstest.Env, n int) []telemetryapitest.User {
	users := make([]telemetryapitest.User, n)
	for i := range users {
		users[i] = e.NewUser()
		e.Send(users[i], insightstest.Work{Minutes: 40, Added: i + 1})
	}
	return users
}

// callsPerUser counts the fake's calls by lines added (user i+1).
func callsPerUser(f *insightstest.FakeGemini) map[int64]int {
	out := map[int64]int{}
	for _, in := range f.Inputs() {
		out[in.Today.LinesAdded]++
	}
	return out
}

type clock struct {
	mu       sync.Mutex
	now      time.Time
	ticks    chan time.Time
	interval time.Duration
}

func newClock(now time.Time) *clock { return &clock{now: now, ticks: make(chan time.Time)} }

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }
func (c *clock) Ticks(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	c.interval = d
	c.mu.Unlock()
	return c.ticks, func() {}
}

func TestScheduler_TwoReplicasMakeOneLLMCallPerUserPerTick(t *testing.T) {
	fake := insightstest.NewFakeGemini(t, normalReply)
	opts := insightstest.Options{Gemini: fake}
	e := insightstest.New(t, opts)
	activeUsers(e, 3)

	// Two replicas: each its own evaluator (own lock pool) and scheduler (own leader
	// connection), one database.
	replicas := make([]*scheduler.Scheduler, 2)
	for i := range replicas {
		eval := e.Evaluator
		if i == 1 {
			eval = insightstest.NewEvaluator(t, e.Pool, e.Store, opts, e)
		}
		replicas[i] = scheduler.New(e.Pool, eval, e.Activity, scheduler.Config{Interval: time.Minute, Window: 30 * time.Minute}, telemetryapitest.Quiet)
		t.Cleanup(func() { _ = replicas[i].Stop(context.Background()) })
	}
	const ticks = 3
	for tick := 1; tick <= ticks; tick++ {
		results := make([]scheduler.TickResult, len(replicas))
		var wg sync.WaitGroup
		for i, s := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.Tick(context.Background())
				if err != nil {
					t.Error(err)
				}
				results[i] = r
			}()
		}
		wg.Wait()
		if results[0].Leader == results[1].Leader {
			t.Fatalf("tick %d: leaders %v and %v", tick, results[0].Leader, results[1].Leader)
		}
		for user, n := range callsPerUser(fake) {
			if n != tick {
				t.Fatalf("tick %d: user with %d lines got %d LLM calls", tick, user, n)
			}
		}
		if got := len(callsPerUser(fake)); got != 3 {
			t.Fatalf("tick %d: %d users called", tick, got)
		}
	}
}

func TestScheduler_LeadershipPassesWhenTheLeaderStops(t *testing.T) {
	e := insightstest.New(t, insightstest.Options{})
	a := scheduler.New(e.Pool, e.Evaluator, e.Activity, scheduler.Config{}, telemetryapitest.Quiet)
	b := scheduler.New(e.Pool, e.Evaluator, e.Activity, scheduler.Config{}, telemetryapitest.Quiet)
	t.Cleanup(func() { _ = b.Stop(context.Background()) })
	ctx := context.Background()
	if r, _ := a.Tick(ctx); !r.Leader {
		t.Fatal("first scheduler did not lead")
	}
	if r, _ := b.Tick(ctx); r.Leader {
		t.Fatal("second scheduler led while the first holds the lock")
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _ := b.Tick(ctx); !r.Leader {
		t.Fatal("leadership did not pass after the leader stopped")
	}
}

func TestScheduler_FirstTickOneIntervalAfterStartWithinTheWindow(t *testing.T) {
	fake := insightstest.NewFakeGemini(t, normalReply)
	e := insightstest.New(t, insightstest.Options{Gemini: fake})
	activeUsers(e, 2)
	c := newClock(time.Now().Add(31 * time.Minute)) // everyone's last event is outside the 30-minute window
	ticked := make(chan struct{}, 4)
	s := scheduler.New(e.Pool, e.Evaluator, e.Activity, scheduler.Config{Interval: 10 * time.Minute, Window: 30 * time.Minute,
		Clock: c, OnTick: func() { ticked <- struct{}{} }}, telemetryapitest.Quiet)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	if c.interval != 10*time.Minute {
		t.Fatalf("ticks every %v", c.interval)
	}
	if len(fake.Inputs()) != 0 {
		t.Fatal("evaluated before the first tick")
	}
	c.ticks <- c.Now()
	<-ticked
	if n := len(fake.Inputs()); n != 0 {
		t.Fatalf("%d evaluations of users outside the window", n)
	}
	c.Set(time.Now())
	c.ticks <- c.Now()
	<-ticked
	if n := len(fake.Inputs()); n != 2 {
		t.Fatalf("%d evaluations, want 2", n)
	}
}

// failFor fails one user's evaluations and passes the others to the real evaluator.
type failFor struct {
	scheduler.Evaluator
	user ids.ID
}

func (f failFor) Evaluate(ctx context.Context, user ids.ID, mode cmdinsights.Mode) (cmdinsights.Outcome, error) {
	if user == f.user {
		return cmdinsights.Outcome{}, errors.New("boom")
	}
	return f.Evaluator.Evaluate(ctx, user, mode)
}

func TestScheduler_AFailingUserDoesNotStopTheOthers(t *testing.T) {
	e := insightstest.New(t, insightstest.Options{})
	users := activeUsers(e, 3)
	s := scheduler.New(e.Pool, failFor{e.Evaluator, users[1].ID}, e.Activity, scheduler.Config{Concurrency: 1}, telemetryapitest.Quiet)
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	r, err := s.Tick(context.Background())
	if err != nil || r.Evaluated != 2 || r.Failed != 1 {
		t.Fatalf("tick %+v, %v", r, err)
	}
	for i, u := range users {
		pending := e.Count(`SELECT count(*) FROM recommendations WHERE user_id = $1 AND user_action IS NULL`, u.ID)
		if (pending == 1) != (i != 1) {
			t.Errorf("user %d: %d pending", i, pending)
		}
	}
}

func TestScheduler_PostponesUsersWhileTheReadModelsAreBehind(t *testing.T) {
	// The bound also covers the second user of the tick after the catch-up, whose wait
	// includes the first user's insight events: short, but not too short for a busy
	// machine.
	e := insightstest.New(t, insightstest.Options{CatchUpLimit: time.Second})
	users := activeUsers(e, 2)
	logs := &httpapitest.Logs{}
	s := scheduler.New(e.Pool, e.Evaluator, e.Activity, scheduler.Config{Concurrency: 1}, slog.New(slog.NewTextHandler(logs, nil)))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	pending := func(u telemetryapitest.User) int {
		return e.Count(`SELECT count(*) FROM recommendations WHERE user_id = $1 AND user_action IS NULL`, u.ID)
	}

	release := e.HoldTelemetryProjections()
	e.Post(users[0], insightstest.Work{Minutes: 40, Added: 1})
	r, err := s.Tick(context.Background())
	if err != nil || r.Postponed != 2 || r.Evaluated != 0 || r.Failed != 0 {
		t.Fatalf("tick while held: %+v, %v", r, err)
	}
	if n := strings.Count(logs.String(), "scheduled insight evaluation postponed"); n != 2 {
		t.Fatalf("%d postponed lines, want one per user:\n%s", n, logs)
	}
	for i, u := range users {
		if n := pending(u); n != 0 {
			t.Fatalf("user %d: %d pending while the read models were behind", i, n)
		}
	}

	release()
	e.CatchUpAll()
	if r, err := s.Tick(context.Background()); err != nil || r.Evaluated != 2 || r.Postponed != 0 {
		t.Fatalf("tick after the catch-up: %+v, %v", r, err)
	}
	for i, u := range users {
		if n := pending(u); n != 1 {
			t.Fatalf("user %d: %d pending after the catch-up", i, n)
		}
	}
}
