// Package eventlog is the event-store port: the envelope every fact travels in and the
// operations the rest of devFlow needs from a log. It is shaped so that both the
// PostgreSQL adapter and the EventStoreDB adapter fit: streams with revisions, event ids
// as idempotency keys, and a global position that orders the whole log.
package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/devflow/backend/domain/ids"
)

// Position orders the whole log. It is a pair so that both adapters fit without loss:
// PostgreSQL stores (transaction id, sequence), EventStoreDB uses ($all commit, prepare).
// Positions compare lexicographically; the zero value is "before the first event".
type Position struct {
	Commit  uint64 `json:"commit"`
	Prepare uint64 `json:"prepare"`
}

// Start is the position before the first event of the log.
var Start = Position{}

// Less reports whether p comes strictly before q in log order.
func (p Position) Less(q Position) bool {
	if p.Commit != q.Commit {
		return p.Commit < q.Commit
	}
	return p.Prepare < q.Prepare
}

func (p Position) String() string { return fmt.Sprintf("%d/%d", p.Commit, p.Prepare) }

// Metadata travels with every event. It never holds a secret: the log is what analysts
// replay.
type Metadata struct {
	UserID     string    `json:"user_id,omitempty"`
	ReceivedAt time.Time `json:"received_at,omitzero"`
	RequestID  string    `json:"request_id,omitempty"`
	Client     string    `json:"client,omitempty"`
}

// EventData is an event about to be appended.
type EventData struct {
	ID            ids.ID // idempotency key; derive it from content where retries must dedupe
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      Metadata
}

// Envelope is a stored event as read back from the log.
type Envelope struct {
	ID            ids.ID
	StreamID      string
	StreamVersion uint64 // 0-based revision within the stream
	Position      Position
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      Metadata
	RecordedAt    time.Time
	// Erased marks an event whose payload was encrypted with a key that has since been
	// destroyed (its user was erased): Data is nil and can never be read again. Readers
	// skip it.
	Erased bool
}

// ExpectedKind says what an append expects of its stream.
type ExpectedKind int

const (
	// ExpectAny appends whatever the stream holds.
	ExpectAny ExpectedKind = iota
	// ExpectNoStream appends only to a stream that has no event yet.
	ExpectNoStream
	// ExpectExact appends only when the stream's last revision is Expected.Version.
	ExpectExact
)

// Expected is an append's optimistic-concurrency condition.
type Expected struct {
	Kind    ExpectedKind
	Version uint64 // last revision, for ExpectExact
}

// Any, NoStream and Exact build the three conditions.
func Any() Expected               { return Expected{Kind: ExpectAny} }
func NoStream() Expected          { return Expected{Kind: ExpectNoStream} }
func Exact(v uint64) Expected     { return Expected{Kind: ExpectExact, Version: v} }
func (e Expected) String() string { return [...]string{"any", "no-stream", "exact"}[e.Kind] }

// Append is one stream's part of an append call.
type Append struct {
	StreamID string
	Expected Expected
	Events   []EventData
}

// AppendResult tells what an append did to one stream.
type AppendResult struct {
	StreamID string
	// Appended counts events newly written; Duplicates counts events whose id was
	// already in the log (an idempotent retry) and were therefore not written again.
	Appended   int
	Duplicates int
	// NextExpected is the stream's last revision after the append (ExpectExact of it
	// appends next), or no-stream when the stream is still empty.
	NextExpected Expected
	// Position is the log position of the last event written (zero when none was).
	Position Position
}

// ErrWrongExpectedVersion is returned (wrapped in a *ConflictError) when a stream's
// revision does not match an append's condition. Nothing of that append call is written.
var ErrWrongExpectedVersion = errors.New("wrong expected version")

// ConflictError names the stream whose condition failed.
type ConflictError struct {
	StreamID string
	Expected Expected
	Actual   Expected
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("stream %s: expected %v, actual %v", e.StreamID, e.Expected, e.Actual)
}

func (e *ConflictError) Unwrap() error { return ErrWrongExpectedVersion }

// ErrStreamNotFound is returned by ReadStream for a stream without events.
var ErrStreamNotFound = errors.New("stream not found")

// Store is the event log.
type Store interface {
	// Append writes the given streams' events. Where the adapter can (PostgreSQL), all
	// streams of one call commit atomically; otherwise each stream's events commit
	// atomically, in order, and a retry of the whole call is safe because event ids
	// dedupe. Events whose id is already stored are skipped, not errors.
	Append(ctx context.Context, appends ...Append) ([]AppendResult, error)
	// ReadStream returns up to max events of one stream from revision from on.
	ReadStream(ctx context.Context, streamID string, from uint64, max int) ([]Envelope, error)
	// ReadAll returns up to max events strictly after position after, in log order.
	// It never returns an event while an earlier one may still commit (gap safety).
	ReadAll(ctx context.Context, after Position, max int) ([]Envelope, error)
	// Head is the position of the last committed event: every event committed before
	// the call is at or before it, so a projection that has passed Head has seen them.
	Head(ctx context.Context) (Position, error)
	// WaitForAppend blocks until an event may have been appended after the call
	// started, or until ctx ends or timeout passes. It lets followers sleep instead of
	// spinning; spurious wake-ups are allowed.
	WaitForAppend(ctx context.Context, timeout time.Duration) error
	// Backlog counts the events after a up to and including b, in log order, and tells
	// when the oldest of them was recorded (what a projection at a is behind by).
	Backlog(ctx context.Context, a, b Position) (Backlog, error)
}

// Backlog is what lies between two positions of the log.
type Backlog struct {
	Events int64
	Oldest time.Time // when the oldest of the events was recorded; zero when there are none
}

// AwaitWake is the waiting half of WaitForAppend for adapters that broadcast appends by
// closing a channel: it returns when wake closes or timeout passes (nil), or when ctx
// ends (its error).
func AwaitWake(ctx context.Context, wake <-chan struct{}, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-wake:
		return nil
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
