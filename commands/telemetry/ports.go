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

// Validator checks a parsed payload against the request schemas (the OpenAPI
// description is their source).
type Validator interface {
	// QuickEnvelope and QuickEvent settle the usual payload without the schema
	// validator: true only when the envelope (4.1), or an event by the schema of its
	// client type (4.2–4.4), is surely valid. QuickEvent runs only on an event
	// telemetry.Identify has read, so it may take the formats of session_id and
	// timestamp as proven.
	QuickEnvelope(root telemetry.Value) bool
	QuickEvent(clientType string, ev telemetry.Value) bool
	// Envelope validates the payload envelope, and Event events[index] against the
	// schema of its type; instance paths are rooted at the payload ("/events/3/...").
	Envelope(root telemetry.Value) []Detail
	Event(ev telemetry.Value, index int) []Detail
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
