package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/eventlog/eventlogtest"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
)

// onePool is a pool of a single connection, so that a test sees whether an append
// left that connection usable.
func onePool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func events(n int, typ string) []eventlog.EventData {
	out := make([]eventlog.EventData, n)
	for i := range out {
		out[i] = eventlogtest.Event(typ, fmt.Sprintf(`{"i":%d}`, i))
	}
	return out
}

// wantGapless checks that stream holds exactly want events, versions 0..want-1, and
// that the streams table agrees.
func wantGapless(t *testing.T, pool *pgxpool.Pool, store *postgres.EventStore, stream string, want int) []eventlog.Envelope {
	t.Helper()
	got, err := store.ReadStream(context.Background(), stream, 0, want+10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != want {
		t.Fatalf("stream holds %d events, want %d", len(got), want)
	}
	for i, e := range got {
		if e.StreamVersion != uint64(i) {
			t.Fatalf("event %d has version %d", i, e.StreamVersion)
		}
	}
	var version int64
	if err := pool.QueryRow(context.Background(), `SELECT version FROM streams WHERE stream_id = $1`, stream).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != int64(want-1) {
		t.Fatalf("streams table says version %d, want %d", version, want-1)
	}
	return got
}

// Two replicas take turns writing one stream (a load balancer spreading an
// extension's batches): each one's remembered version is stale on every turn, and the
// append must notice and still number the events without gaps.
func TestAppend_ReplicasTakingTurnsOnOneStream(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Pool(t)
	a, b := postgres.NewEventStore(pool), postgres.NewEventStore(pool)
	sid := "s-" + ids.New().String()
	for turn := 0; turn < 10; turn++ {
		store := a
		if turn%2 == 1 {
			store = b
		}
		res, err := store.Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.Any(), Events: events(3, "E")})
		if err != nil {
			t.Fatalf("turn %d: %v", turn, err)
		}
		if res[0].Appended != 3 || res[0].NextExpected != eventlog.Exact(uint64(turn*3+2)) {
			t.Fatalf("turn %d: result %+v", turn, res[0])
		}
	}
	wantGapless(t, pool, a, sid, 30)
}

// Replicas racing on one stream with ExpectAny all succeed; racing to create it, one
// wins and the others get a conflict naming the stream's real version.
func TestAppend_ReplicasRacing(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Pool(t)
	stores := []*postgres.EventStore{postgres.NewEventStore(pool), postgres.NewEventStore(pool), postgres.NewEventStore(pool)}
	sid := "s-" + ids.New().String()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 9; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := stores[i%3].Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.NoStream(), Events: events(2, "Start")})
			var conflict *eventlog.ConflictError
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case errors.As(err, &conflict):
				if conflict.Actual != eventlog.Exact(1) {
					t.Errorf("conflict reports %v, want exact 1", conflict.Actual)
				}
			default:
				t.Errorf("create: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d creators won, want 1", wins)
	}
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := stores[i%3].Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.Any(), Events: events(5, "E")}); err != nil {
				t.Errorf("append: %v", err)
			}
		}()
	}
	wg.Wait()
	wantGapless(t, pool, stores[0], sid, 2+30*5)
}

// A resend through the one-round-trip path (the store remembers the stream) fails on
// the unique event id, is redone with a probe, and stores nothing twice; the single
// connection is usable throughout.
func TestAppend_ResendAfterRememberedVersion(t *testing.T) {
	ctx := context.Background()
	pool := onePool(t)
	store := postgres.NewEventStore(pool)
	sid := "s-" + ids.New().String()
	first, second := events(4, "A"), events(4, "B")
	for _, batch := range [][]eventlog.EventData{first, second} {
		if _, err := store.Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.Any(), Events: batch}); err != nil {
			t.Fatal(err)
		}
	}
	mixed := append(append([]eventlog.EventData{}, second...), eventlogtest.Event("C", `{}`))
	res, err := store.Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.Any(), Events: mixed})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Appended != 1 || res[0].Duplicates != 4 || res[0].NextExpected != eventlog.Exact(8) {
		t.Fatalf("resend result %+v, want 1 appended, 4 duplicates, next exact 8", res[0])
	}
	wantGapless(t, pool, store, sid, 9)
}

