package pairing

import (
	"context"
	"errors"
	"time"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/pairing"
)

// ApproveHandler approves a pending pairing by its user code on behalf of a signed-in
// user (decision D18): the API token is issued, the pairing marked approved and the
// plaintext held for the exchange in one transaction, so there is never an orphan token.
type ApproveHandler struct {
	store Store
	now   func() time.Time
}

// NewApproveHandler builds the handler; now defaults to time.Now.
func NewApproveHandler(store Store, now func() time.Time) ApproveHandler {
	if store == nil {
		panic("pairing: nil store")
	}
	return ApproveHandler{store: store, now: clockOrNow(now)}
}

// Handle approves the pending pairing with this code (any letter case). Errors:
// pairing.ErrNotFound (bad or unknown code), pairing.ErrExpired (the latest pairing
// with the code expired), pairing.ErrAlreadyUsed (it was approved or consumed),
// accounts.ErrUserNotFound.
func (h ApproveHandler) Handle(ctx context.Context, userID ids.ID, rawCode string) (*pairing.Pairing, error) {
	code, err := pairing.ParseUserCode(rawCode)
	if err != nil {
		return nil, pairing.ErrNotFound
	}
	now := h.now()
	var approved *pairing.Pairing
	err = h.store.InTx(ctx, func(tx Tx) error {
		p, err := tx.LockPending(ctx, code, now)
		if errors.Is(err, pairing.ErrNotFound) {
			return whyNotPending(ctx, tx, code, now)
		}
		if err != nil {
			return err
		}
		token, plaintext := accounts.Issue(userID, pairing.TokenName(now), accounts.TokenSourcePairing, now)
		if err := p.Approve(userID, token.ID, plaintext, now); err != nil {
			return err
		}
		if err := tx.IssueToken(ctx, token); err != nil {
			return err
		}
		approved = p
		return tx.Save(ctx, p)
	})
	return approved, err
}

// whyNotPending explains a code that has no pending pairing from the latest pairing
// that had it.
func whyNotPending(ctx context.Context, tx Tx, code pairing.UserCode, now time.Time) error {
	latest, err := tx.Latest(ctx, code)
	if err != nil {
		return err // pairing.ErrNotFound included
	}
	if latest.Expired(now) {
		return pairing.ErrExpired
	}
	return pairing.ErrAlreadyUsed
}
