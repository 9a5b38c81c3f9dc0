package privacy_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/auth"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/privacy"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestReauthenticate_PasswordOrAFreshSignIn: erasing an account needs its password, or
// for an OAuth account (no password) a sign-in within the last ten minutes.
func TestReauthenticate_PasswordOrAFreshSignIn(t *testing.T) {
	pool := testdb.Pool(t)
	ctx := context.Background()
	store := postgres.NewEventStore(pool)
	log := slog.New(slog.DiscardHandler)
	s := privacy.New(pool, store, nil, projections.NewEngine(pool, store, log, projections.Options{}, nil), log)
	hash, err := auth.Passwords{}.Hash("correct-horse")
	if err != nil {
		t.Fatal(err)
	}
	withPassword, oauth := ids.New(), ids.New()
	for _, u := range []struct {
		id       ids.ID
		provider string
		hash     *string
	}{{withPassword, "password", &hash}, {oauth, "github", nil}} {
		if _, err := pool.Exec(ctx, `INSERT INTO users (id, username, provider, provider_user_id, password_hash) VALUES ($1, $2, $3, $2, $4)`,
			u.id, u.id.String(), u.provider, u.hash); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	for _, c := range []struct {
		name       string
		user       ids.ID
		password   string
		signedInAt time.Time
		want       error
	}{
		{"right password", withPassword, "correct-horse", now.Add(-time.Hour), nil},
		{"wrong password, fresh sign-in", withPassword, "wrong", now, accounts.ErrInvalidCredentials},
		{"OAuth, fresh sign-in", oauth, "", now.Add(-time.Minute), nil},
		{"OAuth, old sign-in", oauth, "", now.Add(-privacy.FreshSignIn - time.Minute), privacy.ErrSignInAgain},
		{"unknown user", ids.New(), "x", now, accounts.ErrUserNotFound},
	} {
		if err := s.Reauthenticate(ctx, c.user, c.password, c.signedInAt); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