// A stale assumption about an exact version is a conflict with the real version, and
// the connection stays usable.
func TestAppend_ExactExpectationMissed(t *testing.T) {
	ctx := context.Background()
	pool := onePool(t)
	store := postgres.NewEventStore(pool)
	sid := "s-" + ids.New().String()
	if _, err := store.Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.NoStream(), Events: events(3, "A")}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []eventlog.Expected{eventlog.Exact(0), eventlog.Exact(7), eventlog.NoStream()} {
		_, err := store.Append(ctx, eventlog.Append{StreamID: sid, Expected: want, Events: events(1, "B")})
		var conflict *eventlog.ConflictError
		if !errors.As(err, &conflict) || conflict.Actual != eventlog.Exact(2) {
			t.Fatalf("expecting %v: err = %v, want a conflict at exact 2", want, err)
		}
	}
	if _, err := store.Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.Exact(2), Events: events(1, "C")}); err != nil {
		t.Fatal(err)
	}
	wantGapless(t, pool, store, sid, 4)
}

// Rows of every size cross the hand-written binary COPY intact: a batch spanning many
// CopyData messages, a single event larger than one message, and text beyond ASCII.
func TestAppend_BinaryCopyRoundTrip(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Pool(t)
	store := postgres.NewEventStore(pool)
	sid := "s-ünïcødé-" + ids.New().String()
	big := eventlogtest.Event("Big", fmt.Sprintf(`{"text":%q}`, strings.Repeat("€ščř🙂", 40_000)))
	batch := append(events(3000, "Typé"), big)
	batch[7].Data = nil // stored as {}
	batch[8].Metadata = eventlog.Metadata{UserID: "u-2", RequestID: "ré-2"}
	res, err := store.Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.NoStream(), Events: batch})
	if err != nil {
		t.Fatal(err)
	}
	got := wantGapless(t, pool, store, sid, len(batch))
	for i, e := range got {
		want := batch[i]
		if e.ID != want.ID || e.Type != want.Type || e.SchemaVersion != want.SchemaVersion || e.StreamID != sid || e.Metadata != want.Metadata {
			t.Fatalf("event %d read back as %+v, want %+v", i, e, want)
		}
		wantData := want.Data
		if wantData == nil {
			wantData = json.RawMessage("{}")
		}
		if string(e.Data) != string(wantData) {
			t.Fatalf("event %d data differs (%d bytes read, %d written)", i, len(e.Data), len(wantData))
		}
	}
	if res[0].Position != got[len(got)-1].Position {
		t.Fatalf("append reported position %v, last event is at %v", res[0].Position, got[len(got)-1].Position)
	}
}

// An append cancelled while its rows are on the way writes all or nothing (when the
// cancellation comes after the commit was sent, the append may have committed though
// it reports the cancellation, as with any database call), and the pool goes on
// working.
func TestAppend_CancelledMidWrite(t *testing.T) {
	pool := onePool(t)
	store := postgres.NewEventStore(pool)
	failed := 0
	for attempt := 0; attempt < 20; attempt++ {
		sid := "s-" + ids.New().String()
		batch := events(5000, "E")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := store.Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.NoStream(), Events: batch})
			done <- err
		}()
		// From before the connection is taken to after the commit.
		time.Sleep(time.Duration(attempt) * time.Duration(attempt) * 300 * time.Microsecond)
		cancel()
		err := <-done
		if err != nil {
			failed++
		}
		var stored int
		if qerr := pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE stream_id = $1`, sid).Scan(&stored); qerr != nil {
			t.Fatal(qerr)
		}
		if stored != 0 && stored != len(batch) || err == nil && stored == 0 {
			t.Fatalf("attempt %d: append returned %v and the stream holds %d of %d events", attempt, err, stored, len(batch))
		}
		if _, err := store.Append(context.Background(), eventlog.Append{StreamID: sid + "-after", Expected: eventlog.NoStream(), Events: events(2, "E")}); err != nil {
			t.Fatalf("attempt %d: append after a cancelled one: %v", attempt, err)
		}
	}
	t.Logf("%d of 20 appends were cancelled", failed)
}
