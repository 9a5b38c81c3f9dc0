package datakeys

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
)

// Keyring holds the master key and caches the users' data keys, unwrapped and made into
// their cipher.AEAD once, so that sealing and opening an event costs a map lookup and
// the cipher, and the database is asked once per user per cacheTTL. The cache is a plain
// map under an RWMutex: every event reads it (from any goroutine: appends, the
// projections' OpenAll), a write is rare (a load); it is bounded by clearing it when
// full, cheaper than keeping an eviction order on every read, and a cleared user costs
// one load.
type Keyring struct {
	pool   *pgxpool.Pool
	master MasterKey

	mu   sync.RWMutex
	keys map[ids.ID]*userKeys
}

// userKeys are one user's data keys as cached: every version by number, the newest one
// for sealing, or erased.
type userKeys struct {
	versions map[int]cipher.AEAD
	current  int
	erased   bool
	loaded   time.Time
}

// cacheTTL bounds how long a replica trusts a cached key: after an erasure elsewhere,
// this replica stops decrypting that user's events within it.
const cacheTTL = time.Minute

const maxCachedUsers = 1 << 16

// ErrUserErased is an append for a user whose data was erased: no key is made again.
// It is accounts.ErrUserNotFound to callers (the user is gone).
var ErrUserErased = fmt.Errorf("user erased: %w", accounts.ErrUserNotFound)

// NewKeyring builds the keyring on pool.
func NewKeyring(pool *pgxpool.Pool, master MasterKey) *Keyring {
	return &Keyring{pool: pool, master: master, keys: map[ids.ID]*userKeys{}}
}

// MasterKeyID names the master key in use.
func (k *Keyring) MasterKeyID() string { return k.master.ID }

// Encrypted says whether an event's payload is stored encrypted: every event that
// belongs to a user (metadata user id) except the UserErased fact, which must stay
// readable after the key is gone and carries no personal data.
func Encrypted(userID, eventType string) bool {
	return userID != "" && eventType != accounts.TypeUserErased
}

// The sealed form of a payload, as the events table's sealed column (bytea) holds it:
// no base64 and no JSON around it, so sealing and opening cost the cipher and little
// else.
//
//	byte 0      SealedForm
//	bytes 1-4   the data key's version, big-endian
//	bytes 5-16  the nonce
//	the rest    ciphertext and tag (the event id is the associated data: a ciphertext
//	            cannot be moved to another event)
const (
	// SealedForm starts the sealed form. No JSON text starts with byte 2, so a payload
	// read back tells sealed from plaintext by its first byte (form 1 was the JSON form).
	SealedForm   byte = 2
	nonceSize         = 12
	sealedHeader      = 1 + 4 + nonceSize
)

// SealedJSONPrefix starts a payload in the JSON form of encryption:
// {"enc":"v1","k":version,"n":base64 nonce,"c":base64 ciphertext}. Rows written before
// migration 00014 hold it in the data column until `eventlog encrypt` moves them to the
// sealed column, and an event store that takes only JSON (EventStoreDB) is given it. No
// plaintext payload starts with it (telemetry payloads start with "machine_timestamp",
// the others are Go structs).
const SealedJSONPrefix = `{"enc":"v1",`

// SealedData is what the json data column holds for a row whose payload is in the
// sealed column (data stays NOT NULL). Readers go by the sealed column, not by this.
const SealedData = `{"enc":"sealed"}`

// IsBinary says whether a payload is in the sealed form (Seal's result), which goes to
// the events table's sealed column.
func IsBinary(data []byte) bool { return len(data) > 0 && data[0] == SealedForm }

// IsSealed says whether a payload read back is encrypted, in either form.
func IsSealed(data []byte) bool {
	return IsBinary(data) || bytes.HasPrefix(data, []byte(SealedJSONPrefix))
}

// sealed is an encrypted payload taken apart.
type sealed struct {
	keyVersion        int
	nonce, ciphertext []byte
}

