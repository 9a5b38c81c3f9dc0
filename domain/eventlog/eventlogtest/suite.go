// Package eventlogtest is the contract every eventlog.Store adapter must meet. Each
// adapter's tests call Run with a constructor for a fresh, empty store.
package eventlogtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
)

// Run runs the whole contract against stores made by newStore. Each call of newStore
// must return a store over an empty log.
func Run(t *testing.T, newStore func(t *testing.T) eventlog.Store) {
	t.Run("AppendThenReadStream", func(t *testing.T) { testAppendRead(t, newStore(t)) })
	t.Run("ReadStreamNotFound", func(t *testing.T) { testNotFound(t, newStore(t)) })
	t.Run("ExpectedVersionModes", func(t *testing.T) { testExpected(t, newStore(t)) })
	t.Run("IdempotentRetry", func(t *testing.T) { testIdempotent(t, newStore(t)) })
	t.Run("ReadAllInOrderFromPosition", func(t *testing.T) { testReadAll(t, newStore(t)) })
	t.Run("ConcurrentWritersOneStream", func(t *testing.T) { testConcurrentStream(t, newStore(t)) })
	t.Run("WaitForAppendWakes", func(t *testing.T) { testWait(t, newStore(t)) })
}

// Event builds an event with a random id and the given JSON data.
func Event(typ string, data string) eventlog.EventData {
	return eventlog.EventData{ID: ids.New(), Type: typ, SchemaVersion: 1, Data: json.RawMessage(data),
		Metadata: eventlog.Metadata{UserID: "u-1", RequestID: "req-1", ReceivedAt: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}}
}

func stream(t *testing.T) string { return fmt.Sprintf("test-%s", ids.New()) }

func mustAppend(t *testing.T, s eventlog.Store, a ...eventlog.Append) []eventlog.AppendResult {
	t.Helper()
	res, err := s.Append(context.Background(), a...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return res
}

func sameJSON(t *testing.T, got, want json.RawMessage) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("stored data is not JSON: %s", got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("bad test JSON %s", want)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("data = %s, want %s", got, want)
	}
}

func testAppendRead(t *testing.T, s eventlog.Store) {
	ctx := context.Background()
	sid := stream(t)
	events := []eventlog.EventData{
		Event("TextChanged", `{"file":{"path":"src/a.ts","lines":12},"n":1}`),
		Event("FileSaved", `{"file":{"path":"src/a.ts"},"unicode":"héllo — ✓"}`),
		Event("EditorSwitched", `{"to":{"file":"b.ts"},"value":240.5}`),
	}
	res := mustAppend(t, s, eventlog.Append{StreamID: sid, Expected: eventlog.NoStream(), Events: events})
	if len(res) != 1 || res[0].Appended != 3 || res[0].Duplicates != 0 || res[0].NextExpected != eventlog.Exact(2) {
		t.Fatalf("result = %+v, want 3 appended, next exact 2", res)
	}
	got, err := s.ReadStream(ctx, sid, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("read %d events, want 3", len(got))
	}
	for i, e := range got {
		if e.ID != events[i].ID || e.Type != events[i].Type || e.StreamID != sid || e.StreamVersion != uint64(i) || e.SchemaVersion != 1 {
			t.Fatalf("event %d = %+v, want id %s type %s version %d", i, e, events[i].ID, events[i].Type, i)
		}
		sameJSON(t, e.Data, events[i].Data)
		if e.Metadata.UserID != "u-1" || e.Metadata.RequestID != "req-1" || !e.Metadata.ReceivedAt.Equal(events[i].Metadata.ReceivedAt) {
			t.Fatalf("metadata = %+v", e.Metadata)
		}
		if e.RecordedAt.IsZero() {
			t.Fatalf("event %d has no recorded-at", i)
		}
		if i > 0 && !got[i-1].Position.Less(e.Position) {
			t.Fatalf("positions not increasing: %v then %v", got[i-1].Position, e.Position)
		}
	}
	if res[0].Position != got[2].Position {
		t.Fatalf("append result position %v, last event at %v", res[0].Position, got[2].Position)
	}
	tail, err := s.ReadStream(ctx, sid, 1, 1)
	if err != nil || len(tail) != 1 || tail[0].ID != events[1].ID {
		t.Fatalf("ReadStream(from 1, max 1) = %v, %v; want the second event", tail, err)
	}
}

