package pairing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/pairing"
)

// StartHandler opens a pending pairing for the extension.
type StartHandler struct {
	store Store
	now   func() time.Time
}

// NewStartHandler builds the handler; now defaults to time.Now.
func NewStartHandler(store Store, now func() time.Time) StartHandler {
	if store == nil {
		panic("pairing: nil store")
	}
	return StartHandler{store: store, now: clockOrNow(now)}
}

// Handle returns the new pairing. A user-code collision among pending pairings is
// retried with a fresh code.
func (h StartHandler) Handle(ctx context.Context) (*pairing.Pairing, error) {
	for range 5 {
		code, err := pairing.NewUserCode(nil)
		if err != nil {
			return nil, err
		}
		p := pairing.Start(ids.New(), code, h.now())
		err = h.store.InTx(ctx, func(tx Tx) error { return tx.Insert(ctx, p) })
		if errors.Is(err, ErrCodeTaken) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	return nil, fmt.Errorf("start pairing: no free user code after 5 tries")
}
