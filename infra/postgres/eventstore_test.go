package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/eventlog/eventlogtest"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func TestEventStoreContract(t *testing.T) {
	eventlogtest.Run(t, func(t *testing.T) eventlog.Store {
		store := postgres.NewEventStore(testdb.Pool(t))
		t.Cleanup(store.Close)
		return store
	})
}

func TestAppend_MultiStreamIsAtomic(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewEventStore(testdb.Pool(t))
	taken := "s-" + ids.New().String()
	if _, err := store.Append(ctx, eventlog.Append{StreamID: taken, Expected: eventlog.NoStream(), Events: []eventlog.EventData{eventlogtest.Event("A", `{}`)}}); err != nil {
		t.Fatal(err)
	}
	fresh := "s-" + ids.New().String()
	_, err := store.Append(ctx,
		eventlog.Append{StreamID: fresh, Expected: eventlog.NoStream(), Events: []eventlog.EventData{eventlogtest.Event("B", `{}`)}},
		eventlog.Append{StreamID: taken, Expected: eventlog.NoStream(), Events: []eventlog.EventData{eventlogtest.Event("C", `{}`)}})
	if err == nil {
		t.Fatal("append with a conflicting stream succeeded")
	}
	if _, err := store.ReadStream(ctx, fresh, 0, 10); err != eventlog.ErrStreamNotFound {
		t.Fatalf("the other stream of a failed call was written: %v", err)
	}
}

// TestReadAll_GapSafeUnderConcurrentWriters has writers whose transactions overlap in
// every order (long ones take early positions and commit late) while a follower reads
// the log the way projections do. The follower must see every event exactly once.
func TestReadAll_GapSafeUnderConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Pool(t)
	store := postgres.NewEventStore(pool)
	t.Cleanup(store.Close)

	const writers, perWriter, perBatch = 8, 1280, 40 // 10,240 events
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for b := 0; b < perWriter/perBatch; b++ {
				events := make([]eventlog.EventData, perBatch)
				for i := range events {
					events[i] = eventlogtest.Event("E", fmt.Sprintf(`{"w":%d,"b":%d,"i":%d}`, w, b, i))
				}
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					if _, err := store.AppendTx(ctx, tx, eventlog.Append{StreamID: fmt.Sprintf("w-%d", w), Expected: eventlog.Any(), Events: events}); err != nil {
						return err
					}
					// Every third batch holds its positions a while before committing.
					if rng.IntN(3) == 0 {
						time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
					}
					return nil
				})
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}()
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()

	seen := map[ids.ID]int{}
	pos := eventlog.Start
	finished := false
	deadline := time.After(2 * time.Minute)
	for {
		page, err := store.ReadAll(ctx, pos, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if !pos.Less(e.Position) {
				t.Fatalf("position went backwards: %v after %v", e.Position, pos)
			}
			pos = e.Position
			seen[e.ID]++
		}
		if len(page) > 0 {
			continue
		}
		if finished && len(seen) >= writers*perWriter {
			break
		}
		select {
		case <-writersDone:
			finished = true
		case <-deadline:
			t.Fatalf("follower saw %d of %d events within two minutes", len(seen), writers*perWriter)
		default:
			_ = store.WaitForAppend(ctx, 20*time.Millisecond)
		}
	}
	if len(seen) != writers*perWriter {
		t.Fatalf("follower saw %d distinct events, want %d", len(seen), writers*perWriter)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %s seen %d times", id, n)
		}
	}
}

func TestAppend_SameStreamTwiceInOneCall(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewEventStore(testdb.Pool(t))
	sid := "s-" + ids.New().String()
	res, err := store.Append(ctx,
		eventlog.Append{StreamID: sid, Expected: eventlog.NoStream(), Events: []eventlog.EventData{eventlogtest.Event("A", `{}`), eventlogtest.Event("B", `{}`)}},
		eventlog.Append{StreamID: sid, Expected: eventlog.Exact(1), Events: []eventlog.EventData{eventlogtest.Event("C", `{}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if res[1].NextExpected != eventlog.Exact(2) {
		t.Fatalf("second part's next expected = %v, want exact 2", res[1].NextExpected)
	}
	// The stream's recorded version must be the last one, or this append would collide.
	if _, err := store.Append(ctx, eventlog.Append{StreamID: sid, Expected: eventlog.Exact(2), Events: []eventlog.EventData{eventlogtest.Event("D", `{}`)}}); err != nil {
		t.Fatalf("append after a two-part call: %v", err)
	}
	got, err := store.ReadStream(ctx, sid, 0, 10)
	if err != nil || len(got) != 4 {
		t.Fatalf("stream holds %d events (%v), want 4", len(got), err)
	}
}

// TestWaitForAppend_ListenerDoesNotHoldThePool: a pool closes even while the store's
// listener is waiting (its connection is the store's own, not a pooled one).
func TestWaitForAppend_ListenerDoesNotHoldThePool(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.NewPool(ctx, testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewEventStore(pool)
	if err := store.WaitForAppend(ctx, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { pool.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("pool.Close blocked behind the event store's listener")
	}
	store.Close()
}
