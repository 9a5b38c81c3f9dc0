package datakeys

import (
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

// plaintextEvents selects the events EncryptLog still has to encrypt, in position
// order from a position on.
const plaintextEvents = `
	SELECT position, event_id, event_type, data, metadata FROM events
	WHERE position > $1 AND metadata->>'user_id' IS NOT NULL AND metadata->>'user_id' <> ''
	  AND event_type <> $2 AND left(data::text, $4) <> $3`

// EncryptLog encrypts, in place, the payloads of a log written before encryption was
// on, a batch per transaction; readers take plaintext and encrypted payloads alike
// meanwhile. It is resumable: a second run finds only what is still plaintext. Events
// of users erased before encryption was on are sealed with a key nobody keeps, so they
// read as erased. progress is told after every batch; it returns how many events it
// encrypted.
func (k *Keyring) EncryptLog(ctx context.Context, progress func(done, total int64)) (int64, error) {
	var total int64
	if err := k.pool.QueryRow(ctx, `SELECT count(*) FROM (`+plaintextEvents+`) p`, 0, accounts.TypeUserErased, SealedPrefix, len(SealedPrefix)).Scan(&total); err != nil {
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
		rows, err := tx.Query(ctx, plaintextEvents+` ORDER BY position LIMIT `+fmt.Sprint(encryptBatch)+` FOR UPDATE`,
			after, accounts.TypeUserErased, SealedPrefix, len(SealedPrefix))
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
		datas := make([]string, len(events))
		for i, e := range events {
			data, err := k.Seal(ctx, e)
			if errors.Is(err, ErrUserErased) {
				data, err = shred(e)
			}
			if err != nil {
				return err
			}
			datas[i] = string(data)
		}
		_, err = tx.Exec(ctx, `UPDATE events e SET data = u.data::json FROM unnest($1::bigint[], $2::text[]) AS u(position, data)
			WHERE e.position = u.position`, positions, datas)
		n, last = int64(len(events)), positions[len(positions)-1]
		return err
	})
	return n, last, err
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
