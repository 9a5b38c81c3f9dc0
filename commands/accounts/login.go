package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/devflow/backend/domain/accounts"
)

// LoginHandler signs a password user in, throttled per email (decision D20).
type LoginHandler struct {
	users     Users
	failures  FailedLogins
	passwords Passwords
	sessions  Sessions
	now       func() time.Time
}

// NewLoginHandler builds the handler; now defaults to time.Now.
func NewLoginHandler(users Users, failures FailedLogins, passwords Passwords, sessions Sessions, now func() time.Time) LoginHandler {
	if users == nil || failures == nil || passwords == nil || sessions == nil {
		panic("accounts: nil dependency")
	}
	return LoginHandler{users: users, failures: failures, passwords: passwords, sessions: sessions, now: clockOrNow(now)}
}

// Login is a validated login request.
type Login struct {
	Email    string
	Password string
}

// ThrottledError is accounts.ErrTooManyAttempts with the wait until the next attempt
// can be checked.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v: retry after %v", accounts.ErrTooManyAttempts, e.RetryAfter)
}
func (e *ThrottledError) Unwrap() error { return accounts.ErrTooManyAttempts }

// Handle checks the throttle, then the password. Errors: *ThrottledError (the
// password is not checked and nothing is counted), accounts.ErrInvalidCredentials
// (unknown email, no password, wrong password; one failure is counted).
func (h LoginHandler) Handle(ctx context.Context, in Login) (Session, error) {
	email := accounts.NormalizeEmail(in.Email)
	now := h.now()
	nth, err := h.failures.NthLatestSince(ctx, email, accounts.MaxFailedLogins, now.Add(-accounts.FailedLoginWindow))
	if err != nil {
		return Session{}, err
	}
	if wait, throttled := accounts.ThrottleRetryAfter(nth, now); throttled {
		return Session{}, &ThrottledError{RetryAfter: wait}
	}

	user, hash, err := h.users.ByIdentity(ctx, accounts.ProviderPassword, email)
	if err != nil && !errors.Is(err, accounts.ErrUserNotFound) {
		return Session{}, err
	}
	// An unknown email or a user without a password still pays for a bcrypt check.
	if !h.passwords.Matches(hash, in.Password) || err != nil {
		if err := h.failures.Record(ctx, email, now); err != nil {
			return Session{}, err
		}
		return Session{}, accounts.ErrInvalidCredentials
	}
	if err := h.failures.Clear(ctx, email); err != nil {
		return Session{}, err
	}
	jwt, err := h.sessions.Mint(user.ID, user.Provider)
	if err != nil {
		return Session{}, err
	}
	return Session{User: user, JWT: jwt}, nil
}
