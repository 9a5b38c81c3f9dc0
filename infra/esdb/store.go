// Package esdb is the EventStoreDB/KurrentDB adapter of the event-store port
// (domain/eventlog), for deployments that outgrow one PostgreSQL: the log moves to
// EventStoreDB while read models, checkpoints and state tables stay in PostgreSQL. It
// is selected by EVENTSTORE_URL=esdb://...
//
// Mapping:
//   - An append's expected version maps to the server's expected revision; event ids
//     pass through unchanged; the event type is the server's event type; data is the
//     JSON payload and the custom metadata is eventlog.Metadata as JSON plus
//     "schema_version".
//   - eventlog.Position is the $all position (commit, prepare). The log the port shows
//     is $all without system events (types or streams starting with "$"), so Head,
//     ReadAll and Backlog skip them; devFlow refuses to write such streams or types.
//   - WaitForAppend listens on one live $all subscription that excludes system events.
//
// Duplicates. The port skips events whose id is already stored and counts them; the
// server's own idempotency is all-or-nothing per retried batch and does not say whether
// it wrote. So the adapter decides itself: before writing a stream it reads the
// stream's last DedupeWindow events, drops the events whose ids are there (or earlier in
// the same call), checks the caller's expectation against the revision it read, and
// writes the rest with that exact revision as the expected revision. If another writer
// got in between, the server answers wrong-expected-version and the adapter reads and
// decides again, so the check and the write are as good as atomic. Limits: an id older
// than the stream's last DedupeWindow events, or stored in another stream, is not
// recognised (PostgreSQL dedupes across the whole log); and when two identical calls
// race on one stream, the server writes the events once but both calls may report them
// as appended (the protocol does not tell an idempotent success apart).
//
// Several streams in one call. EventStoreDB has no transaction across streams. The
// adapter first reads and checks every stream, so a stale expectation (the usual
// conflict) fails the call before anything is written; then it writes the streams one by
// one, in order, each atomically. Only if another writer changes a later stream between
// the check and its write can the call fail after earlier streams were committed; the
// error says so. Retrying the whole call is then safe: the committed streams' events are
// duplicates (skipped and counted, whatever they expected) and the rest is written.
package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
)

// DedupeWindow is how many of a stream's most recent events an append checks for ids
// it already holds. Retries arrive soon after the original, so the window only has to
// cover what a stream receives in between.
const DedupeWindow = 256

// maxAttempts bounds the read-check-write loop of one stream when other writers keep
// moving it; every round lets at least one writer through, so this is only reached
// under extreme contention.
const maxAttempts = 50

// pageSize is how many $all events Head and Backlog read per request.
const pageSize = 512

// Store is the EventStoreDB event log.
type Store struct {
	client *esdbclient.Client
	logger *slog.Logger

	mu     sync.Mutex
	wake   chan struct{} // closed and replaced whenever an event is appended
	stop   context.CancelFunc
	closed bool
	follow sync.WaitGroup
}

var _ eventlog.Store = (*Store)(nil)

// New connects to the server at url (esdb://host:port?tls=..., credentials allowed)
// and checks that $all can be read. Close releases the connection.
func New(ctx context.Context, url string, logger *slog.Logger) (*Store, error) {
	cfg, err := esdbclient.ParseConnectionString(url)
	if err != nil {
		return nil, fmt.Errorf("eventstoredb: invalid connection string: %w", redact(err))
	}
	cfg.Logger = clientLogger(logger)
	client, err := esdbclient.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("eventstoredb: %w", err)
	}
	s := &Store{client: client, logger: logger, wake: make(chan struct{})}
	// The client discovers the node without a context (up to ten attempts of five
	// seconds), so the check runs aside and ctx bounds the wait for it.
	checked := make(chan error, 1)
	go func() {
		_, err := s.readAllPage(ctx, esdbclient.Backwards, esdbclient.End{}, 1)
		checked <- err
	}()
	select {
	case err := <-checked:
		if err != nil {
			_ = client.Close()
			return nil, fmt.Errorf("eventstoredb: connect: %w", err)
		}
		return s, nil
	case <-ctx.Done():
		// Closing under a discovery in progress races inside the client: close after it.
		go func() { <-checked; _ = client.Close() }()
		return nil, fmt.Errorf("eventstoredb: connect: %w", ctx.Err())
	}
}

