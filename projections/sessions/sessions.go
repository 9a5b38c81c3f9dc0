// Package sessions is the sessions projection: the read models of telemetry sessions
// (id, owner, start time, time of the latest event) and of user activity (each user's
// latest event time), which the insight scheduler and evaluator read through
// queries/sessions.
//
// Times are the clients' event timestamps (contract 4.2: "the event's time for every
// purpose"), not the times the events were received.
package sessions

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	"github.com/devflow/backend/projections"
)

// Name is the projection's name.
const Name = "sessions"

// Version is the read model's version.
const Version = 1

// Projection is the sessions projection.
type Projection struct {
	idle chan *batch // one batch scratch kept between Apply calls
}

// New builds the projection.
func New() *Projection { return &Projection{idle: make(chan *batch, 1)} }

// Name implements projections.Projection.
func (p *Projection) Name() string { return Name }

// Version implements projections.Projection.
func (p *Projection) Version() int { return Version }

// Handles implements projections.Projection: the session's first event and every
// client event (each is activity).
func (p *Projection) Handles() []string {
	return []string{telemetry.TypeSessionStarted, telemetry.TypeTextChanged, telemetry.TypeFileSaved,
		telemetry.TypeEditorSwitched, telemetry.TypeDebugSessionStarted, telemetry.TypeTerminalOpened,
		telemetry.TypeGitActivityObserved}
}

// Tables implements projections.Projection.
func (p *Projection) Tables() []string { return []string{"sessions", "active_users"} }

type session struct {
	owner ids.ID
	start time.Time // zero unless the batch holds the SessionStarted
	last  time.Time // zero unless the batch holds a client event
}

type batch struct {
	sess  map[ids.ID]*session
	order []ids.ID
	users map[ids.ID]time.Time
}

// Apply folds a batch and writes each changed row once.
func (p *Projection) Apply(ctx context.Context, tx pgx.Tx, events []projections.Event, writes *pgx.Batch) error {
	var b *batch
	select {
	case b = <-p.idle:
	default:
		b = &batch{sess: map[ids.ID]*session{}, users: map[ids.ID]time.Time{}}
	}
	defer func() {
		clear(b.sess)
		clear(b.users)
		b.order = b.order[:0]
		select {
		case p.idle <- b:
		default:
		}
	}()

	for i := range events {
		e := &events[i]
		if e.Session.IsNil() {
			continue // another area's event that happens to share a type name
		}
		s := b.sess[e.Session]
		if s == nil {
			s = &session{}
			b.sess[e.Session] = s
			b.order = append(b.order, e.Session)
		}
		switch p := e.Payload.(type) {
		case *telemetry.SessionStarted:
			s.owner, s.start = p.Owner, p.StartTime
		case *telemetry.ClientEvent:
			at := p.Time
			if s.owner.IsNil() {
				s.owner = e.User
			}
			if at.After(s.last) {
				s.last = at
			}
			if at.After(b.users[e.User]) {
				b.users[e.User] = at
			}
		}
	}
	b.write(writes)
	return nil
}

// write queues an upsert of every changed row, one statement per table.
func (b *batch) write(q *pgx.Batch) {
	if n := len(b.order); n > 0 {
		sids, owners := make([][16]byte, 0, n), make([][16]byte, 0, n)
		starts, lasts := make([]*time.Time, 0, n), make([]*time.Time, 0, n)
		for _, id := range b.order {
			s := b.sess[id]
			sids, owners = append(sids, id), append(owners, s.owner)
			starts, lasts = append(starts, timeOrNil(s.start)), append(lasts, timeOrNil(s.last))
		}
		// A session's row comes with its SessionStarted, the first event of its stream;
		// later batches only move last_event_at forward.
		q.Queue(`INSERT INTO sessions AS s (id, owner, start_time, last_event_at)
			SELECT id, owner, coalesce(st, la), la FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[]) AS t(id, owner, st, la)
			ON CONFLICT (id) DO UPDATE SET last_event_at = greatest(s.last_event_at, excluded.last_event_at)`,
			sids, owners, starts, lasts)
	}
	if n := len(b.users); n > 0 {
		users, lasts := make([][16]byte, 0, n), make([]time.Time, 0, n)
		for u, t := range b.users {
			users, lasts = append(users, u), append(lasts, t)
		}
		q.Queue(`INSERT INTO active_users AS a (user_id, last_event_at)
			SELECT * FROM unnest($1::uuid[], $2::timestamptz[])
			ON CONFLICT (user_id) DO UPDATE SET last_event_at = greatest(a.last_event_at, excluded.last_event_at)`,
			users, lasts)
	}
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
