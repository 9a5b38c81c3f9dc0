package accounts

import (
	"context"
	"errors"
	"time"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
)

// RegisterHandler creates a password user and signs it in.
type RegisterHandler struct {
	users     Users
	passwords Passwords
	sessions  Sessions
	now       func() time.Time
}

// NewRegisterHandler builds the handler; now defaults to time.Now.
func NewRegisterHandler(users Users, passwords Passwords, sessions Sessions, now func() time.Time) RegisterHandler {
	if users == nil || passwords == nil || sessions == nil {
		panic("accounts: nil dependency")
	}
	return RegisterHandler{users: users, passwords: passwords, sessions: sessions, now: clockOrNow(now)}
}

// Register is a validated registration request.
type Register struct {
	Email    string
	Password string
	Username string // optional
}

// Handle registers; accounts.ErrEmailTaken when a password user has the normalised
// email (also when a concurrent registration wins the race).
func (h RegisterHandler) Handle(ctx context.Context, in Register) (Session, error) {
	email := accounts.NormalizeEmail(in.Email)
	// Checked before hashing so that a duplicate does not cost a bcrypt round.
	_, _, err := h.users.ByIdentity(ctx, accounts.ProviderPassword, email)
	if err == nil {
		return Session{}, accounts.ErrEmailTaken
	}
	if !errors.Is(err, accounts.ErrUserNotFound) {
		return Session{}, err
	}
	hash, err := h.passwords.Hash(in.Password)
	if err != nil {
		return Session{}, err
	}
	base := in.Username
	if base == "" {
		base = accounts.LocalPart(email)
	}
	user, err := createUser(ctx, h.users, NewUser{
		ID: ids.New(), Email: &email, Provider: accounts.ProviderPassword,
		ProviderUserID: email, PasswordHash: hash, CreatedAt: h.now(),
	}, base)
	if errors.Is(err, ErrIdentityExists) {
		return Session{}, accounts.ErrEmailTaken
	}
	if err != nil {
		return Session{}, err
	}
	jwt, err := h.sessions.Mint(user.ID, user.Provider)
	if err != nil {
		return Session{}, err
	}
	return Session{User: user, JWT: jwt}, nil
}
