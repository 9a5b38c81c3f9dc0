// Package heartbeats holds the use case of recording WakaTime heartbeats: validate each
// heartbeat of a request with domain/heartbeat and append the valid ones, as
// HeartbeatRecorded events of the user's stream, in one append.
package heartbeats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/domain/ids"
)

// Appender is the part of the event log the use case needs.
type Appender interface {
	Append(ctx context.Context, appends ...eventlog.Append) ([]eventlog.AppendResult, error)
}

// RecordHandler records heartbeats.
type RecordHandler struct {
	log    Appender
	maxAge time.Duration
	now    func() time.Time
}

// NewRecordHandler builds the handler; maxAge is HEARTBEAT_MAX_AGE; now may be nil.
func NewRecordHandler(log Appender, maxAge time.Duration, now func() time.Time) *RecordHandler {
	if log == nil || maxAge <= 0 {
		panic("heartbeats: nil log or non-positive max age")
	}
	if now == nil {
		now = time.Now
	}
	return &RecordHandler{log: log, maxAge: maxAge, now: now}
}

// Record is one request's heartbeats.
type Record struct {
	User       ids.ID
	Client     heartbeat.Client
	RequestID  string
	Heartbeats []json.RawMessage
}

// Outcome is what became of one heartbeat: stored (Heartbeat set, Err nil; a resend
// counts as stored) or rejected with Err wrapping heartbeat.ErrInvalid.
type Outcome struct {
	Heartbeat heartbeat.Heartbeat
	Err       error
}

// ErrNoneValid is returned when a request holds no valid heartbeat; nothing is stored.
var ErrNoneValid = errors.New("no valid heartbeat")

// Handle validates every heartbeat and appends the valid ones in one append. The
// outcomes are in request order; with no valid heartbeat it returns them with
// ErrNoneValid.
func (h *RecordHandler) Handle(ctx context.Context, r Record) ([]Outcome, error) {
	now := h.now()
	outcomes := make([]Outcome, len(r.Heartbeats))
	events := make([]eventlog.EventData, 0, len(r.Heartbeats))
	seen := make(map[ids.ID]bool, len(r.Heartbeats))
	parser := heartbeat.NewParser(r.User, r.Client, now, h.maxAge)
	for i, raw := range r.Heartbeats {
		hb, ev, err := parser.Parse(raw)
		outcomes[i] = Outcome{Heartbeat: hb, Err: err}
		if err != nil || seen[hb.ID] {
			continue // the same heartbeat twice in one request is stored once
		}
		seen[hb.ID] = true
		ev.Metadata.ReceivedAt, ev.Metadata.RequestID = now.UTC(), r.RequestID
		events = append(events, ev)
	}
	if len(events) == 0 {
		return outcomes, ErrNoneValid
	}
	_, err := h.log.Append(ctx, eventlog.Append{StreamID: heartbeat.StreamID(r.User), Expected: eventlog.Any(), Events: events})
	if err != nil {
		return nil, fmt.Errorf("record heartbeats: %w", err)
	}
	return outcomes, nil
}
