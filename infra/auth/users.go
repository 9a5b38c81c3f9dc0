package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	cmdaccounts "github.com/devflow/backend/commands/accounts"
	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
)

// Users is the users table (commands/accounts.Users).
type Users struct{ db DB }

// NewUsers builds the repository.
func NewUsers(db DB) *Users { return &Users{db: db} }

var _ cmdaccounts.Users = (*Users)(nil)

// TakenUsernames reports which of names are in use.
func (u *Users) TakenUsernames(ctx context.Context, names []string) (map[string]bool, error) {
	rows, err := u.db.Pool.Query(ctx, `SELECT username FROM users WHERE username = ANY($1)`, names)
	if err != nil {
		return nil, fmt.Errorf("taken usernames: %w", err)
	}
	taken, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("taken usernames: %w", err)
	}
	out := make(map[string]bool, len(taken))
	for _, n := range taken {
		out[n] = true
	}
	return out, nil
}

// Create stores the user and its UserRegistered event in one transaction.
func (u *Users) Create(ctx context.Context, nu cmdaccounts.NewUser) error {
	return u.db.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO users (id, username, email, provider, provider_user_id, password_hash, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			nu.ID, nu.Username, nu.Email, string(nu.Provider), nu.ProviderUserID, nullString(nu.PasswordHash), nu.CreatedAt)
		switch {
		case violates(err, "23505", "users_identity_unique"):
			return cmdaccounts.ErrIdentityExists
		case violates(err, "23505", "users_username_unique"):
			return accounts.ErrUsernameTaken
		case err != nil:
			return fmt.Errorf("insert user: %w", err)
		}
		return appendAccountEvents(ctx, tx, u.db.Events, nu.ID, accounts.UserRegistered{
			UserID: nu.ID, Provider: nu.Provider, RegisteredAt: nu.CreatedAt.UTC(),
		})
	})
}

// ByIdentity finds a user by (provider, provider user id).
func (u *Users) ByIdentity(ctx context.Context, provider accounts.Provider, providerUserID string) (accounts.User, string, error) {
	var user accounts.User
	var p, hash string
	err := u.db.Pool.QueryRow(ctx, `
		SELECT id, username, email, provider, coalesce(password_hash, '')
		FROM users WHERE provider = $1 AND provider_user_id = $2`,
		string(provider), providerUserID).Scan(&user.ID, &user.Username, &user.Email, &p, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return accounts.User{}, "", accounts.ErrUserNotFound
	}
	if err != nil {
		return accounts.User{}, "", fmt.Errorf("user by identity: %w", err)
	}
	user.Provider = accounts.Provider(p)
	return user, hash, nil
}

var _ cmdaccounts.TimeZones = (*Users)(nil)

// SetTimeZone stores the user's zone and its TimeZoneChanged event in one transaction.
func (u *Users) SetTimeZone(ctx context.Context, e accounts.TimeZoneChanged) error {
	return u.db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET time_zone = $2 WHERE id = $1`, e.UserID, e.TimeZone)
		if err != nil {
			return fmt.Errorf("set time zone: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return accounts.ErrUserNotFound
		}
		return appendAccountEvents(ctx, tx, u.db.Events, e.UserID, e)
	})
}

// Tokens is the api_tokens table (commands/accounts.Tokens).
type Tokens struct{ db DB }

// NewTokens builds the repository.
func NewTokens(db DB) *Tokens { return &Tokens{db: db} }

var _ cmdaccounts.Tokens = (*Tokens)(nil)

// Issue stores the token and its ApiTokenIssued event in one transaction.
func (t *Tokens) Issue(ctx context.Context, token accounts.IssuedToken) error {
	return t.db.inTx(ctx, func(tx pgx.Tx) error { return insertToken(ctx, tx, t.db.Events, token) })
}

// Revoke revokes the user's unrevoked token and records ApiTokenRevoked.
func (t *Tokens) Revoke(ctx context.Context, userID, tokenID ids.ID, at time.Time) error {
	return t.db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE api_tokens SET revoked_at = $3
			WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, tokenID, userID, at)
		if err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return accounts.ErrTokenNotFound
		}
		return appendAccountEvents(ctx, tx, t.db.Events, userID, accounts.APITokenRevoked{
			TokenID: tokenID, UserID: userID, RevokedAt: at.UTC(),
		})
	})
}

// FailedLogins is the failed_logins table (commands/accounts.FailedLogins), shared by
// every replica.
type FailedLogins struct{ db DB }

// NewFailedLogins builds the repository.
func NewFailedLogins(db DB) *FailedLogins { return &FailedLogins{db: db} }

var _ cmdaccounts.FailedLogins = (*FailedLogins)(nil)

// NthLatestSince returns the n-th most recent failure after since, or zero.
func (f *FailedLogins) NthLatestSince(ctx context.Context, email string, n int, since time.Time) (time.Time, error) {
	var at time.Time
	err := f.db.Pool.QueryRow(ctx, `
		SELECT attempted_at FROM failed_logins
		WHERE email = $1 AND attempted_at > $2
		ORDER BY attempted_at DESC OFFSET $3 LIMIT 1`, email, since, n-1).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("failed logins: %w", err)
	}
	return at, nil
}

// Record counts one failure.
func (f *FailedLogins) Record(ctx context.Context, email string, at time.Time) error {
	_, err := f.db.Pool.Exec(ctx, `INSERT INTO failed_logins (email, attempted_at) VALUES ($1, $2)`, email, at)
	if err != nil {
		return fmt.Errorf("record failed login: %w", err)
	}
	return nil
}

// Clear forgets the email's failures after a successful login.
func (f *FailedLogins) Clear(ctx context.Context, email string) error {
	_, err := f.db.Pool.Exec(ctx, `DELETE FROM failed_logins WHERE email = $1`, email)
	if err != nil {
		return fmt.Errorf("clear failed logins: %w", err)
	}
	return nil
}