func testNotFound(t *testing.T, s eventlog.Store) {
	_, err := s.ReadStream(context.Background(), stream(t), 0, 10)
	if !errors.Is(err, eventlog.ErrStreamNotFound) {
		t.Fatalf("err = %v, want ErrStreamNotFound", err)
	}
}

func wantConflict(t *testing.T, err error, actual eventlog.Expected) {
	t.Helper()
	if !errors.Is(err, eventlog.ErrWrongExpectedVersion) {
		t.Fatalf("err = %v, want ErrWrongExpectedVersion", err)
	}
	var c *eventlog.ConflictError
	if !errors.As(err, &c) || c.Actual != actual {
		t.Fatalf("err = %#v, want ConflictError with actual %v", err, actual)
	}
}

func testExpected(t *testing.T, s eventlog.Store) {
	ctx := context.Background()
	sid := stream(t)
	_, err := s.Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.Exact(0), Events: []eventlog.EventData{Event("A", `{}`)}})
	wantConflict(t, err, eventlog.NoStream())
	mustAppend(t, s, eventlog.Append{StreamID: sid, Expected: eventlog.NoStream(), Events: []eventlog.EventData{Event("A", `{}`)}})
	_, err = s.Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.NoStream(), Events: []eventlog.EventData{Event("B", `{}`)}})
	wantConflict(t, err, eventlog.Exact(0))
	_, err = s.Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.Exact(5), Events: []eventlog.EventData{Event("B", `{}`)}})
	wantConflict(t, err, eventlog.Exact(0))
	res := mustAppend(t, s, eventlog.Append{StreamID: sid, Expected: eventlog.Exact(0), Events: []eventlog.EventData{Event("B", `{}`), Event("C", `{}`)}})
	if res[0].NextExpected != eventlog.Exact(2) {
		t.Fatalf("next expected = %v, want exact 2", res[0].NextExpected)
	}
	res = mustAppend(t, s, eventlog.Append{StreamID: sid, Expected: eventlog.Any(), Events: []eventlog.EventData{Event("D", `{}`)}})
	if res[0].NextExpected != eventlog.Exact(3) {
		t.Fatalf("next expected after any = %v, want exact 3", res[0].NextExpected)
	}
	got, err := s.ReadStream(ctx, sid, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types string
	for _, e := range got {
		types += e.Type
	}
	if types != "ABCD" {
		t.Fatalf("stream holds %q, want ABCD (failed appends must write nothing)", types)
	}
	// Any on a new stream creates it.
	res = mustAppend(t, s, eventlog.Append{StreamID: stream(t), Expected: eventlog.Any(), Events: []eventlog.EventData{Event("A", `{}`)}})
	if res[0].NextExpected != eventlog.Exact(0) {
		t.Fatalf("any on new stream: next expected %v", res[0].NextExpected)
	}
}

