// Package accounts holds the rules of devFlow's users and credentials: email
// normalisation, the username picker, the API-token format (decision D22), the login
// throttle (decision D20) and the account events. Credentials themselves are state kept
// in ordinary tables; the events record only that something happened, never a secret.
package accounts

import (
	"errors"
	"strings"
	"time"

	"github.com/devflow/backend/domain/ids"
)

// Provider is how a user signs in.
type Provider string

const (
	ProviderPassword Provider = "password"
	ProviderGoogle   Provider = "google"
	ProviderGitHub   Provider = "github"
)

// ParseOAuthProvider accepts the OAuth providers of the contract.
func ParseOAuthProvider(s string) (Provider, bool) {
	switch Provider(s) {
	case ProviderGoogle, ProviderGitHub:
		return Provider(s), true
	}
	return "", false
}

// User is an account as the API shows it.
type User struct {
	ID       ids.ID
	Username string
	Email    *string // nil for OAuth users without a known email
	Provider Provider
}

// Named errors of the account use cases.
var (
	ErrEmailTaken         = errors.New("email already registered")
	ErrUsernameTaken      = errors.New("username taken")
	ErrInvalidCredentials = errors.New("invalid credentials")
	ErrTooManyAttempts    = errors.New("too many attempts")
	ErrUserNotFound       = errors.New("user not found")
	ErrTokenNotFound      = errors.New("token not found")
)

// NormalizeEmail trims and lower-cases an email; password users are identified by it.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// LocalPart is the part of an email before the first "@".
func LocalPart(email string) string {
	local, _, _ := strings.Cut(email, "@")
	return local
}

// Login throttle (decision D20): failures are counted per normalised email.
const (
	MaxFailedLogins   = 10
	FailedLoginWindow = 15 * time.Minute
)

// ThrottleRetryAfter decides the throttle from the time of the MaxFailedLogins-th most
// recent failure within the window (zero when there are fewer): while it exists the
// email is throttled until it leaves the window. It returns the wait, rounded up to
// whole seconds (at least 1), and whether the attempt is throttled.
func ThrottleRetryAfter(tenthLatest, now time.Time) (time.Duration, bool) {
	if tenthLatest.IsZero() {
		return 0, false
	}
	until := tenthLatest.Add(FailedLoginWindow)
	if !now.Before(until) {
		return 0, false
	}
	wait := until.Sub(now)
	secs := (wait + time.Second - 1) / time.Second
	return max(secs, 1) * time.Second, true
}