// Seal returns the payload of e as it is stored: in the sealed form, encrypted with its
// user's data key, when Encrypted says so (the key is made on the user's first event),
// else as it is.
func (k *Keyring) Seal(ctx context.Context, e eventlog.EventData) ([]byte, error) {
	if !Encrypted(e.Metadata.UserID, e.Type) {
		return e.Data, nil
	}
	user, err := ids.Parse(e.Metadata.UserID)
	if err != nil {
		return nil, fmt.Errorf("event %s: metadata user id %q: %w", e.ID, e.Metadata.UserID, err)
	}
	keys, err := k.userKeys(ctx, user, true)
	if err != nil {
		return nil, err
	}
	if keys.erased {
		return nil, ErrUserErased
	}
	return sealWith(keys.versions[keys.current], keys.current, e.ID, e.Data), nil
}

// sealWith encrypts plain into one allocation of exactly the sealed form's size: the
// header is written first and the AEAD appends the ciphertext to it.
func sealWith(aead cipher.AEAD, version int, eventID ids.ID, plain []byte) []byte {
	out := make([]byte, sealedHeader, sealedHeader+len(plain)+aead.Overhead())
	out[0] = SealedForm
	binary.BigEndian.PutUint32(out[1:5], uint32(version))
	nonce := out[5:sealedHeader]
	rand.Read(nonce)
	return aead.Seal(out, nonce, plain, eventID[:])
}

// parseBinary takes the sealed form apart; its slices share data's memory.
func parseBinary(data []byte) (sealed, bool) {
	if len(data) < sealedHeader || data[0] != SealedForm {
		return sealed{}, false
	}
	return sealed{keyVersion: int(binary.BigEndian.Uint32(data[1:5])), nonce: data[5:sealedHeader], ciphertext: data[sealedHeader:]}, true
}

// jsonSealed is the JSON form of an encrypted payload.
type jsonSealed struct {
	Enc        string `json:"enc"`
	KeyVersion int    `json:"k"`
	Nonce      []byte `json:"n"`
	Ciphertext []byte `json:"c"`
}

// parseJSON takes the JSON form apart into fresh memory.
func parseJSON(data []byte) (sealed, bool) {
	var j jsonSealed
	if !bytes.HasPrefix(data, []byte(SealedJSONPrefix)) || json.Unmarshal(data, &j) != nil || len(j.Nonce) != nonceSize {
		return sealed{}, false
	}
	return sealed{keyVersion: j.KeyVersion, nonce: j.Nonce, ciphertext: j.Ciphertext}, true
}

// AsJSON turns a payload in the sealed form into the JSON form, for an event store that
// takes only JSON; any other payload is returned as it is.
func AsJSON(data []byte) ([]byte, error) {
	if !IsBinary(data) {
		return data, nil
	}
	s, ok := parseBinary(data)
	if !ok {
		return nil, errors.New("malformed sealed payload")
	}
	return json.Marshal(jsonSealed{Enc: "v1", KeyVersion: s.keyVersion, Nonce: s.nonce, Ciphertext: s.ciphertext})
}

// asBinary turns a payload in the JSON form into the sealed form, without a key (the
// ciphertext is moved, not decrypted): an erased user's event stays unreadable.
func asBinary(data []byte) ([]byte, bool) {
	s, ok := parseJSON(data)
	if !ok {
		return nil, false
	}
	out := make([]byte, sealedHeader, sealedHeader+len(s.ciphertext))
	out[0] = SealedForm
	binary.BigEndian.PutUint32(out[1:5], uint32(s.keyVersion))
	copy(out[5:], s.nonce)
	return append(out, s.ciphertext...), true
}

