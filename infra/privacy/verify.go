package privacy

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/datakeys"
)

// Report is what Verify found of an erased user; Clean when nothing.
type Report struct {
	UserID ids.ID `json:"user_id"`
	// Erased: the erasure is recorded (erased_users).
	Erased bool `json:"erased"`
	// Problems lists every readable trace: an account or data key left, events of theirs
	// stored in plaintext, events that still decrypt, read-model rows in any schema.
	Problems []string `json:"problems"`
	Tables   []trace  `json:"tables,omitempty"`
}

// Clean says whether no trace was found.
func (r Report) Clean() bool { return r.Erased && len(r.Problems) == 0 }

// Verify looks for every readable trace of user: their account, their data keys, events
// of theirs the log holds in plaintext (other than the UserErased fact) or whose payload
// names them in plaintext, events of theirs that still decrypt, and rows of theirs in
// every table of every schema (the live read models, rebuilds' and replays' copies).
func (s *Service) Verify(ctx context.Context, user ids.ID) (Report, error) {
	r := Report{UserID: user, Problems: []string{}}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var users, keys int64
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM erased_users WHERE user_id = $1),
			(SELECT count(*) FROM users WHERE id = $1), (SELECT count(*) FROM user_data_keys WHERE user_id = $1)`,
			user).Scan(&r.Erased, &users, &keys); err != nil {
			return err
		}
		if !r.Erased {
			r.Problems = append(r.Problems, "no erasure is recorded for this user")
		}
		if users > 0 {
			r.Problems = append(r.Problems, "the account still exists")
		}
		if keys > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%d data keys remain: the log's payloads of this user can be decrypted", keys))
		}
		// Plaintext: a payload of theirs in neither encrypted form, a clear payload (or
		// sealed bytes) naming them, or a sealed row of theirs that is not what sealing
		// writes (a payload left in data, bytes not in the sealed form).
		var plain, naming, malformed int64
		if err := tx.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE metadata->>'user_id' = $1::text AND event_type <> $2 AND sealed IS NULL AND left(data::text, $4) <> $3),
			count(*) FILTER (WHERE event_type <> $2 AND (left(data::text, $4) <> $3 AND data::text <> $5 AND strpos(data::text, $1::text) > 0
				OR position(convert_to($1::text, 'UTF8') IN sealed) > 0)),
			count(*) FILTER (WHERE metadata->>'user_id' = $1::text AND sealed IS NOT NULL AND (data::text <> $5 OR substring(sealed FOR 1) <> $6))
			FROM events`, user, accounts.TypeUserErased, datakeys.SealedJSONPrefix, len(datakeys.SealedJSONPrefix),
			datakeys.SealedData, []byte{datakeys.SealedForm}).Scan(&plain, &naming, &malformed); err != nil {
			return err
		}
		if plain > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%d events of this user are stored in plaintext in the log", plain))
		}
		if naming > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%d events in the log name this user in clear", naming))
		}
		if malformed > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%d events of this user in the sealed column are not in the sealed form", malformed))
		}
		if s.keyring != nil && keys == 0 {
			if n, err := s.decryptable(ctx, tx, user); err != nil {
				return err
			} else if n > 0 {
				r.Problems = append(r.Problems, fmt.Sprintf("%d events of this user still decrypt", n))
			}
		}
		tables, err := sweep(ctx, tx, user, true)
		if err != nil {
			return err
		}
		for _, t := range tables {
			r.Problems = append(r.Problems, fmt.Sprintf("%s holds %d rows of this user", t.Table, t.Rows))
		}
		r.Tables = tables
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("verify erasure of %s: %w", user, err)
	}
	return r, nil
}

// decryptable counts the user's encrypted events that the keyring still opens (none,
// once the key is destroyed: Open reports them erased).
func (s *Service) decryptable(ctx context.Context, tx pgx.Tx, user ids.ID) (int64, error) {
	s.keyring.Forget(user)
	n := int64(0)
	err := scanUserEvents(ctx, tx, user, func(e storedEvent) error {
		if !datakeys.IsSealed(e.env.Data) {
			return nil
		}
		if err := s.keyring.Open(ctx, &e.env); err != nil {
			return err
		}
		if !e.env.Erased {
			n++
		}
		return nil
	})
	return n, err
}
