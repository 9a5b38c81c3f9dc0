// Package accounts holds the account use cases: register, log in, sign in through an
// OAuth provider, and issue or revoke API tokens. Handlers decide with domain/accounts
// and talk to storage, password hashing and session minting through the small ports
// below, implemented in infra.
package accounts

import (
	"context"
	"errors"
	"time"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
)

// ErrIdentityExists is returned by Users.Create when a user with the same (provider,
// provider user id) exists.
var ErrIdentityExists = errors.New("identity exists")

// NewUser is an account about to be created.
type NewUser struct {
	ID             ids.ID
	Username       string
	Email          *string
	Provider       accounts.Provider
	ProviderUserID string // the normalised email for password users
	PasswordHash   string // empty for OAuth users
	CreatedAt      time.Time
}

// Users stores accounts.
type Users interface {
	// TakenUsernames reports which of names are in use.
	TakenUsernames(ctx context.Context, names []string) (map[string]bool, error)
	// Create stores the user and its UserRegistered event atomically. It returns
	// ErrIdentityExists or accounts.ErrUsernameTaken on a uniqueness conflict.
	Create(ctx context.Context, u NewUser) error
	// ByIdentity finds a user and its password hash ("" for OAuth users);
	// accounts.ErrUserNotFound when there is none.
	ByIdentity(ctx context.Context, provider accounts.Provider, providerUserID string) (accounts.User, string, error)
}

// Tokens stores API tokens.
type Tokens interface {
	// Issue stores a new token and its ApiTokenIssued event atomically;
	// accounts.ErrUserNotFound when the user no longer exists.
	Issue(ctx context.Context, t accounts.IssuedToken) error
	// Revoke sets revoked_at of the user's unrevoked token and records ApiTokenRevoked;
	// accounts.ErrTokenNotFound when there is no such token.
	Revoke(ctx context.Context, userID, tokenID ids.ID, at time.Time) error
}

// FailedLogins is the shared login-throttle record (decision D20).
type FailedLogins interface {
	// NthLatestSince returns the time of the n-th most recent failure for email after
	// since, or the zero time when there are fewer.
	NthLatestSince(ctx context.Context, email string, n int, since time.Time) (time.Time, error)
	Record(ctx context.Context, email string, at time.Time) error
	Clear(ctx context.Context, email string) error
}

// Passwords hashes and checks passwords.
type Passwords interface {
	Hash(password string) (string, error)
	// Matches reports whether password matches hash. With an empty hash it still
	// spends about as long as a real check and reports false, so that an unknown
	// email cannot be told apart by timing.
	Matches(hash, password string) bool
}

// Sessions mints the session JWT.
type Sessions interface {
	Mint(userID ids.ID, provider accounts.Provider) (string, error)
}

// Session is a signed-in user with its JWT.
type Session struct {
	User accounts.User
	JWT  string
}

func clockOrNow(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
