// Package auth is the infrastructure of accounts and access: JWT sessions (D21),
// bcrypt passwords, the PostgreSQL tables behind users, API tokens (D22), the login
// throttle (D20) and pairings (D18), the request Authenticator, the coalesced
// last-used writer and the periodic cleanup job.
package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/postgres"
)

// DB is the pool plus the Postgres event log, so that a state-table change and its
// events commit in one transaction.
type DB struct {
	Pool   *pgxpool.Pool
	Events *postgres.EventStore
}

func (db DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{}, fn)
}

// appendAccountEvents appends account events to the user's stream inside tx.
func appendAccountEvents(ctx context.Context, tx pgx.Tx, es *postgres.EventStore, userID ids.ID, events ...accounts.Event) error {
	data := make([]eventlog.EventData, 0, len(events))
	for _, e := range events {
		d, err := accounts.Encode(e)
		if err != nil {
			return err
		}
		data = append(data, d)
	}
	_, err := es.AppendTx(ctx, tx, eventlog.Append{StreamID: accounts.StreamID(userID), Expected: eventlog.Any(), Events: data})
	return err
}

// insertToken stores an issued token and its ApiTokenIssued event inside tx.
func insertToken(ctx context.Context, tx pgx.Tx, es *postgres.EventStore, t accounts.IssuedToken) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO api_tokens (id, user_id, name, token_hash, token_prefix, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		t.ID, t.UserID, t.Name, t.Hash, t.Prefix, t.CreatedAt)
	if violates(err, "23503", "") {
		return accounts.ErrUserNotFound
	}
	if err != nil {
		return fmt.Errorf("insert token: %w", err)
	}
	return appendAccountEvents(ctx, tx, es, t.UserID, t.Event())
}

// violates reports whether err is a PostgreSQL error with the code and, when given,
// the constraint name.
func violates(err error, code, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code && (constraint == "" || pgErr.ConstraintName == constraint)
}

func nullID(id ids.ID) any {
	if id.IsNil() {
		return nil
	}
	return id
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