// Open turns a stored payload back into plaintext in env, decrypting the sealed form in
// place (env.Data's memory is reused: the caller must own it, as a row scanned by pgx
// is). A payload stored in plaintext is left as it is; one whose key was destroyed
// marks env Erased (and clears Data). Any other failure is an error: a missing key for
// a user who was not erased is a fault, never "erased".
func (k *Keyring) Open(ctx context.Context, env *eventlog.Envelope) error {
	var s sealed
	var ok bool
	switch {
	case IsBinary(env.Data):
		s, ok = parseBinary(env.Data)
	case bytes.HasPrefix(env.Data, []byte(SealedJSONPrefix)):
		s, ok = parseJSON(env.Data)
	default:
		return nil
	}
	if !ok {
		return fmt.Errorf("event %s: malformed encrypted payload", env.ID)
	}
	user, err := ids.Parse(env.Metadata.UserID)
	if err != nil {
		return fmt.Errorf("event %s: encrypted payload without a user: %w", env.ID, err)
	}
	keys, err := k.userKeys(ctx, user, false)
	if err != nil {
		return err
	}
	if keys.erased {
		env.Data, env.Erased = nil, true
		return nil
	}
	aead, ok := keys.versions[s.keyVersion]
	if !ok {
		return fmt.Errorf("event %s: no data key %d for user %s", env.ID, s.keyVersion, user)
	}
	plain, err := aead.Open(s.ciphertext[:0], s.nonce, s.ciphertext, env.ID[:])
	if err != nil {
		return fmt.Errorf("event %s: decrypt: %w", env.ID, err)
	}
	env.Data = plain
	return nil
}

// userKeys returns user's keys, from the cache while fresh; create makes the first key
// of a user who has none (and was not erased).
func (k *Keyring) userKeys(ctx context.Context, user ids.ID, create bool) (*userKeys, error) {
	k.mu.RLock()
	keys := k.keys[user]
	k.mu.RUnlock()
	if keys != nil && time.Since(keys.loaded) < cacheTTL && (len(keys.versions) > 0 || keys.erased || !create) {
		return keys, nil
	}
	keys, err := k.load(ctx, user)
	if err == nil && create && len(keys.versions) == 0 && !keys.erased {
		if err = k.create(ctx, user); err == nil {
			keys, err = k.load(ctx, user)
		}
	}
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	if len(k.keys) >= maxCachedUsers {
		clear(k.keys)
	}
	k.keys[user] = keys
	k.mu.Unlock()
	return keys, nil
}

func (k *Keyring) load(ctx context.Context, user ids.ID) (*userKeys, error) {
	keys := &userKeys{versions: map[int]cipher.AEAD{}, loaded: time.Now()}
	err := k.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM erased_users WHERE user_id = $1)`, user).Scan(&keys.erased)
	if err != nil || keys.erased {
		return keys, err
	}
	rows, err := k.pool.Query(ctx, `SELECT key_version, wrapped_key, master_key_id FROM user_data_keys WHERE user_id = $1`, user)
	if err != nil {
		return nil, fmt.Errorf("data keys of %s: %w", user, err)
	}
	var version int
	var wrapped []byte
	var masterID string
	_, err = pgx.ForEachRow(rows, []any{&version, &wrapped, &masterID}, func() error {
		if masterID != k.master.ID {
			return fmt.Errorf("data key %d of %s is wrapped by master key %s, not the configured %s", version, user, masterID, k.master.ID)
		}
		raw, err := k.master.unwrap(wrapped, user)
		if err != nil {
			return fmt.Errorf("data key %d of %s: unwrap: %w", version, user, err)
		}
		aead, err := newAEAD(raw)
		if err != nil {
			return err
		}
		keys.versions[version] = aead
		keys.current = max(keys.current, version)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

func (k *Keyring) create(ctx context.Context, user ids.ID) error {
	raw := make([]byte, 32)
	rand.Read(raw)
	_, err := k.pool.Exec(ctx, `
		INSERT INTO user_data_keys (user_id, key_version, wrapped_key, master_key_id)
		SELECT $1, 1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM erased_users WHERE user_id = $1)
		ON CONFLICT DO NOTHING`, user, k.master.wrap(raw, user), k.master.ID)
	if err != nil {
		return fmt.Errorf("create data key of %s: %w", user, err)
	}
	return nil
}

// Destroy erases user's data keys inside tx and records the erasure, so that no key is
// made for them again and their events read as erased. Keyrings forget the user when
// told (Forget), or within cacheTTL.
func Destroy(ctx context.Context, tx pgx.Tx, user ids.ID, at time.Time) error {
	if _, err := tx.Exec(ctx, `DELETE FROM user_data_keys WHERE user_id = $1`, user); err != nil {
		return fmt.Errorf("destroy data keys: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO erased_users (user_id, erased_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, user, at); err != nil {
		return fmt.Errorf("record erasure: %w", err)
	}
	return nil
}

// Forget drops user from the cache.
func (k *Keyring) Forget(user ids.ID) {
	k.mu.Lock()
	delete(k.keys, user)
	k.mu.Unlock()
}

// Check is the start-up check: every stored data key must be wrapped by this master
// key, and one of them must unwrap with it.
func (k *Keyring) Check(ctx context.Context) error {
	var other string
	err := k.pool.QueryRow(ctx, `SELECT master_key_id FROM user_data_keys WHERE master_key_id <> $1 LIMIT 1`, k.master.ID).Scan(&other)
	if err == nil {
		return fmt.Errorf("the configured master key (id %s) is not the one the data keys were wrapped with (id %s): set DATA_KEY or DATA_KEY_FILE to that key (after a rotation, to the new one)", k.master.ID, other)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("data keys: %w", err)
	}
	var user ids.ID
	var wrapped []byte
	err = k.pool.QueryRow(ctx, `SELECT user_id, wrapped_key FROM user_data_keys LIMIT 1`).Scan(&user, &wrapped)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("data keys: %w", err)
	}
	if _, err := k.master.unwrap(wrapped, user); err != nil {
		return fmt.Errorf("the configured master key (id %s) cannot unwrap the stored data keys: set DATA_KEY or DATA_KEY_FILE to the key they were wrapped with", k.master.ID)
	}
	return nil
}

// CheckNoKeys is the start-up check without a master key: the database must hold no
// data key, since its events could not be read.
func CheckNoKeys(ctx context.Context, pool *pgxpool.Pool) error {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM user_data_keys)`).Scan(&exists); err != nil {
		return fmt.Errorf("data keys: %w", err)
	}
	if exists {
		return errors.New("the event log holds encrypted payloads but no master key is configured: " + ErrNoMasterKey.Error())
	}
	return nil
}

