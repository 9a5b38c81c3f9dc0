package esdb_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/eventlog/eventlogtest"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/esdb"
	"github.com/devflow/backend/infra/esdb/esdbtest"
)

// servers are the EventStoreDB endpoints every test runs against: a fresh double per
// test, and the real server named by ESDB_TEST_URL when set. The real server must be
// dedicated to the test run: tests read $all from its head and expect no other writer.
func servers(t *testing.T, run func(t *testing.T, url func(t *testing.T) string)) {
	t.Run("double", func(t *testing.T) { run(t, func(t *testing.T) string { return esdbtest.Start(t) }) })
	if real := os.Getenv("ESDB_TEST_URL"); real != "" {
		t.Run("server", func(t *testing.T) { run(t, func(*testing.T) string { return real }) })
	}
}

func open(t *testing.T, url string) *esdb.Store {
	t.Helper()
	s, err := esdb.New(context.Background(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// rawClient talks to the server directly, to look under the adapter or play another
// writer.
func rawClient(t *testing.T, url string) *esdbclient.Client {
	t.Helper()
	cfg, err := esdbclient.ParseConnectionString(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = esdbclient.NoopLogging()
	c, err := esdbclient.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func stream() string { return "test-" + ids.New().String() }

func one(typ string) []eventlog.EventData {
	return []eventlog.EventData{eventlogtest.Event(typ, `{}`)}
}

func TestStoreContract(t *testing.T) {
	servers(t, func(t *testing.T, url func(t *testing.T) string) {
		eventlogtest.Run(t, func(t *testing.T) eventlog.Store { return open(t, url(t)) })
	})
}

func TestAppend_StoresTypeDataAndMetadataAsJSON(t *testing.T) {
	servers(t, func(t *testing.T, url func(t *testing.T) string) {
		u := url(t)
		s := open(t, u)
		sid := stream()
		ev := eventlogtest.Event("FileSaved", `{"path":"a.ts"}`)
		ev.SchemaVersion = 3
		if _, err := s.Append(context.Background(), eventlog.Append{StreamID: sid, Expected: eventlog.NoStream(), Events: []eventlog.EventData{ev}}); err != nil {
			t.Fatal(err)
		}
		rs, err := rawClient(t, u).ReadStream(context.Background(), sid, esdbclient.ReadStreamOptions{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		got, err := rs.Recv()
		if err != nil {
			t.Fatal(err)
		}
		e := got.Event
		if ids.ID(e.EventID) != ev.ID || e.EventType != "FileSaved" || e.ContentType != "application/json" || string(e.Data) != `{"path":"a.ts"}` {
			t.Fatalf("stored event = id %s type %q content %q data %s", e.EventID, e.EventType, e.ContentType, e.Data)
		}
		var meta map[string]any
		if err := json.Unmarshal(e.UserMetadata, &meta); err != nil {
			t.Fatalf("metadata is not JSON: %s", e.UserMetadata)
		}
		if meta["schema_version"] != 3.0 || meta["user_id"] != "u-1" || meta["request_id"] != "req-1" || meta["received_at"] != "2026-11-27T10:00:00Z" {
			t.Fatalf("metadata = %s", e.UserMetadata)
		}
	})
}

func TestReadAll_HidesSystemEvents(t *testing.T) {
	servers(t, func(t *testing.T, url func(t *testing.T) string) {
		ctx := context.Background()
		u := url(t)
		s := open(t, u)
		head0, err := s.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Append(ctx, eventlog.Append{StreamID: stream(), Expected: eventlog.Any(), Events: one("A")})
		if err != nil {
			t.Fatal(err)
		}
		// The server writes system events of its own ($stats, $settings, projections);
		// here another writer plays the server.
		raw := rawClient(t, u)
		for _, sys := range []struct{ stream, typ string }{{"$stats-test", "$statsCollected"}, {"$devflow-test", "Whatever"}, {"plain-" + ids.New().String(), "$metadata"}} {
			if _, err := raw.AppendToStream(ctx, sys.stream, esdbclient.AppendToStreamOptions{}, esdbclient.EventData{EventType: sys.typ, ContentType: esdbclient.ContentTypeJson, Data: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ReadAll(ctx, head0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Type != "A" || got[0].Position != res[0].Position {
			t.Fatalf("ReadAll after head = %+v, want just the appended event at %v", got, res[0].Position)
		}
		head, err := s.Head(ctx)
		if err != nil || head != res[0].Position {
			t.Fatalf("Head = %v, %v; want the last devFlow event %v", head, err, res[0].Position)
		}
		if bl, err := s.Backlog(ctx, head0, head); err != nil || bl.Events != 1 {
			t.Fatalf("Backlog = %+v, %v; want 1 event", bl, err)
		}
		if _, err := s.Append(ctx, eventlog.Append{StreamID: "$mine", Expected: eventlog.Any(), Events: one("A")}); err == nil {
			t.Fatal("append to a $ stream succeeded")
		}
		if _, err := s.Append(ctx, eventlog.Append{StreamID: stream(), Expected: eventlog.Any(), Events: one("$A")}); err == nil {
			t.Fatal("append of a $ event type succeeded")
		}
	})
}

func TestAppend_MultiStreamConflictWritesNothing(t *testing.T) {
	servers(t, func(t *testing.T, url func(t *testing.T) string) {
		ctx := context.Background()
		s := open(t, url(t))
		taken := stream()
		if _, err := s.Append(ctx, eventlog.Append{StreamID: taken, Expected: eventlog.NoStream(), Events: one("A")}); err != nil {
			t.Fatal(err)
		}
		fresh := stream()
		_, err := s.Append(ctx,
			eventlog.Append{StreamID: fresh, Expected: eventlog.NoStream(), Events: one("B")},
			eventlog.Append{StreamID: taken, Expected: eventlog.NoStream(), Events: one("C")})
		var conflict *eventlog.ConflictError
		if !errors.As(err, &conflict) || conflict.StreamID != taken {
			t.Fatalf("err = %v, want a conflict on %s", err, taken)
		}
		if _, err := s.ReadStream(ctx, fresh, 0, 10); !errors.Is(err, eventlog.ErrStreamNotFound) {
			t.Fatalf("the first stream of a call that failed its check was written: %v", err)
		}
	})
}

// A call that failed after committing its first stream (another writer got in before
// the second) is retried whole: the first stream's events count as duplicates even
// though its expectation no longer holds, and the rest is written.
func TestAppend_RetryAfterPartialMultiStreamFailure(t *testing.T) {
	servers(t, func(t *testing.T, url func(t *testing.T) string) {
		ctx := context.Background()
		s := open(t, url(t))
		first, second := stream(), stream()
		a, b := one("A"), one("B")
		// What the failed call left behind: the first stream committed, nothing else.
		if _, err := s.Append(ctx, eventlog.Append{StreamID: first, Expected: eventlog.NoStream(), Events: a}); err != nil {
			t.Fatal(err)
		}
		res, err := s.Append(ctx,
			eventlog.Append{StreamID: first, Expected: eventlog.NoStream(), Events: a},
			eventlog.Append{StreamID: second, Expected: eventlog.NoStream(), Events: b})
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
		if res[0].Appended != 0 || res[0].Duplicates != 1 || res[1].Appended != 1 || res[1].Duplicates != 0 {
			t.Fatalf("retry results = %+v", res)
		}
		for _, sid := range []string{first, second} {
			if got, err := s.ReadStream(ctx, sid, 0, 10); err != nil || len(got) != 1 {
				t.Fatalf("stream %s holds %d events (%v), want 1", sid, len(got), err)
			}
		}
	})
}

// An append that loses a race (another writer appended between the adapter's check and
// its write) is decided again against the new revision.
func TestAppend_AnyAfterForeignWriteKeepsOrderAndDedupe(t *testing.T) {
	servers(t, func(t *testing.T, url func(t *testing.T) string) {
		ctx := context.Background()
		u := url(t)
		s := open(t, u)
		sid := stream()
		batch := one("A")
		if _, err := s.Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.Any(), Events: batch}); err != nil {
			t.Fatal(err)
		}
		if _, err := rawClient(t, u).AppendToStream(ctx, sid, esdbclient.AppendToStreamOptions{}, esdbclient.EventData{EventType: "X", ContentType: esdbclient.ContentTypeJson, Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		res, err := s.Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.Any(), Events: append(batch, one("B")...)})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Appended != 1 || res[0].Duplicates != 1 || res[0].NextExpected != eventlog.Exact(2) {
			t.Fatalf("result = %+v, want 1 appended, 1 duplicate, next exact 2", res[0])
		}
		head, err := s.Head(ctx)
		if err != nil || head != res[0].Position {
			t.Fatalf("head = %v, %v; append reported %v", head, err, res[0].Position)
		}
		got, err := s.ReadStream(ctx, sid, 0, 10)
		if err != nil || len(got) != 3 || got[2].Type != "B" {
			t.Fatalf("stream = %+v, %v; want A X B", got, err)
		}
	})
}

func TestNew_ErrorsDoNotLeakThePassword(t *testing.T) {
	_, err := esdb.New(context.Background(), "esdb://admin:s3cret@host:notaport?tls=false", slog.New(slog.DiscardHandler))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v", err)
	}
	_, err = esdb.New(context.Background(), "esdb://admin:s3cret@%zz", slog.New(slog.DiscardHandler))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v", err)
	}
}

// The double's idempotency rules are the server's: these run against both, so a run with
// ESDB_TEST_URL checks the double.
func TestServer_IdempotentRetriesAndPartialBatches(t *testing.T) {
	servers(t, func(t *testing.T, url func(t *testing.T) string) {
		ctx := context.Background()
		c := rawClient(t, url(t))
		sid := stream()
		ev := func() esdbclient.EventData {
			return esdbclient.EventData{EventID: [16]byte(ids.New()), EventType: "E", ContentType: esdbclient.ContentTypeJson, Data: []byte(`{}`)}
		}
		a, b, x := ev(), ev(), ev()
		first, err := c.AppendToStream(ctx, sid, esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.NoStream{}}, a, b)
		if err != nil {
			t.Fatal(err)
		}
		for name, expected := range map[string]esdbclient.ExpectedRevision{"no stream": esdbclient.NoStream{}, "any": esdbclient.Any{}} {
			again, err := c.AppendToStream(ctx, sid, esdbclient.AppendToStreamOptions{ExpectedRevision: expected}, a, b)
			if err != nil || again.NextExpectedVersion != first.NextExpectedVersion {
				t.Fatalf("identical retry (%s) = %+v, %v; want the first write's %+v", name, again, err, first)
			}
		}
		if _, err := c.AppendToStream(ctx, sid, esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.NoStream{}}, a, x); !isWrongExpected(err) {
			t.Fatalf("partly stored batch = %v, want wrong expected version", err)
		}
		if _, err := c.AppendToStream(ctx, sid, esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.Revision(0)}, x); !isWrongExpected(err) {
			t.Fatalf("stale revision with a new event = %v, want wrong expected version", err)
		}
		rs, err := c.ReadStream(ctx, sid, esdbclient.ReadStreamOptions{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		n := 0
		for {
			_, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 2 {
			t.Fatalf("stream holds %d events, want 2", n)
		}
	})
}

func isWrongExpected(err error) bool {
	var e *esdbclient.Error
	return errors.As(err, &e) && e.Code() == esdbclient.ErrorCodeWrongExpectedVersion
}

// The contract's wait test tolerates spurious wake-ups; this one fails if the $all
// subscription does not deliver: the second waiter's own timeout is a minute.
func TestWaitForAppend_WakesOnAppendThroughTheSubscription(t *testing.T) {
	servers(t, func(t *testing.T, url func(t *testing.T) string) {
		ctx := context.Background()
		s := open(t, url(t))
		// Starts the subscription; returns on its first (catch-all) wake-up.
		if err := s.WaitForAppend(ctx, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		woke := make(chan error, 1)
		go func() { woke <- s.WaitForAppend(ctx, time.Minute) }()
		if _, err := s.Append(ctx, eventlog.Append{StreamID: stream(), Expected: eventlog.Any(), Events: one("A")}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-woke:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("WaitForAppend did not wake up on an append")
		}
	})
}

func TestNew_GivesUpWithItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// A port nobody listens on: the client would retry discovery for far longer.
	stopped, err := esdbtest.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stopped.Close()
	if _, err := esdb.New(ctx, stopped.URL(), slog.New(slog.DiscardHandler)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}
