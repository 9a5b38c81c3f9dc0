package datakeys

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/eventlog"
)

// encryptBatch is how many events one transaction of EncryptLog rewrites.
const encryptBatch = 1000

// unsealedEvents selects the events EncryptLog still has to move to the sealed column,
// in position order from a position on: a user's payloads in plaintext, and those in
// the JSON form of encryption (rows written before migration 00014).
const unsealedEvents = `
	SELECT position, event_id, event_type, data, metadata FROM events
	WHERE position > $1 AND sealed IS NULL AND metadata->>'user_id' IS NOT NULL AND metadata->>'user_id' <> ''
	  AND event_type <> $2`

// EncryptLog moves, in place, every user's payload to the sealed column, a batch per
// transaction: plaintext (a log written before encryption was on) is encrypted, and the
// JSON form of encryption is rewritten in the sealed form without decrypting. Readers
// take all three forms meanwhile. It is resumable: a second run finds only what is
// still outside the sealed column. Events of users erased before encryption was on are
// sealed with a key nobody keeps, so they read as erased. progress is told after every
// batch; it returns how many events it rewrote.
func (k *Keyring) EncryptLog(ctx context.Context, progress func(done, total int64)) (int64, error) {
	var total int64
	if err := k.pool.QueryRow(ctx, `SELECT count(*) FROM (`+unsealedEvents+`) p`, 0, accounts.TypeUserErased).Scan(&total); err != nil {
		return 0, fmt.Errorf("encrypt log: %w", err)
	}
	var done, after int64
	for {
		n, last, err := k.encryptBatch(ctx, after)
		if err != nil {
			return done, fmt.Errorf("encrypt log after position %d: %w", after, err)
		}
		if n == 0 {
			return done, nil
		}
		done, after = done+n, last
		if progress != nil {
			progress(done, max(total, done))
		}
	}
}

func (k *Keyring) encryptBatch(ctx context.Context, after int64) (int64, int64, error) {
	var n, last int64
	err := pgx.BeginFunc(ctx, k.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, unsealedEvents+` ORDER BY position LIMIT `+fmt.Sprint(encryptBatch)+` FOR UPDATE`,
			after, accounts.TypeUserErased)
		if err != nil {
			return err
		}
		var positions []int64
		var events []eventlog.EventData
		var position int64
		var e eventlog.EventData
		var meta []byte
		_, err = pgx.ForEachRow(rows, []any{&position, &e.ID, &e.Type, &e.Data, &meta}, func() error {
			e.Metadata = eventlog.Metadata{}
			if err := json.Unmarshal(meta, &e.Metadata); err != nil {
				return fmt.Errorf("event %s: metadata: %w", e.ID, err)
			}
			positions, events = append(positions, position), append(events, e)
			return nil
		})
		if err != nil || len(events) == 0 {
			return err
		}
		payloads := make([][]byte, len(events))
		for i, e := range events {
			if payloads[i], err = k.toSealed(ctx, e); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE events e SET data = $3, sealed = u.sealed FROM unnest($1::bigint[], $2::bytea[]) AS u(position, sealed)
			WHERE e.position = u.position`, positions, payloads, SealedData)
		n, last = int64(len(events)), positions[len(positions)-1]
		return err
	})
	return n, last, err
}

// toSealed is e's payload in the sealed form: moved from the JSON form, or encrypted.
func (k *Keyring) toSealed(ctx context.Context, e eventlog.EventData) ([]byte, error) {
	if bytes.HasPrefix(e.Data, []byte(SealedJSONPrefix)) {
		data, ok := asBinary(e.Data)
		if !ok {
			return nil, fmt.Errorf("event %s: malformed encrypted payload", e.ID)
		}
		return data, nil
	}
	data, err := k.Seal(ctx, e)
	if errors.Is(err, ErrUserErased) {
		return shred(e)
	}
	return data, err
}

// shred seals an erased user's payload with a fresh key that is dropped at once.
func shred(e eventlog.EventData) ([]byte, error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	aead, err := newAEAD(raw)
	if err != nil {
		return nil, err
	}
	return sealWith(aead, 1, e.ID, e.Data), nil
}