// Close stops the $all subscription and closes the connection.
func (s *Store) Close() {
	s.mu.Lock()
	s.closed = true
	if s.stop != nil {
		s.stop()
	}
	s.mu.Unlock()
	s.follow.Wait()
	_ = s.client.Close()
}

// redact drops the URL from a parse error: it may carry a password.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// clientLogger routes the client library's log lines to slog. Its info lines are
// discovery chatter, so they go to debug.
func clientLogger(logger *slog.Logger) esdbclient.LoggingFunc {
	return func(level esdbclient.LogLevel, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		l := slog.LevelDebug
		// Cancelled calls (a closed subscription, a finished request) are not problems.
		if (level == esdbclient.LogWarn || level == esdbclient.LogError) && !strings.Contains(msg, "Canceled") && !strings.Contains(msg, "context canceled") {
			l = slog.LevelWarn
		}
		logger.Log(context.Background(), l, "eventstoredb client: "+msg)
	}
}

// wireMetadata is the custom metadata stored with every event.
type wireMetadata struct {
	eventlog.Metadata
	SchemaVersion int `json:"schema_version"`
}

func isSystem(streamID, eventType string) bool {
	return strings.HasPrefix(streamID, "$") || strings.HasPrefix(eventType, "$")
}

func esdbCode(err error) esdbclient.ErrorCode {
	var e *esdbclient.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return esdbclient.ErrorCodeUnknown
}

func positionOf(p esdbclient.Position) eventlog.Position {
	return eventlog.Position{Commit: p.Commit, Prepare: p.Prepare}
}

func expectedOf(revision int64) eventlog.Expected {
	if revision < 0 {
		return eventlog.NoStream()
	}
	return eventlog.Exact(uint64(revision))
}

func toEnvelope(e *esdbclient.RecordedEvent) (eventlog.Envelope, error) {
	var meta wireMetadata
	if len(e.UserMetadata) > 0 {
		if err := json.Unmarshal(e.UserMetadata, &meta); err != nil {
			return eventlog.Envelope{}, fmt.Errorf("event %s in %s: metadata: %w", e.EventID, e.StreamID, err)
		}
	}
	return eventlog.Envelope{
		ID:            ids.ID(e.EventID),
		StreamID:      e.StreamID,
		StreamVersion: e.EventNumber,
		Position:      positionOf(e.Position),
		Type:          e.EventType,
		SchemaVersion: meta.SchemaVersion,
		Data:          slices.Clone(e.Data),
		Metadata:      meta.Metadata,
		RecordedAt:    e.CreatedDate,
	}, nil
}

// Append writes the streams' events; see the package comment for duplicates and for
// calls that span several streams.
func (s *Store) Append(ctx context.Context, appends ...eventlog.Append) ([]eventlog.AppendResult, error) {
	for _, a := range appends {
		if a.StreamID == "" {
			return nil, errors.New("append: empty stream id")
		}
		if isSystem(a.StreamID, "") {
			return nil, fmt.Errorf("append: stream %q: names starting with $ are EventStoreDB's", a.StreamID)
		}
		for _, e := range a.Events {
			if e.Type == "" || isSystem("", e.Type) {
				return nil, fmt.Errorf("append: stream %s: invalid event type %q", a.StreamID, e.Type)
			}
		}
	}

	// Check every stream before writing any.
	tails := make([]*tail, len(appends))
	seen := map[ids.ID]bool{}
	for i, a := range appends {
		if slices.ContainsFunc(appends[:i], func(b eventlog.Append) bool { return b.StreamID == a.StreamID }) {
			continue // an earlier part of this call writes it first; checked when written
		}
		t, err := s.readTail(ctx, a.StreamID)
		if err != nil {
			return nil, err
		}
		fresh, _, err := t.decide(a, seen)
		if err != nil {
			return nil, err
		}
		for _, e := range fresh {
			seen[e.ID] = true
		}
		tails[i] = t
	}

	results := make([]eventlog.AppendResult, len(appends))
	written := map[ids.ID]bool{}
	for i, a := range appends {
		r, err := s.appendStream(ctx, a, tails[i], written)
		if err != nil {
			if i > 0 {
				return nil, fmt.Errorf("append: streams before %s are committed, a retry of the whole call is safe: %w", a.StreamID, err)
			}
			return nil, err
		}
		results[i] = r
	}
	return results, nil
}

