package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
)

// Mode is what happens to invalid events (TELEMETRY_INVALID_EVENTS, decision D15).
type Mode int

const (
	// Quarantine sets invalid events aside and accepts the rest of the batch.
	Quarantine Mode = iota
	// Reject fails the whole batch with 400 when any event is invalid.
	Reject
)

// maxConflictRetries bounds how often an ingest decides again after losing a race to
// create a session.
const maxConflictRetries = 5

// ErrMalformed is a body that is not JSON.
var ErrMalformed = errors.New("malformed JSON")

// ValidationError is an envelope that fails its schema, or (reject mode) a batch with
// invalid events. Details are rooted at the payload.
type ValidationError struct{ Details []Detail }

func (e *ValidationError) Error() string {
	return fmt.Sprintf("telemetry payload invalid (%d errors)", len(e.Details))
}

// Caller is who sends a batch, known once the request is authenticated.
type Caller struct {
	User ids.ID
	// UserVerified says the user row is known to exist (an API token's user: the
	// authenticator rejects tokens of users that no longer exist, contract 2.4), which
	// saves the check.
	UserVerified bool
	RequestID    string
	ReceivedAt   time.Time // defaults to the handler's clock
}

// Rejection lists one invalid event in the 202 body.
type Rejection struct {
	Index  int      `json:"index"`
	Errors []Detail `json:"errors"`
}

// Result is what a committed ingest reports (3.15).
type Result struct {
	Accepted      int // valid events, duplicates included
	Duplicates    int // valid events already stored or repeated in the request
	RejectedCount int // invalid events, all quarantined
	Rejected      []Rejection
	// Position is the log position of the last event written (zero if none was),
	// for callers that want to wait for projections.
	Position eventlog.Position
}

// IngestHandler is the telemetry ingest use case.
type IngestHandler struct {
	store     Store
	validator Validator
	mode      Mode
	now       func() time.Time
}

// NewIngestHandler builds the handler; now defaults to time.Now.
func NewIngestHandler(store Store, validator Validator, mode Mode, now func() time.Time) *IngestHandler {
	if store == nil || validator == nil {
		panic("telemetry: nil dependency")
	}
	if now == nil {
		now = time.Now
	}
	return &IngestHandler{store: store, validator: validator, mode: mode, now: now}
}

// Handle checks, stores and reports one batch: parse and check the body, load the
// sessions it writes to, decide, append. Errors: ErrMalformed and *ValidationError
// (400), accounts.ErrUserNotFound (404), telemetry.ErrSessionOwnedByAnotherUser (409);
// anything else is a failure.
func (h *IngestHandler) Handle(ctx context.Context, caller Caller, body []byte) (Result, error) {
	if caller.ReceivedAt.IsZero() {
		caller.ReceivedAt = h.now()
	}
	b, err := h.check(caller, body)
	if err != nil {
		return Result{}, err
	}
	defer b.release()
	for attempt := 0; ; attempt++ {
		sessions, err := h.load(ctx, b.sessions)
		if err != nil {
			return Result{}, err
		}
		appends, err := decide(caller, sessions, b.sessions)
		if errors.Is(err, telemetry.ErrSessionOwnedByAnotherUser) && !caller.UserVerified {
			err = h.userFirst(ctx, caller.User, err)
		}
		if err != nil {
			return Result{}, err
		}
		results, err := h.store.Commit(ctx, caller.User, caller.UserVerified, appends, b.quarantine)
		var conflict *eventlog.ConflictError
		if errors.As(err, &conflict) && attempt < maxConflictRetries {
			continue // another request created one of the sessions first: decide again
		}
		if err != nil {
			return Result{}, err
		}
		return b.result(appends, results), nil
	}
}

// load loads the ownership aggregate of every session of the batch.
func (h *IngestHandler) load(ctx context.Context, batches []*sessionBatch) ([]*telemetry.Session, error) {
	sessions := make([]*telemetry.Session, len(batches))
	for i, b := range batches {
		s, err := h.store.Session(ctx, b.id)
		if err != nil {
			return nil, err
		}
		sessions[i] = s
	}
	return sessions, nil
}

// decide applies the ownership rule to every session of the batch and builds one
// append per session: for a new session its SessionStarted first, expecting no stream
// (so a concurrent creator makes it a conflict), then the events.
func decide(caller Caller, sessions []*telemetry.Session, batches []*sessionBatch) ([]eventlog.Append, error) {
	appends := make([]eventlog.Append, 0, len(batches))
	for i, b := range batches {
		started, err := sessions[i].Accept(caller.User, b.earliest)
		if err != nil {
			return nil, err
		}
		a := eventlog.Append{StreamID: telemetry.StreamID(b.id), Expected: eventlog.Any(), Events: b.events}
		if started != nil {
			data, err := json.Marshal(started)
			if err != nil {
				return nil, err
			}
			a.Expected = eventlog.NoStream()
			a.Events = append(make([]eventlog.EventData, 0, len(b.events)+1), eventlog.EventData{
				ID: telemetry.SessionStartedID(b.id, caller.User), Type: telemetry.TypeSessionStarted,
				SchemaVersion: telemetry.SessionStartedVersion, Data: data, Metadata: caller.metadata(),
			})
			a.Events = append(a.Events, b.events...)
		}
		appends = append(appends, a)
	}
	return appends, nil
}

// userFirst answers 404 rather than 409 to a caller whose user no longer exists
// (3.15): a deleted user learns that first.
func (h *IngestHandler) userFirst(ctx context.Context, user ids.ID, conflict error) error {
	exists, err := h.store.UserExists(ctx, user)
	if err != nil {
		return err
	}
	if !exists {
		return accounts.ErrUserNotFound
	}
	return conflict
}

func (c Caller) metadata() eventlog.Metadata {
	return eventlog.Metadata{UserID: c.User.String(), ReceivedAt: c.ReceivedAt, RequestID: c.RequestID}
}