// Rotate re-wraps every data key wrapped by the current master key with next, in one
// transaction, without touching an event. Keys wrapped by next already are left alone,
// so a second run (after replicas still on the old key made new ones) finishes the job.
// It returns how many keys it re-wrapped; the keyring itself stays on the old key (a
// process starts again with the new one).
func (k *Keyring) Rotate(ctx context.Context, next MasterKey) (int, error) {
	if next.ID == k.master.ID {
		return 0, nil
	}
	n := 0
	err := pgx.BeginFunc(ctx, k.pool, func(tx pgx.Tx) error {
		var other string
		err := tx.QueryRow(ctx, `SELECT master_key_id FROM user_data_keys WHERE master_key_id NOT IN ($1, $2) LIMIT 1`, k.master.ID, next.ID).Scan(&other)
		if err == nil {
			return fmt.Errorf("some data keys are wrapped by master key %s, neither the current (%s) nor the new one (%s)", other, k.master.ID, next.ID)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT user_id, key_version, wrapped_key FROM user_data_keys WHERE master_key_id = $1 FOR UPDATE`, k.master.ID)
		if err != nil {
			return err
		}
		var users [][16]byte
		var versions []int32
		var rewrapped [][]byte
		var user ids.ID
		var version int32
		var wrapped []byte
		_, err = pgx.ForEachRow(rows, []any{&user, &version, &wrapped}, func() error {
			raw, err := k.master.unwrap(wrapped, user)
			if err != nil {
				return fmt.Errorf("data key %d of %s: unwrap: %w", version, user, err)
			}
			users, versions, rewrapped = append(users, [16]byte(user)), append(versions, version), append(rewrapped, next.wrap(raw, user))
			return nil
		})
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE user_data_keys k SET wrapped_key = r.wrapped, master_key_id = $4
			FROM unnest($1::uuid[], $2::int4[], $3::bytea[]) AS r(user_id, key_version, wrapped)
			WHERE k.user_id = r.user_id AND k.key_version = r.key_version`, users, versions, rewrapped, next.ID)
		n = len(users)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("rotate master key: %w", err)
	}
	return n, nil
}