// tail is what an append needs to know of a stream: its last revision and the ids of
// its most recent events.
type tail struct {
	revision int64 // -1 when the stream has no event
	ids      map[ids.ID]bool
}

func (s *Store) readTail(ctx context.Context, streamID string) (*tail, error) {
	t := &tail{revision: -1, ids: map[ids.ID]bool{}}
	rs, err := s.client.ReadStream(ctx, streamID, esdbclient.ReadStreamOptions{Direction: esdbclient.Backwards, From: esdbclient.End{}}, DedupeWindow)
	if err != nil {
		return nil, fmt.Errorf("append: read %s: %w", streamID, err)
	}
	defer rs.Close()
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return t, nil
		}
		if esdbCode(err) == esdbclient.ErrorCodeResourceNotFound {
			return t, nil
		}
		if err != nil {
			return nil, fmt.Errorf("append: read %s: %w", streamID, err)
		}
		if ev.Event == nil {
			continue
		}
		if t.revision < 0 {
			t.revision = int64(ev.Event.EventNumber)
		}
		t.ids[ids.ID(ev.Event.EventID)] = true
	}
}

// decide splits a's events into those to write and duplicates (stored in the tail or
// written earlier in this call, or repeated within a) and checks a's expectation, which
// a retry whose events are all stored already does not have to meet.
func (t *tail) decide(a eventlog.Append, earlier map[ids.ID]bool) (fresh []eventlog.EventData, duplicates int, err error) {
	mine := map[ids.ID]bool{}
	for _, e := range a.Events {
		if t.ids[e.ID] || earlier[e.ID] || mine[e.ID] {
			duplicates++
			continue
		}
		mine[e.ID] = true
		fresh = append(fresh, e)
	}
	if len(fresh) == 0 && len(a.Events) > 0 {
		return nil, duplicates, nil
	}
	ok := false
	switch a.Expected.Kind {
	case eventlog.ExpectAny:
		ok = true
	case eventlog.ExpectNoStream:
		ok = t.revision < 0
	case eventlog.ExpectExact:
		ok = t.revision >= 0 && uint64(t.revision) == a.Expected.Version
	}
	if !ok {
		return nil, 0, &eventlog.ConflictError{StreamID: a.StreamID, Expected: a.Expected, Actual: expectedOf(t.revision)}
	}
	return fresh, duplicates, nil
}

// appendStream writes one stream's part: decide against the tail, write with the
// tail's revision as the expected revision, and on a race read the tail again.
func (s *Store) appendStream(ctx context.Context, a eventlog.Append, t *tail, written map[ids.ID]bool) (eventlog.AppendResult, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if t == nil {
			var err error
			if t, err = s.readTail(ctx, a.StreamID); err != nil {
				return eventlog.AppendResult{}, err
			}
		}
		fresh, duplicates, err := t.decide(a, written)
		if err != nil {
			return eventlog.AppendResult{}, err
		}
		result := eventlog.AppendResult{StreamID: a.StreamID, Duplicates: duplicates, NextExpected: expectedOf(t.revision)}
		if len(fresh) == 0 {
			return result, nil
		}
		events, err := toEventData(fresh)
		if err != nil {
			return eventlog.AppendResult{}, err
		}
		var expected esdbclient.ExpectedRevision = esdbclient.NoStream{}
		if t.revision >= 0 {
			expected = esdbclient.Revision(uint64(t.revision))
		}
		wr, err := s.client.AppendToStream(ctx, a.StreamID, esdbclient.AppendToStreamOptions{ExpectedRevision: expected}, events...)
		if esdbCode(err) == esdbclient.ErrorCodeWrongExpectedVersion {
			t = nil // another writer moved the stream: look again
			continue
		}
		if err != nil {
			return eventlog.AppendResult{}, fmt.Errorf("append %s: %w", a.StreamID, err)
		}
		for _, e := range fresh {
			written[e.ID] = true
		}
		result.Appended = len(fresh)
		result.NextExpected = eventlog.Exact(wr.NextExpectedVersion)
		result.Position = s.lastPosition(ctx, a.StreamID, wr)
		return result, nil
	}
	return eventlog.AppendResult{}, fmt.Errorf("append %s: stream kept changing under %d attempts", a.StreamID, maxAttempts)
}

