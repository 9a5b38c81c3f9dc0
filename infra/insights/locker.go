// Package insights holds the PostgreSQL adapters of the insight commands' ports: the
// per-user lock, the recommendations read model, the sessions and metrics inputs. The
// area (provider choice, routes, scheduler) is assembled in infra/app.
package insights

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/ids"
)

// Process-wide limits. A running evaluation holds one lock connection (for up to the
// 25 s LLM call), so LockSlots caps evaluations in flight on this replica; the scheduler
// uses at most SchedulerConcurrency of them, leaving room for triggers.
const (
	LockSlots            = 4
	SchedulerConcurrency = 2
)

// Locker is the per-user lock of the insight commands: a PostgreSQL session advisory
// lock, held on one connection for the whole evaluation, so it serialises a user's
// evaluations across replicas and the server releases it if the process dies. A held
// lock holds its connection for up to the LLM timeout, so the locks live in a small
// pool of their own: they can never starve the service's main pool, and its size caps
// how many evaluations run at once in this process (the others wait their turn).
type Locker struct {
	pool *pgxpool.Pool
}

// NewLocker opens a pool of at most slots connections to main's database for the locks.
func NewLocker(ctx context.Context, main *pgxpool.Pool, slots int) (*Locker, error) {
	if slots <= 0 {
		slots = 1
	}
	cfg := main.Config().Copy()
	cfg.MaxConns = int32(slots)
	cfg.MinConns = 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("insights lock pool: %w", err)
	}
	return &Locker{pool: pool}, nil
}

// Close closes the lock pool.
func (l *Locker) Close() { l.pool.Close() }

// WithUserLock runs fn while holding the user's lock.
func (l *Locker) WithUserLock(ctx context.Context, user ids.ID, fn func(ctx context.Context) error) error {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	key := lockKey("devflow-insights-user:" + user.String())
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		// A cancelled wait may leave the session in any state: never pool it again.
		_ = conn.Conn().Close(context.Background())
		conn.Release()
		return err
	}
	defer func() {
		unlockCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(unlockCtx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			// Closing the session is what releases the lock then.
			_ = conn.Conn().Close(unlockCtx)
		}
		conn.Release()
	}()
	return fn(ctx)
}

// lockKey maps a name to an advisory-lock key (FNV-1a 64; collisions only make two
// users take turns).
func lockKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return int64(h.Sum64())
}
