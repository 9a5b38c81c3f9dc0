package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/datakeys"
	"github.com/devflow/backend/infra/postgres"
)

// userWithHistory adds a user and one encrypted event of theirs, whose payload holds
// marker, to the database at url (encryptedDB's).
func userWithHistory(t *testing.T, url, master, marker string) ids.ID {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	user := ids.New()
	if _, err := pool.Exec(ctx, `INSERT INTO users (id, username, email, provider, provider_user_id) VALUES ($1, $2, $2, 'password', $2)`,
		user, user.String()+"@example.com"); err != nil {
		t.Fatal(err)
	}
	key, err := datakeys.ParseMasterKey(master)
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewEventStore(pool).EncryptWith(datakeys.NewKeyring(pool, key))
	e := eventlog.EventData{ID: ids.New(), Type: "FileSaved", SchemaVersion: 1,
		Data: []byte(`{"machine_timestamp":"2026-11-27T10:15:02.118Z","event":{"path":"` + marker + `"}}`), Metadata: eventlog.Metadata{UserID: user.String()}}
	if _, err := store.Append(ctx, eventlog.Append{StreamID: "session-" + ids.New().String(), Expected: eventlog.NoStream(), Events: []eventlog.EventData{e}}); err != nil {
		t.Fatal(err)
	}
	return user
}

// TestUsersErase_VerifyFailsBeforeAndPassesAfter: verify-erased exits 1 while the user
// is there and 0 once `users erase` has run.
func TestUsersErase_VerifyFailsBeforeAndPassesAfter(t *testing.T) {
	t.Parallel()
	url := encryptedDB(t, firstDataKey)
	user := userWithHistory(t, url, firstDataKey, "cli-marker")
	env := environ("DATABASE_URL="+url, "DATA_KEY="+firstDataKey)
	stdout, stderr, code := run(t, t.TempDir(), env, "users", "verify-erased", user.String())
	if code != 1 || !strings.Contains(stdout, "the account still exists") || !strings.Contains(stdout, "data keys remain") {
		t.Fatalf("verify-erased of a live user: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stderr, code := run(t, t.TempDir(), env, "users", "erase", user.String()); code != 0 {
		t.Fatalf("erase: exit %d: %s", code, stderr)
	}
	stdout, stderr, code = run(t, t.TempDir(), env, "users", "verify-erased", user.String())
	if code != 0 || !strings.Contains(stdout, `"problems": []`) {
		t.Fatalf("verify-erased after erase: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stderr, code := run(t, t.TempDir(), env, "users", "erase", ids.New().String()); code != 1 || !strings.Contains(stderr, "not found") {
		t.Fatalf("erase of an unknown user: exit %d: %s", code, stderr)
	}
}

// TestKeysRotate_TheNewKeyStartsAndTheOldOneNoLonger: after `keys rotate`, commands
// run with the new key and refuse the old one.
func TestKeysRotate_TheNewKeyStartsAndTheOldOneNoLonger(t *testing.T) {
	t.Parallel()
	url := encryptedDB(t, firstDataKey)
	user := userWithHistory(t, url, firstDataKey, "rotate-marker")
	file := filepath.Join(t.TempDir(), "new.key")
	if err := os.WriteFile(file, []byte(secondDataKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, t.TempDir(), environ("DATABASE_URL="+url, "DATA_KEY="+firstDataKey), "keys", "rotate", "--new-key-file", file); code != 0 || !strings.Contains(stderr, "re-wrapped 2 data keys") {
		t.Fatalf("rotate: exit %d: %s", code, stderr)
	}
	if _, stderr, code := run(t, t.TempDir(), environ("DATABASE_URL="+url, "DATA_KEY="+firstDataKey), "users", "verify-erased", user.String()); code != 1 || !strings.Contains(stderr, "not the one the data keys were wrapped with") {
		t.Fatalf("old key after rotation: exit %d: %s", code, stderr)
	}
	if stdout, stderr, code := run(t, t.TempDir(), environ("DATABASE_URL="+url, "DATA_KEY_FILE="+file), "users", "verify-erased", user.String()); code != 1 || !strings.Contains(stdout, "data keys remain") {
		t.Fatalf("new key after rotation: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestVerifyErased_ReadsTheSealedColumn: verify-erased looks at the sealed column too:
// bytes there that are not the sealed form, or that name the user, fail it.
func TestVerifyErased_ReadsTheSealedColumn(t *testing.T) {
	t.Parallel()
	url := encryptedDB(t, firstDataKey)
	user := userWithHistory(t, url, firstDataKey, "tamper-marker")
	env := environ("DATABASE_URL="+url, "DATA_KEY="+firstDataKey)
	if _, stderr, code := run(t, t.TempDir(), env, "users", "erase", user.String()); code != 0 {
		t.Fatalf("erase: exit %d: %s", code, stderr)
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// A payload in clear where the ciphertext belongs.
	tag, err := pool.Exec(context.Background(), `UPDATE events SET sealed = convert_to('{"user":"' || $1::text || '"}', 'UTF8')
		WHERE metadata->>'user_id' = $1::text AND sealed IS NOT NULL`, user)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("tamper: %v rows, %v", tag.RowsAffected(), err)
	}
	stdout, stderr, code := run(t, t.TempDir(), env, "users", "verify-erased", user.String())
	if code != 1 || !strings.Contains(stdout, "in the sealed column are not in the sealed form") || !strings.Contains(stdout, "name this user") {
		t.Fatalf("verify-erased with a clear payload in the sealed column: exit %d\n%s%s", code, stdout, stderr)
	}
}