// lastPosition is the $all position of the write's last event, as ReadAll will report
// it: read-your-writes waits for a projection to pass exactly this position. The
// server's write result names a position of the write too, but which record of a
// multi-event write it points at is not specified, so the event is read back (servers
// from 22.6 on put the $all position on stream reads). The write result stands in
// when the read fails or the server leaves the position out.
func (s *Store) lastPosition(ctx context.Context, streamID string, wr *esdbclient.WriteResult) eventlog.Position {
	reported := eventlog.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition}
	rs, err := s.client.ReadStream(ctx, streamID, esdbclient.ReadStreamOptions{Direction: esdbclient.Backwards, From: esdbclient.Revision(wr.NextExpectedVersion)}, 1)
	if err != nil {
		s.logger.Warn("eventstoredb: reading back an appended event failed; using the write result's position", "stream", streamID, "error", err)
		return reported
	}
	defer rs.Close()
	ev, err := rs.Recv()
	if err != nil || ev.Event == nil || ev.Event.Position.Commit == math.MaxUint64 {
		s.logger.Warn("eventstoredb: appended event read back without a position; using the write result's", "stream", streamID, "error", err)
		return reported
	}
	return positionOf(ev.Event.Position)
}

func toEventData(events []eventlog.EventData) ([]esdbclient.EventData, error) {
	out := make([]esdbclient.EventData, len(events))
	for i, e := range events {
		meta, err := json.Marshal(wireMetadata{Metadata: e.Metadata, SchemaVersion: e.SchemaVersion})
		if err != nil {
			return nil, fmt.Errorf("append: metadata: %w", err)
		}
		data := []byte(e.Data)
		if len(data) == 0 {
			data = []byte("{}")
		}
		out[i] = esdbclient.EventData{EventID: [16]byte(e.ID), EventType: e.Type, ContentType: esdbclient.ContentTypeJson, Data: data, Metadata: meta}
	}
	return out, nil
}

// ReadStream returns up to max events of one stream from revision from on.
func (s *Store) ReadStream(ctx context.Context, streamID string, from uint64, max int) ([]eventlog.Envelope, error) {
	if max <= 0 {
		return nil, nil
	}
	rs, err := s.client.ReadStream(ctx, streamID, esdbclient.ReadStreamOptions{Direction: esdbclient.Forwards, From: esdbclient.Revision(from)}, uint64(max))
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", streamID, err)
	}
	defer rs.Close()
	out := []eventlog.Envelope{}
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if esdbCode(err) == esdbclient.ErrorCodeResourceNotFound {
			return nil, eventlog.ErrStreamNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("read stream %s: %w", streamID, err)
		}
		if ev.Event == nil {
			continue
		}
		env, err := toEnvelope(ev.Event)
		if err != nil {
			return nil, fmt.Errorf("read stream %s: %w", streamID, err)
		}
		out = append(out, env)
	}
}

// readAllPage reads up to count raw $all events, system events included.
func (s *Store) readAllPage(ctx context.Context, dir esdbclient.Direction, from esdbclient.AllPosition, count int) ([]*esdbclient.RecordedEvent, error) {
	rs, err := s.client.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: dir, From: from}, uint64(count))
	if err != nil {
		return nil, fmt.Errorf("read $all: %w", err)
	}
	defer rs.Close()
	var page []*esdbclient.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return page, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read $all: %w", err)
		}
		if ev.Event != nil {
			page = append(page, ev.Event)
		}
	}
}

// scanForward calls visit for each non-system event strictly after after, in log
// order, until visit returns false or the log ends. The server's $all is committed
// data in commit order, so a reader never sees a later position before an earlier one.
func (s *Store) scanForward(ctx context.Context, after eventlog.Position, count int, visit func(*esdbclient.RecordedEvent) (bool, error)) error {
	cursor := after
	var from esdbclient.AllPosition = esdbclient.Start{}
	if after != eventlog.Start {
		from = esdbclient.Position{Commit: after.Commit, Prepare: after.Prepare}
	}
	for {
		page, err := s.readAllPage(ctx, esdbclient.Forwards, from, count)
		if err != nil {
			return err
		}
		for _, e := range page {
			pos := positionOf(e.Position)
			// Reading from a position includes the event at it.
			if !cursor.Less(pos) {
				continue
			}
			cursor = pos
			if isSystem(e.StreamID, e.EventType) {
				continue
			}
			more, err := visit(e)
			if err != nil || !more {
				return err
			}
		}
		if len(page) < count {
			return nil
		}
		from = esdbclient.Position{Commit: cursor.Commit, Prepare: cursor.Prepare}
	}
}

