// Package pairing holds the use cases of device-code pairing: start, approve, exchange
// and the periodic cleanup. Each loads the pairing aggregate inside a transaction,
// decides with domain/pairing and saves the new state together with its events, so a
// state change and its facts commit or fail as one.
package pairing

import (
	"context"
	"errors"
	"time"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/pairing"
)

// ErrCodeTaken is returned by Tx.Insert when a pending pairing already holds the code.
var ErrCodeTaken = errors.New("user code taken")

// Store runs fn in one transaction: everything fn did commits when it returns nil and
// is rolled back otherwise.
type Store interface {
	InTx(ctx context.Context, fn func(Tx) error) error
}

// Tx is what the pairing use cases do inside a transaction. Lock* methods lock the
// returned pairings until the transaction ends; missing pairings are pairing.ErrNotFound.
type Tx interface {
	// Insert stores a new pairing and its recorded events.
	Insert(ctx context.Context, p *pairing.Pairing) error
	// Save stores the pairing's state and appends its recorded events after the
	// version it was loaded at.
	Save(ctx context.Context, p *pairing.Pairing) error
	// Lock loads a pairing by id.
	Lock(ctx context.Context, id ids.ID) (*pairing.Pairing, error)
	// LockPending loads the pending, unexpired pairing with this code.
	LockPending(ctx context.Context, code pairing.UserCode, now time.Time) (*pairing.Pairing, error)
	// Latest loads the most recently created pairing with this code, in any state.
	Latest(ctx context.Context, code pairing.UserCode) (*pairing.Pairing, error)
	// LockExpired loads up to limit pairings that expired at now without being
	// consumed and whose expiry is not yet recorded, skipping rows others hold.
	LockExpired(ctx context.Context, now time.Time, limit int) ([]*pairing.Pairing, error)
	// Purge deletes pairings that expired at or before before, returning how many.
	Purge(ctx context.Context, before time.Time) (int64, error)
	// IssueToken stores a new API token and its ApiTokenIssued event;
	// accounts.ErrUserNotFound when the user no longer exists.
	IssueToken(ctx context.Context, t accounts.IssuedToken) error
}

func clockOrNow(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
