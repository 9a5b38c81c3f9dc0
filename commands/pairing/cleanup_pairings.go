package pairing

import (
	"context"
	"time"

	"github.com/devflow/backend/domain/pairing"
)

// CleanupHandler records the expiry of pairings that ended without delivering their
// token (erasing any held plaintext) and purges pairings expired for over an hour.
// Running it concurrently or twice is harmless: rows one run holds are skipped by the
// other, and each expiry is recorded once.
type CleanupHandler struct {
	store Store
	now   func() time.Time
}

// NewCleanupHandler builds the handler; now defaults to time.Now.
func NewCleanupHandler(store Store, now func() time.Time) CleanupHandler {
	if store == nil {
		panic("pairing: nil store")
	}
	return CleanupHandler{store: store, now: clockOrNow(now)}
}

// CleanupResult counts what a pass did.
type CleanupResult struct {
	Expired int   // expiries recorded (plaintexts erased)
	Purged  int64 // rows deleted
}

const cleanupBatch = 100

// Handle runs one pass.
func (h CleanupHandler) Handle(ctx context.Context) (CleanupResult, error) {
	now := h.now()
	var res CleanupResult
	for {
		n := 0
		err := h.store.InTx(ctx, func(tx Tx) error {
			expired, err := tx.LockExpired(ctx, now, cleanupBatch)
			if err != nil {
				return err
			}
			n = len(expired)
			for _, p := range expired {
				p.Expire(now)
				if err := tx.Save(ctx, p); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		res.Expired += n
		if n < cleanupBatch {
			break
		}
	}
	err := h.store.InTx(ctx, func(tx Tx) error {
		var err error
		res.Purged, err = tx.Purge(ctx, now.Add(-pairing.PurgeAfter))
		return err
	})
	return res, err
}