// ReadAll returns up to max events strictly after after, in log order.
func (s *Store) ReadAll(ctx context.Context, after eventlog.Position, max int) ([]eventlog.Envelope, error) {
	out := []eventlog.Envelope{}
	if max <= 0 {
		return out, nil
	}
	err := s.scanForward(ctx, after, max+1, func(e *esdbclient.RecordedEvent) (bool, error) {
		env, err := toEnvelope(e)
		if err != nil {
			return false, err
		}
		out = append(out, env)
		return len(out) < max, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read all: %w", err)
	}
	return out, nil
}

// Backlog counts events after a up to and including b by reading them: it is for lag
// reporting and progress, not for hot paths.
func (s *Store) Backlog(ctx context.Context, a, b eventlog.Position) (eventlog.Backlog, error) {
	var bl eventlog.Backlog
	if !a.Less(b) {
		return bl, nil
	}
	err := s.scanForward(ctx, a, pageSize, func(e *esdbclient.RecordedEvent) (bool, error) {
		if b.Less(positionOf(e.Position)) {
			return false, nil
		}
		if bl.Events == 0 || e.CreatedDate.Before(bl.Oldest) {
			bl.Oldest = e.CreatedDate
		}
		bl.Events++
		return true, nil
	})
	if err != nil {
		return bl, fmt.Errorf("count events: %w", err)
	}
	return bl, nil
}

// Head is the position of the last non-system event, read backwards from the end of
// $all; Start when there is none.
func (s *Store) Head(ctx context.Context) (eventlog.Position, error) {
	var from esdbclient.AllPosition = esdbclient.End{}
	var cursor *eventlog.Position
	for {
		page, err := s.readAllPage(ctx, esdbclient.Backwards, from, pageSize)
		if err != nil {
			return eventlog.Start, fmt.Errorf("head: %w", err)
		}
		for _, e := range page {
			pos := positionOf(e.Position)
			if cursor != nil && !pos.Less(*cursor) {
				continue
			}
			cursor = &pos
			if !isSystem(e.StreamID, e.EventType) {
				return pos, nil
			}
		}
		if len(page) < pageSize || cursor == nil {
			return eventlog.Start, nil
		}
		from = esdbclient.Position{Commit: cursor.Commit, Prepare: cursor.Prepare}
	}
}

// WaitForAppend blocks until a non-system event is appended, ctx ends or timeout
// passes. One live $all subscription (started on first use, resubscribed after a
// failure) wakes all waiters; while it is down the timeout turns waiting into polling.
func (s *Store) WaitForAppend(ctx context.Context, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("eventstoredb: store closed")
	}
	if s.stop == nil {
		fctx, stop := context.WithCancel(context.Background())
		s.stop = stop
		s.follow.Add(1)
		go func() {
			defer s.follow.Done()
			s.subscribe(fctx)
		}()
	}
	wake := s.wake
	s.mu.Unlock()
	return eventlog.AwaitWake(ctx, wake, timeout)
}

func (s *Store) wakeAll() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

func (s *Store) subscribe(ctx context.Context) {
	for ctx.Err() == nil {
		sub, err := s.client.SubscribeToAll(ctx, esdbclient.SubscribeToAllOptions{
			From: esdbclient.End{}, Filter: esdbclient.ExcludeSystemEventsFilter()})
		if err != nil {
			if ctx.Err() == nil {
				s.logger.Warn("eventstoredb: $all subscription failed; retrying", "error", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		// Appends while no subscription was open went unnoticed: wake everyone once.
		s.wakeAll()
		for {
			ev := sub.Recv()
			if ev.EventAppeared != nil {
				s.wakeAll()
			}
			if ev.SubscriptionDropped != nil {
				if ctx.Err() == nil {
					s.logger.Warn("eventstoredb: $all subscription dropped; resubscribing", "error", ev.SubscriptionDropped.Error)
				}
				break
			}
		}
		_ = sub.Close()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
