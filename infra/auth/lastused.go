package auth

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
)

// LastUsed records API-token use off the request path: Touch only notes the token in
// memory, and a background loop writes last_used_at, at most once per token per
// accounts.LastUsedInterval from this replica. A failed write is logged and dropped;
// it never fails or delays a request.
type LastUsed struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	written map[ids.ID]time.Time // last time each token was queued
	pending map[ids.ID]time.Time
	wake    chan struct{}
}

// NewLastUsed builds the writer; call Run to start it.
func NewLastUsed(pool *pgxpool.Pool, log *slog.Logger, now func() time.Time) *LastUsed {
	if now == nil {
		now = time.Now
	}
	return &LastUsed{
		pool: pool, log: log, now: now,
		written: map[ids.ID]time.Time{}, pending: map[ids.ID]time.Time{},
		wake: make(chan struct{}, 1),
	}
}

// Touch notes that a token authenticated a request now.
func (l *LastUsed) Touch(tokenID ids.ID) {
	now := l.now()
	l.mu.Lock()
	if last, ok := l.written[tokenID]; ok && now.Sub(last) < accounts.LastUsedInterval {
		l.mu.Unlock()
		return
	}
	l.written[tokenID] = now
	l.pending[tokenID] = now
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Run writes pending uses until ctx ends, then writes what is left.
func (l *LastUsed) Run(ctx context.Context) {
	for {
		select {
		case <-l.wake:
			l.Flush(ctx)
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			l.Flush(final)
			cancel()
			return
		}
	}
}

// Flush writes every pending use in one statement. A use never moves last_used_at
// backwards.
func (l *LastUsed) Flush(ctx context.Context) {
	l.mu.Lock()
	batch := l.pending
	l.pending = map[ids.ID]time.Time{}
	cutoff := l.now().Add(-accounts.LastUsedInterval)
	for id, at := range l.written {
		if at.Before(cutoff) {
			delete(l.written, id) // keeps the map as small as the last minute's tokens
		}
	}
	l.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	tokenIDs := make([]string, 0, len(batch))
	times := make([]time.Time, 0, len(batch))
	for id, at := range batch {
		tokenIDs = append(tokenIDs, id.String())
		times = append(times, at)
	}
	_, err := l.pool.Exec(ctx, `
		UPDATE api_tokens t SET last_used_at = u.at
		FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at)
		WHERE t.id = u.id AND (t.last_used_at IS NULL OR t.last_used_at < u.at)`, tokenIDs, times)
	if err != nil {
		l.log.Warn("api token last_used_at not written", "tokens", len(batch), "error", err.Error())
	}
}
