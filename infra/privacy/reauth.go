package privacy

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/auth"
)

// FreshSignIn is how recent an OAuth user's sign-in must be for them to erase their
// account (they have no password to confirm it with).
const FreshSignIn = 10 * time.Minute

// ErrSignInAgain is an erasure by an OAuth user whose sign-in is older than FreshSignIn.
var ErrSignInAgain = errors.New("sign in again")

// Reauthenticate confirms that the caller is the user, before an erasure: a password
// user's password must match; an OAuth user (no password) must have signed in within
// FreshSignIn (signedInAt: their JWT's issue time). Errors: accounts.ErrUserNotFound,
// accounts.ErrInvalidCredentials, ErrSignInAgain.
func (s *Service) Reauthenticate(ctx context.Context, user ids.ID, password string, signedInAt time.Time) error {
	var hash *string
	err := s.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, user).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return accounts.ErrUserNotFound
	}
	if err != nil {
		return err
	}
	if hash != nil && *hash != "" {
		if !(auth.Passwords{}).Matches(*hash, password) {
			return accounts.ErrInvalidCredentials
		}
		return nil
	}
	if signedInAt.IsZero() || s.now().Sub(signedInAt) > FreshSignIn {
		return ErrSignInAgain
	}
	return nil
}
