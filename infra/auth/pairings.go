package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	cmdpairing "github.com/devflow/backend/commands/pairing"
	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/pairing"
)

// Pairings is the pairings table, the state of every pairing aggregate written in the
// same transaction as its events (commands/pairing.Store).
type Pairings struct{ db DB }

// NewPairings builds the store.
func NewPairings(db DB) *Pairings { return &Pairings{db: db} }

var _ cmdpairing.Store = (*Pairings)(nil)

// InTx runs fn in one transaction.
func (s *Pairings) InTx(ctx context.Context, fn func(cmdpairing.Tx) error) error {
	return s.db.inTx(ctx, func(tx pgx.Tx) error { return fn(pairingTx{tx: tx, db: s.db}) })
}

type pairingTx struct {
	tx pgx.Tx
	db DB
}

const pairingColumns = `id, user_code, status, created_at, expires_at, user_id, token_id,
	expiry_recorded, stream_version, coalesce(token_plaintext, ''), last_exchange_at`

func scanPairing(row pgx.Row) (*pairing.Pairing, error) {
	var s pairing.Snapshot
	var code, status string
	var userID, tokenID *ids.ID
	var lastExchange *time.Time
	err := row.Scan(&s.ID, &code, &status, &s.CreatedAt, &s.ExpiresAt, &userID, &tokenID,
		&s.ExpiryRecorded, &s.Version, &s.TokenPlaintext, &lastExchange)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, pairing.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load pairing: %w", err)
	}
	s.UserCode, s.Status = pairing.UserCode(code), pairing.Status(status)
	if userID != nil {
		s.UserID = *userID
	}
	if tokenID != nil {
		s.TokenID = *tokenID
	}
	if lastExchange != nil {
		s.LastExchangeAt = *lastExchange
	}
	return pairing.Restore(s), nil
}

func (t pairingTx) Insert(ctx context.Context, p *pairing.Pairing) error {
	s := p.Snapshot()
	_, err := t.tx.Exec(ctx, `
		INSERT INTO pairings (id, user_code, status, created_at, expires_at, user_id, token_id,
			expiry_recorded, stream_version, token_plaintext, last_exchange_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		s.ID, string(s.UserCode), string(s.Status), s.CreatedAt, s.ExpiresAt, nullID(s.UserID), nullID(s.TokenID),
		s.ExpiryRecorded, s.Version, nullString(s.TokenPlaintext), nullTime(s.LastExchangeAt))
	if violates(err, "23505", "pairings_pending_code") {
		return cmdpairing.ErrCodeTaken
	}
	if err != nil {
		return fmt.Errorf("insert pairing: %w", err)
	}
	return t.appendChanges(ctx, p, eventlog.NoStream())
}

func (t pairingTx) Save(ctx context.Context, p *pairing.Pairing) error {
	s := p.Snapshot()
	_, err := t.tx.Exec(ctx, `
		UPDATE pairings SET status = $2, user_id = $3, token_id = $4, expiry_recorded = $5,
			stream_version = $6, token_plaintext = $7, last_exchange_at = $8
		WHERE id = $1`,
		s.ID, string(s.Status), nullID(s.UserID), nullID(s.TokenID), s.ExpiryRecorded,
		s.Version, nullString(s.TokenPlaintext), nullTime(s.LastExchangeAt))
	if err != nil {
		return fmt.Errorf("save pairing: %w", err)
	}
	return t.appendChanges(ctx, p, eventlog.Exact(uint64(p.Version())))
}

func (t pairingTx) appendChanges(ctx context.Context, p *pairing.Pairing, expected eventlog.Expected) error {
	changes := p.Changes()
	if len(changes) == 0 {
		return nil
	}
	data := make([]eventlog.EventData, 0, len(changes))
	for _, e := range changes {
		d, err := pairing.Encode(p.ID(), e)
		if err != nil {
			return err
		}
		if !p.UserID().IsNil() {
			d.Metadata.UserID = p.UserID().String()
		}
		data = append(data, d)
	}
	_, err := t.db.Events.AppendTx(ctx, t.tx, eventlog.Append{StreamID: pairing.StreamID(p.ID()), Expected: expected, Events: data})
	return err
}

func (t pairingTx) Lock(ctx context.Context, id ids.ID) (*pairing.Pairing, error) {
	return scanPairing(t.tx.QueryRow(ctx, `SELECT `+pairingColumns+` FROM pairings WHERE id = $1 FOR UPDATE`, id))
}

func (t pairingTx) LockPending(ctx context.Context, code pairing.UserCode, now time.Time) (*pairing.Pairing, error) {
	return scanPairing(t.tx.QueryRow(ctx, `
		SELECT `+pairingColumns+` FROM pairings
		WHERE user_code = $1 AND status = 'pending' AND expires_at > $2
		FOR UPDATE`, string(code), now))
}

func (t pairingTx) Latest(ctx context.Context, code pairing.UserCode) (*pairing.Pairing, error) {
	return scanPairing(t.tx.QueryRow(ctx, `
		SELECT `+pairingColumns+` FROM pairings
		WHERE user_code = $1 ORDER BY created_at DESC LIMIT 1`, string(code)))
}

func (t pairingTx) LockExpired(ctx context.Context, now time.Time, limit int) ([]*pairing.Pairing, error) {
	rows, err := t.tx.Query(ctx, `
		SELECT `+pairingColumns+` FROM pairings
		WHERE expires_at <= $1 AND status <> 'consumed' AND NOT expiry_recorded
		ORDER BY expires_at LIMIT $2
		FOR UPDATE SKIP LOCKED`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("expired pairings: %w", err)
	}
	defer rows.Close()
	var out []*pairing.Pairing
	for rows.Next() {
		p, err := scanPairing(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (t pairingTx) Purge(ctx context.Context, before time.Time) (int64, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM pairings WHERE expires_at <= $1`, before)
	if err != nil {
		return 0, fmt.Errorf("purge pairings: %w", err)
	}
	return tag.RowsAffected(), nil
}

func (t pairingTx) IssueToken(ctx context.Context, token accounts.IssuedToken) error {
	return insertToken(ctx, t.tx, t.db.Events, token)
}
