package accounts

import (
	"context"
	"errors"
	"time"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
)

// SignInOAuthHandler finds or creates the user behind an OAuth profile and signs it in.
// Users are matched by (provider, provider user id) only: there is no linking by email,
// and email and username are set at creation and never updated.
type SignInOAuthHandler struct {
	users    Users
	sessions Sessions
	now      func() time.Time
}

// NewSignInOAuthHandler builds the handler; now defaults to time.Now.
func NewSignInOAuthHandler(users Users, sessions Sessions, now func() time.Time) SignInOAuthHandler {
	if users == nil || sessions == nil {
		panic("accounts: nil dependency")
	}
	return SignInOAuthHandler{users: users, sessions: sessions, now: clockOrNow(now)}
}

// Profile is what a provider told us about the user.
type Profile struct {
	Provider       accounts.Provider
	ProviderUserID string
	Email          *string
	BaseName       string // the username base of contract 3.8
}

// Handle signs the profile's user in, creating it on first sign-in.
func (h SignInOAuthHandler) Handle(ctx context.Context, p Profile) (Session, error) {
	user, err := h.findOrCreate(ctx, p)
	if err != nil {
		return Session{}, err
	}
	jwt, err := h.sessions.Mint(user.ID, user.Provider)
	if err != nil {
		return Session{}, err
	}
	return Session{User: user, JWT: jwt}, nil
}

func (h SignInOAuthHandler) findOrCreate(ctx context.Context, p Profile) (accounts.User, error) {
	user, _, err := h.users.ByIdentity(ctx, p.Provider, p.ProviderUserID)
	if !errors.Is(err, accounts.ErrUserNotFound) {
		return user, err
	}
	user, err = createUser(ctx, h.users, NewUser{
		ID: ids.New(), Email: p.Email, Provider: p.Provider,
		ProviderUserID: p.ProviderUserID, CreatedAt: h.now(),
	}, p.BaseName)
	if errors.Is(err, ErrIdentityExists) {
		// A concurrent first sign-in of the same account created it.
		user, _, err = h.users.ByIdentity(ctx, p.Provider, p.ProviderUserID)
	}
	return user, err
}
