// Package telemetry holds the telemetry ingest use case: a batch from the editor
// extension is checked (envelope, then each event), its valid events become domain
// events in their sessions' streams, invalid ones go to the quarantine (decision D15),
// resent events are recognised by their content-derived ids (decision D16), and session
// ownership is enforced (decision D17). Everything of one request commits atomically.
package telemetry

import (
	"context"
	"time"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
)

// Detail is one validation error in the contract's shape (2.3).
type Detail struct {
	InstancePath string         `json:"instancePath"`
	SchemaPath   string         `json:"schemaPath"`
	Keyword      string         `json:"keyword"`
	Params       map[string]any `json:"params"`
	Message      string         `json:"message"`
}

// Validator is the generic JSON-schema validator of the request schemas (the OpenAPI
// description is their source). Values are decoded JSON with json.Number numbers.
type Validator interface {
	// Envelope validates the payload envelope (4.1).
	Envelope(doc any) []Detail
	// Event validates events[index] against the schema of its type; instance paths
	// are rooted at the payload ("/events/<index>/...").
	Event(event any, index int) []Detail
	// Limits are the schemas' bounds of event values, for the quick check that
	// settles the usual event without the validator.
	Limits() telemetry.Limits
}

// QuarantineRecord is an invalid event set aside (decision D15).
type QuarantineRecord struct {
	ID         ids.ID // content-derived: a resent invalid event is stored once
	UserID     ids.ID
	ReceivedAt time.Time
	Index      int
	Raw        []byte // the event exactly as sent
	Errors     []Detail
}

// Store is what the ingest needs from storage.
type Store interface {
	// Session loads a session's ownership aggregate (not started when unknown). An
	// owner never changes, so the store may remember it rather than read it again.
	Session(ctx context.Context, id ids.ID) (*telemetry.Session, error)
	// UserExists reports whether the user row exists.
	UserExists(ctx context.Context, user ids.ID) (bool, error)
	// Commit appends the events and stores the quarantine records as one atomic
	// commit, checking that the user exists unless userVerified
	// (accounts.ErrUserNotFound otherwise, with nothing stored). A stream whose
	// expectation fails is a *eventlog.ConflictError, with nothing stored.
	Commit(ctx context.Context, user ids.ID, userVerified bool, appends []eventlog.Append, quarantine []QuarantineRecord) ([]eventlog.AppendResult, error)
}