func testIdempotent(t *testing.T, s eventlog.Store) {
	ctx := context.Background()
	sid := stream(t)
	batch := []eventlog.EventData{Event("A", `{"i":1}`), Event("B", `{"i":2}`)}
	mustAppend(t, s, eventlog.Append{StreamID: sid, Expected: eventlog.NoStream(), Events: batch})
	// The identical retry, even with its original expectation, succeeds and writes nothing.
	res := mustAppend(t, s, eventlog.Append{StreamID: sid, Expected: eventlog.NoStream(), Events: batch})
	if res[0].Appended != 0 || res[0].Duplicates != 2 {
		t.Fatalf("retry result = %+v, want 0 appended, 2 duplicates", res[0])
	}
	// A retry that carries one new event appends just that one.
	extra := Event("C", `{"i":3}`)
	res = mustAppend(t, s, eventlog.Append{StreamID: sid, Expected: eventlog.Any(), Events: append(batch[:2:2], extra, extra)})
	if res[0].Appended != 1 || res[0].Duplicates != 3 {
		t.Fatalf("partial retry result = %+v, want 1 appended, 3 duplicates", res[0])
	}
	got, err := s.ReadStream(ctx, sid, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[2].ID != extra.ID || got[2].StreamVersion != 2 {
		t.Fatalf("stream has %d events, want exactly A B C", len(got))
	}
}

func testReadAll(t *testing.T, s eventlog.Store) {
	ctx := context.Background()
	head0, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []ids.ID
	for i := 0; i < 5; i++ {
		a, b := Event("A", fmt.Sprintf(`{"i":%d}`, i)), Event("B", fmt.Sprintf(`{"i":%d}`, i))
		mustAppend(t, s,
			eventlog.Append{StreamID: stream(t), Expected: eventlog.Any(), Events: []eventlog.EventData{a}},
			eventlog.Append{StreamID: stream(t), Expected: eventlog.Any(), Events: []eventlog.EventData{b}})
		want = append(want, a.ID, b.ID)
	}
	var got []eventlog.Envelope
	pos := head0
	// A page can come back empty before the end while an unrelated older transaction
	// is still open (the reader never skips past it), so read until all arrived.
	deadline := time.Now().Add(time.Minute)
	for len(got) < len(want) {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d events within a minute", len(got), len(want))
		}
		page, err := s.ReadAll(ctx, pos, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			_ = s.WaitForAppend(ctx, 20*time.Millisecond)
			continue
		}
		if len(page) > 3 {
			t.Fatalf("ReadAll returned %d events, max 3", len(page))
		}
		for _, e := range page {
			if !pos.Less(e.Position) {
				t.Fatalf("position %v not after %v", e.Position, pos)
			}
			pos = e.Position
			got = append(got, e)
		}
	}
	if extra, err := s.ReadAll(ctx, pos, 3); err != nil || len(extra) != 0 {
		t.Fatalf("read %d more events after the last appended one (%v)", len(extra), err)
	}
	for i := range want {
		if got[i].ID != want[i] {
			t.Fatalf("event %d is %s, want %s (log order = append order for sequential appends)", i, got[i].ID, want[i])
		}
	}
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head != got[len(got)-1].Position {
		t.Fatalf("head = %v, last event at %v", head, got[len(got)-1].Position)
	}
	bl, err := s.Backlog(ctx, got[1].Position, got[6].Position)
	oldest := got[2].RecordedAt
	for _, e := range got[3:7] {
		if e.RecordedAt.Before(oldest) {
			oldest = e.RecordedAt
		}
	}
	if err != nil || bl.Events != 5 || !bl.Oldest.Equal(oldest) {
		t.Fatalf("Backlog = %+v, %v; want 5 events, the oldest recorded at %v", bl, err, oldest)
	}
	if bl, err := s.Backlog(ctx, head, head); err != nil || bl != (eventlog.Backlog{}) {
		t.Fatalf("Backlog(head, head) = %+v, %v; want none", bl, err)
	}
}

func testConcurrentStream(t *testing.T, s eventlog.Store) {
	ctx := context.Background()
	sid := stream(t)
	mustAppend(t, s, eventlog.Append{StreamID: sid, Expected: eventlog.NoStream(), Events: []eventlog.EventData{Event("A", `{}`)}})
	// Ten writers race on exact version 0: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.Exact(0), Events: []eventlog.EventData{Event("B", `{}`)}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, eventlog.ErrWrongExpectedVersion):
				conflicts++
			default:
				t.Errorf("append: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || conflicts != 9 {
		t.Fatalf("wins = %d, conflicts = %d; want 1 and 9", wins, conflicts)
	}
	// Writers with ExpectAny all succeed and get distinct, gapless versions.
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.Any(), Events: []eventlog.EventData{Event("C", `{}`)}}); err != nil {
				t.Errorf("append any: %v", err)
			}
		}()
	}
	wg.Wait()
	got, err := s.ReadStream(ctx, sid, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 12 {
		t.Fatalf("stream has %d events, want 12", len(got))
	}
	for i, e := range got {
		if e.StreamVersion != uint64(i) {
			t.Fatalf("event %d has version %d", i, e.StreamVersion)
		}
	}
}

func testWait(t *testing.T, s eventlog.Store) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.WaitForAppend(cancelled, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitForAppend on a cancelled context = %v, want context.Canceled", err)
	}
	// Prime the listener so the append below is certainly after it started.
	if err := s.WaitForAppend(ctx, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	done := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		if err := s.WaitForAppend(ctx, time.Minute); err != nil {
			t.Error(err)
		}
		done <- time.Since(start)
	}()
	// Keep appending until the waiter wakes: a wake-up that arrives only by the
	// minute-long timeout fails the test by the deadline below.
	deadline := time.After(30 * time.Second)
	for {
		mustAppend(t, s, eventlog.Append{StreamID: stream(t), Expected: eventlog.Any(), Events: []eventlog.EventData{Event("A", `{}`)}})
		select {
		case <-done:
			return
		case <-deadline:
			t.Fatal("WaitForAppend did not wake up on appends")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
