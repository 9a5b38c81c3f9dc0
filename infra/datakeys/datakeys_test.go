package datakeys_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/datakeys"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func newKey(t testing.TB) datakeys.MasterKey {
	t.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	k, err := datakeys.ParseMasterKey(base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func event(user ids.ID, marker string) eventlog.EventData {
	return eventlog.EventData{ID: ids.New(), Type: "FileSaved", SchemaVersion: 1,
		Data: []byte(`{"machine_timestamp":"2026-11-27T10:15:02.118Z","event":{"path":"` + marker + `"}}`), Metadata: eventlog.Metadata{UserID: user.String()}}
}

// appendAndRead appends one event of user through an encrypting store and reads the
// stream back through store.
func appendEvents(t *testing.T, store *postgres.EventStore, events ...eventlog.EventData) {
	t.Helper()
	for _, e := range events {
		if _, err := store.Append(context.Background(), eventlog.Append{StreamID: "test-" + e.ID.String(), Expected: eventlog.NoStream(), Events: []eventlog.EventData{e}}); err != nil {
			t.Fatal(err)
		}
	}
}

func readPayload(t *testing.T, store *postgres.EventStore, e eventlog.EventData) eventlog.Envelope {
	t.Helper()
	envs, err := store.ReadStream(context.Background(), "test-"+e.ID.String(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	return envs[0]
}

func rawCount(t *testing.T, pool *pgxpool.Pool, marker string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE strpos(data::text, $1) > 0`, marker).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRotate_ReWrapsKeysAndEventsStillRead(t *testing.T) {
	pool := testdb.Pool(t)
	ctx := context.Background()
	oldKey, newKey := newKey(t), newKey(t)
	store := postgres.NewEventStore(pool).EncryptWith(datakeys.NewKeyring(pool, oldKey))
	user := ids.New()
	e := event(user, "rotate-marker")
	appendEvents(t, store, e)
	if rawCount(t, pool, "rotate-marker") != 0 {
		t.Fatal("the payload is stored in plaintext")
	}

	n, err := datakeys.NewKeyring(pool, oldKey).Rotate(ctx, newKey)
	if err != nil || n != 1 {
		t.Fatalf("rotate: %d keys, %v", n, err)
	}
	if err := datakeys.NewKeyring(pool, oldKey).Check(ctx); err == nil {
		t.Fatal("the old master key passes the start-up check after rotation")
	}
	rotated := datakeys.NewKeyring(pool, newKey)
	if err := rotated.Check(ctx); err != nil {
		t.Fatalf("new key: %v", err)
	}
	if got := readPayload(t, postgres.NewEventStore(pool).EncryptWith(rotated), e); string(got.Data) != string(e.Data) {
		t.Fatalf("after rotation the event reads %s", got.Data)
	}
	if n, err := rotated.Rotate(ctx, newKey); err != nil || n != 0 {
		t.Fatalf("a second rotation to the same key: %d keys, %v", n, err)
	}
}

func TestErasedUser_EventsReadAsErasedAndNoKeyIsMadeAgain(t *testing.T) {
	pool := testdb.Pool(t)
	ctx := context.Background()
	k := datakeys.NewKeyring(pool, newKey(t))
	store := postgres.NewEventStore(pool).EncryptWith(k)
	alice, bob := ids.New(), ids.New()
	ea, eb := event(alice, "a"), event(bob, "b")
	appendEvents(t, store, ea, eb)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := datakeys.Destroy(ctx, tx, alice, ea.Metadata.ReceivedAt); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	k.Forget(alice)
	if got := readPayload(t, store, ea); !got.Erased || got.Data != nil {
		t.Fatalf("alice's event after erasure: erased=%v data=%s", got.Erased, got.Data)
	}
	if got := readPayload(t, store, eb); got.Erased || string(got.Data) != string(eb.Data) {
		t.Fatalf("bob's event after alice's erasure: %+v", got)
	}
	if _, err := k.Seal(ctx, event(alice, "again")); err == nil || !strings.Contains(err.Error(), "erased") {
		t.Fatalf("sealing for an erased user: %v", err)
	}
	// The UserErased fact stays clear.
	fact, _ := accounts.Encode(accounts.UserErased{UserID: alice})
	if data, err := k.Seal(ctx, fact); err != nil || datakeys.IsSealed(data) {
		t.Fatalf("UserErased sealed: %s %v", data, err)
	}
}

func TestEncryptLog_EncryptsOldPlaintextInPlaceAndResumes(t *testing.T) {
	pool := testdb.Pool(t)
	ctx := context.Background()
	plain := postgres.NewEventStore(pool)
	users := []ids.ID{ids.New(), ids.New()}
	var events []eventlog.EventData
	for i := range 5 {
		events = append(events, event(users[i%2], "old-marker"))
	}
	appendEvents(t, plain, events...)
	k := datakeys.NewKeyring(pool, newKey(t))
	reader := postgres.NewEventStore(pool).EncryptWith(k)
	// Readers take plaintext meanwhile.
	if got := readPayload(t, reader, events[0]); string(got.Data) != string(events[0].Data) {
		t.Fatalf("plaintext read through the keyring: %s", got.Data)
	}
	var reported int64
	n, err := k.EncryptLog(ctx, func(done, total int64) { reported = done })
	if err != nil || n != 5 || reported != 5 {
		t.Fatalf("encrypt: %d events (reported %d), %v", n, reported, err)
	}
	if c := rawCount(t, pool, "old-marker"); c != 0 {
		t.Fatalf("%d events still plaintext", c)
	}
	for _, e := range events {
		if got := readPayload(t, reader, e); string(got.Data) != string(e.Data) {
			t.Fatalf("event %s reads %s after encryption", e.ID, got.Data)
		}
	}
	if n, err := k.EncryptLog(ctx, nil); err != nil || n != 0 {
		t.Fatalf("a second run: %d events, %v", n, err)
	}
}

// BenchmarkSealOpen is the per-event cost of encryption (on append) and decryption (on
// read) of a telemetry-sized payload with a cached key.
func BenchmarkSealOpen(b *testing.B) {
	pool := testdb.Pool(b)
	ctx := context.Background()
	k := datakeys.NewKeyring(pool, newKey(b))
	e := event(ids.New(), strings.Repeat("src/components/Widget.tsx", 8))
	sealed, err := k.Seal(ctx, e)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.Seal(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			env := eventlog.Envelope{ID: e.ID, Data: sealed, Metadata: e.Metadata}
			if err := k.Open(ctx, &env); err != nil {
				b.Fatal(err)
			}
		}
	})
}
