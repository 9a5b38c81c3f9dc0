package auth

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	cmdpairing "github.com/devflow/backend/commands/pairing"
	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/pairing"
	"github.com/devflow/backend/infra/oauth"
)

// cleanupLockKey is the advisory-lock key that lets one replica at a time run the
// cleanup. Running it twice is harmless anyway; the lock only saves work.
const cleanupLockKey int64 = 0x64766661757468 // "dvfauth"

// Cleanup is the periodic job of accounts and access: it records the expiry of
// pairings (erasing held plaintexts), purges pairings expired for over an hour, used-up
// OAuth states and failed logins that left the throttle window.
type Cleanup struct {
	pool     *pgxpool.Pool
	pairings cmdpairing.CleanupHandler
	states   *oauth.States
	log      *slog.Logger
	now      func() time.Time
}

// NewCleanup builds the job; now defaults to time.Now.
func NewCleanup(pool *pgxpool.Pool, pairings cmdpairing.CleanupHandler, states *oauth.States, log *slog.Logger, now func() time.Time) *Cleanup {
	if now == nil {
		now = time.Now
	}
	return &Cleanup{pool: pool, pairings: pairings, states: states, log: log, now: now}
}

// Run runs a pass now and then every pairing.CleanupInterval until ctx ends.
func (c *Cleanup) Run(ctx context.Context) {
	ticker := time.NewTicker(pairing.CleanupInterval)
	defer ticker.Stop()
	for {
		if err := c.RunOnce(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("auth cleanup failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// RunOnce runs one pass unless another replica is running one.
func (c *Cleanup) RunOnce(ctx context.Context) error {
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, cleanupLockKey).Scan(&locked); err != nil {
		return fmt.Errorf("cleanup lock: %w", err)
	}
	if !locked {
		return nil
	}
	defer func() {
		// Unlock even when ctx was cancelled, so the session does not keep the lock.
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, cleanupLockKey)
	}()

	res, err := c.pairings.Handle(ctx)
	if err != nil {
		return err
	}
	states, err := c.states.Purge(ctx)
	if err != nil {
		return err
	}
	logins, err := c.pool.Exec(ctx, `DELETE FROM failed_logins WHERE attempted_at <= $1`, c.now().Add(-accounts.FailedLoginWindow))
	if err != nil {
		return fmt.Errorf("purge failed logins: %w", err)
	}
	if res.Expired+int(res.Purged)+int(states)+int(logins.RowsAffected()) > 0 {
		c.log.Info("auth cleanup", "pairings_expired", res.Expired, "pairings_purged", res.Purged,
			"oauth_states_purged", states, "failed_logins_purged", logins.RowsAffected())
	}
	return nil
}
