// Package scheduler runs the periodic insight evaluation (contract 9.12): every
// INSIGHT_CHECK_INTERVAL_SECONDS, on exactly one replica, it evaluates every user with
// telemetry in the activity window, a few at a time. Leadership is a PostgreSQL session
// advisory lock held on one connection for as long as this replica leads, so a leader
// that dies loses it with its session and another replica takes over at its next tick.
package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	cmdinsights "github.com/devflow/backend/commands/insights"
	"github.com/devflow/backend/domain/ids"
)

// Evaluator evaluates one user (*commands/insights.Evaluator).
type Evaluator interface {
	Evaluate(ctx context.Context, user ids.ID, mode cmdinsights.Mode) (cmdinsights.Outcome, error)
}

// Candidates lists the users active since a moment (the active-users read model).
type Candidates interface {
	ActiveSince(ctx context.Context, since time.Time) ([]ids.ID, error)
}

// Clock is the scheduler's time: now for the window, and the ticks. Tests drive both.
type Clock interface {
	Now() time.Time
	// Ticks delivers a tick every d, the first one d after the call; stop ends them.
	Ticks(d time.Duration) (ticks <-chan time.Time, stop func())
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Ticks(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// Config tunes the scheduler.
type Config struct {
	Interval    time.Duration // INSIGHT_CHECK_INTERVAL_SECONDS
	Window      time.Duration // INSIGHT_ACTIVITY_WINDOW_MINUTES
	Concurrency int           // evaluations at once per tick (default 2)
	Clock       Clock         // nil: the real clock
	// OnTick is called after each tick this replica ran as the leader (metrics).
	OnTick func()
}

// leaderKey is the advisory-lock key of the scheduler's leadership.
const leaderKey int64 = 0x64657666_6c6f7773 // "devflows"

// Scheduler is one replica's scheduler.
type Scheduler struct {
	pool  *pgxpool.Pool
	eval  Evaluator
	cands Candidates
	cfg   Config
	log   *slog.Logger

	mu     sync.Mutex
	leader *pgxpool.Conn // holds the leadership lock while set
	cancel context.CancelFunc
	done   chan struct{}
}

// New builds a scheduler.
func New(pool *pgxpool.Pool, eval Evaluator, cands Candidates, cfg Config, log *slog.Logger) *Scheduler {
	if pool == nil || eval == nil || cands == nil {
		panic("scheduler: nil dependency")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 600 * time.Second
	}
	if cfg.Window <= 0 {
		cfg.Window = 30 * time.Minute
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 2
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Scheduler{pool: pool, eval: eval, cands: cands, cfg: cfg, log: log.With("job", "insights")}
}

// Start runs the loop until Stop: the first tick comes one interval after start.
func (s *Scheduler) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	ticks, stop := s.cfg.Clock.Ticks(s.cfg.Interval)
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		defer stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticks:
				if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
					s.log.Error("insight scheduler tick failed", "error", err.Error())
				}
			}
		}
	}()
	s.log.Info("insight scheduler started", "interval", s.cfg.Interval.String(), "window", s.cfg.Window.String())
	return nil
}

// Stop ends the loop after the running evaluations and gives up the leadership.
func (s *Scheduler) Stop(ctx context.Context) error {
	if s.cancel != nil {
		s.cancel()
		select {
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.resign()
	return nil
}

// TickResult says what one tick did.
type TickResult struct {
	Leader    bool // false: another replica leads; nothing was done
	Evaluated int  // users evaluated without error
	Postponed int  // users not evaluated because a read model was behind the log (logged)
	Failed    int  // users whose evaluation failed (logged)
}

// Tick runs one tick: it takes or confirms the leadership and, as the leader,
// evaluates every user active in the window, at most Concurrency at once. A failure for
// one user, or read models too far behind to evaluate them (the next tick will), is
// logged and does not affect the others.
func (s *Scheduler) Tick(ctx context.Context) (TickResult, error) {
	leader, err := s.lead(ctx)
	if err != nil || !leader {
		return TickResult{}, err
	}
	users, err := s.cands.ActiveSince(ctx, s.cfg.Clock.Now().Add(-s.cfg.Window))
	if err != nil {
		return TickResult{Leader: true}, err
	}
	res := TickResult{Leader: true}
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, s.cfg.Concurrency)
	for _, user := range users {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return res, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			_, err := s.eval.Evaluate(ctx, user, cmdinsights.ModeScheduled)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, cmdinsights.ErrReadModelBehind):
				res.Postponed++
				s.log.Warn("scheduled insight evaluation postponed: read models behind the log", "user_id", user.String(), "error", err.Error())
			case err != nil:
				res.Failed++
				if ctx.Err() == nil {
					s.log.Error("scheduled insight evaluation failed", "user_id", user.String(), "error", err.Error())
				}
			default:
				res.Evaluated++
			}
		}()
	}
	wg.Wait()
	if s.cfg.OnTick != nil {
		s.cfg.OnTick()
	}
	s.log.Info("insight scheduler tick", "candidates", len(users), "evaluated", res.Evaluated, "postponed", res.Postponed, "failed", res.Failed)
	return res, nil
}

// lead reports whether this replica leads, taking the leadership when it is free.
func (s *Scheduler) lead(ctx context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leader != nil {
		if err := s.leader.Ping(ctx); err == nil {
			return true, nil
		}
		// The session is gone and the lock with it: compete again.
		s.log.Warn("insight scheduler lost its leader connection")
		_ = s.leader.Conn().Close(context.Background())
		s.leader.Release()
		s.leader = nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, leaderKey).Scan(&got); err != nil {
		_ = conn.Conn().Close(context.Background())
		conn.Release()
		return false, err
	}
	if !got {
		conn.Release()
		return false, nil
	}
	s.leader = conn
	s.log.Info("insight scheduler leading")
	return true, nil
}

// resign gives up the leadership.
func (s *Scheduler) resign() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leader == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.leader.Exec(ctx, `SELECT pg_advisory_unlock($1)`, leaderKey); err != nil {
		_ = s.leader.Conn().Close(ctx)
	}
	s.leader.Release()
	s.leader = nil
}
