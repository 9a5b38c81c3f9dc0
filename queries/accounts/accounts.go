// Package accounts answers the read side of accounts: the signed-in user and a user's
// API tokens. It reads the users and api_tokens tables directly; they are updated in
// the same transaction as the events that record the change, so reads are immediate.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
)

// Queries reads accounts.
type Queries struct{ pool *pgxpool.Pool }

// New builds the queries.
func New(pool *pgxpool.Pool) *Queries {
	if pool == nil {
		panic("accounts: nil pool")
	}
	return &Queries{pool: pool}
}

// User returns a user; accounts.ErrUserNotFound when it is gone.
func (q *Queries) User(ctx context.Context, id ids.ID) (accounts.User, error) {
	var u accounts.User
	var provider string
	err := q.pool.QueryRow(ctx, `SELECT id, username, email, provider FROM users WHERE id = $1`, id).
		Scan(&u.ID, &u.Username, &u.Email, &provider)
	if errors.Is(err, pgx.ErrNoRows) {
		return accounts.User{}, accounts.ErrUserNotFound
	}
	if err != nil {
		return accounts.User{}, fmt.Errorf("user: %w", err)
	}
	u.Provider = accounts.Provider(provider)
	return u, nil
}

// Tokens lists all of a user's API tokens, revoked ones included, newest first.
func (q *Queries) Tokens(ctx context.Context, userID ids.ID) ([]accounts.TokenInfo, error) {
	rows, err := q.pool.Query(ctx, `
		SELECT id, name, token_prefix, created_at, last_used_at, revoked_at
		FROM api_tokens WHERE user_id = $1
		ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	out := []accounts.TokenInfo{}
	var t accounts.TokenInfo
	var lastUsed, revoked *time.Time
	_, err = pgx.ForEachRow(rows, []any{&t.ID, &t.Name, &t.Prefix, &t.CreatedAt, &lastUsed, &revoked}, func() error {
		t.LastUsedAt, t.RevokedAt = copyTime(lastUsed), copyTime(revoked)
		out = append(out, t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	return out, nil
}

// copyTime detaches a scanned optional time from the scan target reused for each row.
func copyTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := *t
	return &v
}
