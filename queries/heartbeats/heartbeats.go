// Package heartbeats answers the WakaTime-compatible reads from the read models of the
// heartbeats projection (durations per user, local day, dimension and value; the stored
// heartbeats) and the user's time zone from the users table.
package heartbeats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/domain/ids"
)

// Queries reads the heartbeat read models.
type Queries struct{ pool *pgxpool.Pool }

// New builds the queries.
func New(pool *pgxpool.Pool) *Queries {
	if pool == nil {
		panic("heartbeats: nil pool")
	}
	return &Queries{pool: pool}
}

// User is what the reads need of a user.
type User struct {
	ID        ids.ID
	Username  string
	TimeZone  string
	Location  *time.Location
	CreatedAt time.Time
}

// User reads a user and its time zone; accounts.ErrUserNotFound when it is gone.
func (q *Queries) User(ctx context.Context, id ids.ID) (User, error) {
	u := User{ID: id}
	err := q.pool.QueryRow(ctx, `SELECT username, time_zone, created_at FROM users WHERE id = $1`, id).
		Scan(&u.Username, &u.TimeZone, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, accounts.ErrUserNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("heartbeats: user: %w", err)
	}
	if u.Location, err = accounts.ParseTimeZone(u.TimeZone); err != nil {
		u.Location = time.UTC
	}
	return u, nil
}

// Totals are one day's seconds per dimension value (Key{Total, ""}: the grand total).
type Totals map[heartbeat.Key]float64

// Days returns the totals of each day from first to last (both included) that has any.
func (q *Queries) Days(ctx context.Context, user ids.ID, first, last heartbeat.Day) (map[heartbeat.Day]Totals, error) {
	rows, err := q.pool.Query(ctx, `SELECT day, dimension, value, micros FROM heartbeat_durations
		WHERE user_id = $1 AND day BETWEEN $2 AND $3`, user, first, last)
	if err != nil {
		return nil, fmt.Errorf("heartbeats: days: %w", err)
	}
	out := map[heartbeat.Day]Totals{}
	var day time.Time
	var dim, value string
	var micros int64
	_, err = pgx.ForEachRow(rows, []any{&day, &dim, &value, &micros}, func() error {
		t := out[day]
		if t == nil {
			t = Totals{}
			out[day] = t
		}
		t[heartbeat.Key{Dimension: heartbeat.Dimension(dim), Value: value}] += float64(micros) / 1e6
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("heartbeats: days: %w", err)
	}
	return out, nil
}

// AllTime is a user's coding time over every day.
type AllTime struct {
	Seconds     float64
	First, Last heartbeat.Day // zero when there is none
}

// AllTime sums every day of the user.
func (q *Queries) AllTime(ctx context.Context, user ids.ID) (AllTime, error) {
	var a AllTime
	var first, last *time.Time
	var micros int64
	err := q.pool.QueryRow(ctx, `SELECT coalesce(sum(micros), 0)::bigint, min(day), max(day) FROM heartbeat_durations
		WHERE user_id = $1 AND dimension = 'total'`, user).Scan(&micros, &first, &last)
	a.Seconds = float64(micros) / 1e6
	if err != nil {
		return AllTime{}, fmt.Errorf("heartbeats: all time: %w", err)
	}
	if first != nil {
		a.First, a.Last = *first, *last
	}
	return a, nil
}

// Project is one of a user's projects.
type Project struct {
	Name           string
	FirstHeartbeat time.Time
	LastHeartbeat  time.Time
}

// Projects lists the user's projects, the most recently active first.
func (q *Queries) Projects(ctx context.Context, user ids.ID) ([]Project, error) {
	rows, err := q.pool.Query(ctx, `SELECT project, min(time), max(time) FROM heartbeats
		WHERE user_id = $1 AND project <> '' GROUP BY project ORDER BY max(time) DESC, project`, user)
	if err != nil {
		return nil, fmt.Errorf("heartbeats: projects: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Project, error) {
		var p Project
		err := r.Scan(&p.Name, &p.FirstHeartbeat, &p.LastHeartbeat)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("heartbeats: projects: %w", err)
	}
	return out, nil
}

// Heartbeats returns the user's heartbeats in [from, to), in time order.
func (q *Queries) Heartbeats(ctx context.Context, user ids.ID, from, to time.Time) ([]heartbeat.Heartbeat, error) {
	rows, err := q.pool.Query(ctx, `SELECT id, time, entity, type, category, project, branch, language, is_write, lines,
			line_additions, line_deletions, user_agent, editor, os, machine
		FROM heartbeats WHERE user_id = $1 AND time >= $2 AND time < $3 ORDER BY time, id`, user, from, to)
	if err != nil {
		return nil, fmt.Errorf("heartbeats: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (heartbeat.Heartbeat, error) {
		var h heartbeat.Heartbeat
		err := r.Scan(&h.ID, &h.Time, &h.Entity, &h.Type, &h.Category, &h.Project, &h.Branch, &h.Language, &h.IsWrite, &h.Lines,
			&h.LineAdditions, &h.LineDeletions, &h.UserAgent, &h.Editor, &h.OS, &h.Machine)
		h.Time = h.Time.UTC()
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("heartbeats: list: %w", err)
	}
	return out, nil
}

// FindUser finds a user by id, username or email (for operators' commands);
// accounts.ErrUserNotFound when none matches.
func (q *Queries) FindUser(ctx context.Context, key string) (ids.ID, error) {
	var id ids.ID
	err := q.pool.QueryRow(ctx, `SELECT id FROM users WHERE id::text = lower($1) OR username = $1 OR email = lower($1)
		ORDER BY (id::text = lower($1)) DESC LIMIT 1`, key).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ids.Nil, accounts.ErrUserNotFound
	}
	if err != nil {
		return ids.Nil, fmt.Errorf("heartbeats: find user: %w", err)
	}
	return id, nil
}
