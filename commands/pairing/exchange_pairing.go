package pairing

import (
	"context"
	"errors"
	"time"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/pairing"
)

// ExchangeHandler answers the extension's poll for its token.
type ExchangeHandler struct {
	store Store
	now   func() time.Time
}

// NewExchangeHandler builds the handler; now defaults to time.Now.
func NewExchangeHandler(store Store, now func() time.Time) ExchangeHandler {
	if store == nil {
		panic("pairing: nil store")
	}
	return ExchangeHandler{store: store, now: clockOrNow(now)}
}

// ExchangeResult is what the extension is told; Token is set only with
// pairing.OutcomeApproved.
type ExchangeResult struct {
	Outcome pairing.Outcome
	Token   string
}

// Handle processes one exchange. A malformed or unknown id is OutcomeExpired. The
// pairing row stays locked from load to commit, so concurrent exchanges on any
// replica see each other's rate-limit window and the token is delivered once; an
// error (pairing.ErrRateLimited included) changes nothing.
func (h ExchangeHandler) Handle(ctx context.Context, rawID string) (ExchangeResult, error) {
	id, err := ids.Parse(rawID)
	if err != nil {
		return ExchangeResult{Outcome: pairing.OutcomeExpired}, nil
	}
	now := h.now()
	var res ExchangeResult
	err = h.store.InTx(ctx, func(tx Tx) error {
		p, err := tx.Lock(ctx, id)
		if errors.Is(err, pairing.ErrNotFound) {
			res = ExchangeResult{Outcome: pairing.OutcomeExpired}
			return nil
		}
		if err != nil {
			return err
		}
		outcome, token, err := p.Exchange(now)
		if err != nil {
			return err
		}
		res = ExchangeResult{Outcome: outcome, Token: token}
		return tx.Save(ctx, p)
	})
	if err != nil {
		return ExchangeResult{}, err
	}
	return res, nil
}
