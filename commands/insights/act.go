package insights

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/recommendation"
)

// ActHandler records a user's action on a recommendation (3.22).
type ActHandler struct {
	store eventlog.Store
	read  ReadModel
	now   func() time.Time
	log   *slog.Logger
	wait  time.Duration
}

// NewActHandler builds the handler; now defaults to time.Now, log to slog.Default().
func NewActHandler(store eventlog.Store, read ReadModel, now func() time.Time, log *slog.Logger) ActHandler {
	if store == nil || read == nil {
		panic("insights: nil port")
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return ActHandler{store: store, read: read, now: now, log: log, wait: 5 * time.Second}
}

// Handle records action by user on recommendation id, at the current time (a snooze's
// time starts the snooze window, D3). Errors, in the contract's order:
// recommendation.ErrNotFound, recommendation.ErrForbidden (another user's),
// recommendation.ErrAlreadyEnded (acted on or expired, also when a concurrent action
// or expiry won the race).
func (h ActHandler) Handle(ctx context.Context, user, id ids.ID, action recommendation.Action) error {
	stream := recommendation.StreamID(id)
	events, err := h.store.ReadStream(ctx, stream, 0, 16)
	if errors.Is(err, eventlog.ErrStreamNotFound) || (err == nil && (len(events) == 0 || events[0].Erased)) {
		return recommendation.ErrNotFound // an erased recommendation is gone
	}
	if err != nil {
		return err
	}
	rec, err := recommendation.Fold(events)
	if err != nil {
		return err
	}
	event, err := rec.Act(user, action, h.now())
	if err != nil {
		return err
	}
	results, err := h.store.Append(ctx, eventlog.Append{StreamID: stream, Expected: eventlog.Exact(rec.Version()), Events: []eventlog.EventData{event}})
	if errors.Is(err, eventlog.ErrWrongExpectedVersion) {
		return recommendation.ErrAlreadyEnded
	}
	if err != nil {
		return err
	}
	h.log.Info("recommendation acted on", "user_id", user.String(), "recommendation_id", id.String(), "action", string(action))
	waitVisible(ctx, h.read, lastPosition(results), h.wait, h.log)
	return nil
}
