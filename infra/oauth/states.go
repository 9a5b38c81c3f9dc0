package oauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/accounts"
)

// State is one started flow. It lives in the oauth_states table, never in the event
// log: the verifier is a secret.
type State struct {
	State        string
	Provider     accounts.Provider
	ClientType   string
	Display      string // "html" or empty
	CodeVerifier string
	CreatedAt    time.Time
}

// States is the durable state store, shared by every replica and surviving restarts.
type States struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// NewStates builds the store; now defaults to time.Now.
func NewStates(pool *pgxpool.Pool, now func() time.Time) *States {
	if now == nil {
		now = time.Now
	}
	return &States{pool: pool, now: now}
}

// Create stores a state, stamped with the current time.
func (s *States) Create(ctx context.Context, st State) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO oauth_states (state, provider, client_type, display, code_verifier, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		st.State, string(st.Provider), st.ClientType, nullString(st.Display), st.CodeVerifier, s.now())
	if err != nil {
		return fmt.Errorf("store oauth state: %w", err)
	}
	return nil
}

// Consume deletes and returns a state: a second use finds nothing. A missing, unknown
// or expired state is ErrInvalidState.
func (s *States) Consume(ctx context.Context, state string) (State, error) {
	if state == "" {
		return State{}, ErrInvalidState
	}
	var st State
	var provider string
	var display *string
	err := s.pool.QueryRow(ctx, `
		DELETE FROM oauth_states WHERE state = $1
		RETURNING state, provider, client_type, display, code_verifier, created_at`, state).
		Scan(&st.State, &provider, &st.ClientType, &display, &st.CodeVerifier, &st.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return State{}, ErrInvalidState
	}
	if err != nil {
		return State{}, fmt.Errorf("consume oauth state: %w", err)
	}
	if !s.now().Before(st.CreatedAt.Add(StateTTL)) {
		return State{}, ErrInvalidState
	}
	st.Provider = accounts.Provider(provider)
	if display != nil {
		st.Display = *display
	}
	return st, nil
}

// Purge deletes states that can no longer be used.
func (s *States) Purge(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM oauth_states WHERE created_at <= $1`, s.now().Add(-StateTTL))
	if err != nil {
		return 0, fmt.Errorf("purge oauth states: %w", err)
	}
	return tag.RowsAffected(), nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
