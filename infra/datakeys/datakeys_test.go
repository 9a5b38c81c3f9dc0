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

// rawCount counts the events whose stored bytes, in either payload column, hold marker.
func rawCount(t *testing.T, pool *pgxpool.Pool, marker string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM events
		WHERE strpos(data::text, $1) > 0 OR position(convert_to($1, 'UTF8') IN sealed) > 0`, marker).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// storedForms counts the events stored in the sealed column (with the placeholder in
// data) and those whose data column holds the JSON form of encryption.
func storedForms(t *testing.T, pool *pgxpool.Pool) (binary, jsonForm int) {
	t.Helper()
	if err := pool.QueryRow(context.Background(), `SELECT
		count(*) FILTER (WHERE sealed IS NOT NULL AND data::text = $1 AND substring(sealed FOR 1) = $2),
		count(*) FILTER (WHERE sealed IS NULL AND left(data::text, $4) = $3) FROM events`,
		datakeys.SealedData, []byte{datakeys.SealedForm}, datakeys.SealedJSONPrefix, len(datakeys.SealedJSONPrefix)).Scan(&binary, &jsonForm); err != nil {
		t.Fatal(err)
	}
	return binary, jsonForm
}

// An append through the encrypting store goes to the sealed column, with no base64 or
// JSON around it, and reads back as sent; a raw search finds none of it.
func TestAppend_StoresTheSealedFormInTheSealedColumn(t *testing.T) {
	pool := testdb.Pool(t)
	store := postgres.NewEventStore(pool).EncryptWith(datakeys.NewKeyring(pool, newKey(t)))
	e := event(ids.New(), "sealed-column-marker")
	appendEvents(t, store, e)
	if binary, jsonForm := storedForms(t, pool); binary != 1 || jsonForm != 0 {
		t.Fatalf("%d events in the sealed column, %d in the JSON form", binary, jsonForm)
	}
	var size int
	if err := pool.QueryRow(context.Background(), `SELECT octet_length(sealed) FROM events`).Scan(&size); err != nil {
		t.Fatal(err)
	}
	if want := len(e.Data) + 1 + 4 + 12 + 16; size != want {
		t.Fatalf("sealed payload of %d bytes, want %d (header, nonce, ciphertext, tag)", size, want)
	}
	if rawCount(t, pool, "sealed-column-marker") != 0 {
		t.Fatal("the payload is stored in plaintext")
	}
	if got := readPayload(t, store, e); string(got.Data) != string(e.Data) {
		t.Fatalf("read back %s", got.Data)
	}
}

// A store that takes JSON only (EventStoreDB; here a plain Postgres store stands in)
// is given the JSON form, and reads it back through the wrapper.
func TestEncryptingStore_WritesTheJSONForm(t *testing.T) {
	pool := testdb.Pool(t)
	ctx := context.Background()
	store := datakeys.Encrypting(postgres.NewEventStore(pool), datakeys.NewKeyring(pool, newKey(t)))
	e := event(ids.New(), "json-form-marker")
	if _, err := store.Append(ctx, eventlog.Append{StreamID: "test-" + e.ID.String(), Expected: eventlog.NoStream(), Events: []eventlog.EventData{e}}); err != nil {
		t.Fatal(err)
	}
	if binary, jsonForm := storedForms(t, pool); binary != 0 || jsonForm != 1 || rawCount(t, pool, "json-form-marker") != 0 {
		t.Fatalf("%d events in the sealed column, %d in the JSON form", binary, jsonForm)
	}
	envs, err := store.ReadStream(ctx, "test-"+e.ID.String(), 0, 1)
	if err != nil || len(envs) != 1 || string(envs[0].Data) != string(e.Data) {
		t.Fatalf("read back %v: %v", envs, err)
	}
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

// A log of three ages: plaintext (before encryption), the JSON form (before migration
// 00014, here of a user erased since), the sealed column. EncryptLog moves the first two
// to the sealed column, resumably, and everything reads as before.
func TestEncryptLog_MovesPlaintextAndTheJSONFormToTheSealedColumn(t *testing.T) {
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
	// The JSON form, as stored before 00014: one event of a user who is erased later,
	// one of a user who is not.
	erased, kept := ids.New(), ids.New()
	var old []eventlog.EventData
	for _, user := range []ids.ID{erased, kept} {
		e := event(user, "json-marker")
		sealed, err := k.Seal(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		stored := e
		if stored.Data, err = datakeys.AsJSON(sealed); err != nil {
			t.Fatal(err)
		}
		appendEvents(t, plain, stored)
		old = append(old, e)
	}
	if got := readPayload(t, reader, old[1]); string(got.Data) != string(old[1].Data) {
		t.Fatalf("the JSON form reads %s", got.Data)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := datakeys.Destroy(ctx, tx, erased, old[0].Metadata.ReceivedAt); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	k.Forget(erased)

	var reported, total int64
	n, err := k.EncryptLog(ctx, func(done, all int64) { reported, total = done, all })
	if err != nil || n != 7 || reported != 7 || total != 7 {
		t.Fatalf("encrypt: %d events (reported %d of %d), %v", n, reported, total, err)
	}
	if binary, jsonForm := storedForms(t, pool); binary != 7 || jsonForm != 0 {
		t.Fatalf("after encrypt: %d events in the sealed column, %d in the JSON form", binary, jsonForm)
	}
	if c := rawCount(t, pool, "old-marker") + rawCount(t, pool, "json-marker"); c != 0 {
		t.Fatalf("%d events still plaintext", c)
	}
	for _, e := range append(events, old[1]) {
		if got := readPayload(t, reader, e); string(got.Data) != string(e.Data) {
			t.Fatalf("event %s reads %s after encryption", e.ID, got.Data)
		}
	}
	if got := readPayload(t, reader, old[0]); !got.Erased || got.Data != nil {
		t.Fatalf("the erased user's event moved to the sealed column: erased=%v data=%s", got.Erased, got.Data)
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
		stored := make([]byte, len(sealed))
		for b.Loop() {
			// Open decrypts in place: every read starts from the stored bytes.
			copy(stored, sealed)
			env := eventlog.Envelope{ID: e.ID, Data: stored, Metadata: e.Metadata}
			if err := k.Open(ctx, &env); err != nil {
				b.Fatal(err)
			}
		}
	})
}
