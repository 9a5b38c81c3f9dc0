// Package sessions reads the sessions projection's read models for the insight work:
// a user's current session and the users active since a moment (contract 9.1, 9.12).
package sessions

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/ids"
)

// DB is what the queries need: a pool, a connection or a transaction.
type DB interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Session is one row of the sessions read model.
type Session struct {
	ID        ids.ID
	Owner     ids.ID
	StartTime time.Time
	// LastEventAt is the latest event timestamp seen (zero before any event).
	LastEventAt time.Time
}

// ErrNoSession means the user has no session.
var ErrNoSession = errors.New("no session")

// Current returns the user's session with the latest start_time (9.1 "current
// session"; ties broken by id for a stable answer), or ErrNoSession.
func Current(ctx context.Context, db DB, user ids.ID) (Session, error) {
	var s Session
	var id, owner [16]byte
	var last *time.Time
	err := db.QueryRow(ctx, `SELECT id, owner, start_time, last_event_at FROM sessions
		WHERE owner = $1 ORDER BY start_time DESC, id DESC LIMIT 1`, [16]byte(user)).Scan(&id, &owner, &s.StartTime, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, err
	}
	s.ID, s.Owner = id, owner
	s.StartTime = s.StartTime.UTC()
	if last != nil {
		s.LastEventAt = last.UTC()
	}
	return s, nil
}

// ActiveSince returns the users with at least one event whose timestamp is later than
// since (the scheduler's activity window, 9.12), in id order.
func ActiveSince(ctx context.Context, db DB, since time.Time) ([]ids.ID, error) {
	rows, err := db.Query(ctx, `SELECT user_id FROM active_users WHERE last_event_at > $1 ORDER BY user_id`, since)
	if err != nil {
		return nil, err
	}
	var out []ids.ID
	var id [16]byte
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error { out = append(out, id); return nil })
	return out, err
}
