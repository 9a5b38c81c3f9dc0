package accounts

import (
	"context"
	"errors"
	"fmt"

	"github.com/devflow/backend/domain/accounts"
)

// createUser picks a free username for u from base (contract 7.5) and stores u. A
// username taken concurrently between the check and the insert is retried with fresh
// candidates; ErrIdentityExists is passed through.
func createUser(ctx context.Context, users Users, u NewUser, base string) (accounts.User, error) {
	for range 5 {
		candidates := accounts.UsernameCandidates(base, u.Provider, u.ProviderUserID, nil)
		taken, err := users.TakenUsernames(ctx, candidates)
		if err != nil {
			return accounts.User{}, err
		}
		u.Username = accounts.PickUsername(candidates, taken)
		err = users.Create(ctx, u)
		if errors.Is(err, accounts.ErrUsernameTaken) {
			continue
		}
		if err != nil {
			return accounts.User{}, err
		}
		return accounts.User{ID: u.ID, Username: u.Username, Email: u.Email, Provider: u.Provider}, nil
	}
	return accounts.User{}, fmt.Errorf("create user: no free username after 5 tries")
}
