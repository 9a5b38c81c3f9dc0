// Package heartbeats is the heartbeats projection: the read models behind the
// WakaTime-compatible reads.
//
//   - heartbeats: each user's heartbeats (GET /users/current/heartbeats, and the input
//     of the duration recomputation);
//   - heartbeat_durations: coding seconds per user, local day, dimension and value, so
//     statusbar/today is one primary-key range read and a summary one range per period;
//   - heartbeat_zones: projection state, each user's time zone as the log says
//     (TimeZoneChanged).
//
// A heartbeat can change the durations of the local days within the keystroke timeout
// of it; the projection recomputes those days from the stored heartbeats, so heartbeats
// that arrive late (an editor's offline queue) or from two machines at once count
// exactly as if they had arrived in time order. Each day is counted in the zone the user
// had when the heartbeat that last changed it was folded: rebuilds give the same rows.
package heartbeats

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/projections"
)

// Name is the projection's name.
const Name = "heartbeats"

// Version is the read model's version.
const Version = 1

// Projection is the heartbeats projection.
type Projection struct {
	timeout time.Duration
	zones   map[string]*time.Location // loaded zones by name, kept between batches
}

// New builds the projection; timeout is WAKATIME_TIMEOUT_MINUTES.
func New(timeout time.Duration) *Projection {
	if timeout <= 0 {
		panic("heartbeats: timeout must be positive")
	}
	return &Projection{timeout: timeout, zones: map[string]*time.Location{"UTC": time.UTC}}
}

// Name implements projections.Projection.
func (p *Projection) Name() string { return Name }

// Version implements projections.Projection.
func (p *Projection) Version() int { return Version }

// Handles implements projections.Projection.
func (p *Projection) Handles() []string {
	return []string{heartbeat.TypeRecorded, accounts.TypeTimeZoneChanged}
}

// Tables implements projections.Projection.
func (p *Projection) Tables() []string {
	return []string{"heartbeats", "heartbeat_durations", "heartbeat_zones"}
}

type userDay struct {
	user ids.ID
	day  heartbeat.Day
}

type stored struct {
	user ids.ID
	heartbeat.Heartbeat
}

// Apply stores the batch's heartbeats and recomputes the days they change.
func (p *Projection) Apply(ctx context.Context, tx pgx.Tx, events []projections.Event, _ *pgx.Batch) error {
	zones, err := loadZones(ctx, tx, events)
	if err != nil {
		return err
	}
	changed := map[ids.ID]string{}
	recompute := map[userDay]string{} // day → the zone it is counted in
	var beats []stored
	for i := range events {
		e := &events[i]
		switch pl := e.Payload.(type) {
		case *accounts.TimeZoneChanged:
			zones[pl.UserID], changed[pl.UserID] = pl.TimeZone, pl.TimeZone
		case *heartbeat.Heartbeat:
			zone := zones[e.User]
			for _, d := range heartbeat.AffectedDays(pl.Time, p.location(zone), p.timeout) {
				recompute[userDay{e.User, d}] = zone
			}
			beats = append(beats, stored{e.User, *pl})
		}
	}
	if err := writeZones(ctx, tx, changed); err != nil {
		return err
	}
	if err := insertHeartbeats(ctx, tx, beats); err != nil {
		return err
	}
	return p.recompute(ctx, tx, recompute)
}

func (p *Projection) location(zone string) *time.Location {
	if loc, ok := p.zones[zone]; ok {
		return loc
	}
	loc, err := accounts.ParseTimeZone(zone)
	if err != nil {
		loc = time.UTC // decoding validated the name; a zone this machine lacks counts as UTC
	}
	p.zones[zone] = loc
	return loc
}

func loadZones(ctx context.Context, tx pgx.Tx, events []projections.Event) (map[ids.ID]string, error) {
	zones := map[ids.ID]string{}
	var users [][16]byte
	for i := range events {
		u := events[i].User
		if _, ok := zones[u]; !ok && !u.IsNil() {
			zones[u] = accounts.DefaultTimeZone
			users = append(users, u)
		}
	}
	rows, err := tx.Query(ctx, `SELECT user_id, time_zone FROM heartbeat_zones WHERE user_id = ANY($1::uuid[])`, users)
	if err != nil {
		return nil, fmt.Errorf("heartbeats: load zones: %w", err)
	}
	var u [16]byte
	var zone string
	_, err = pgx.ForEachRow(rows, []any{&u, &zone}, func() error {
		zones[ids.ID(u)] = zone
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("heartbeats: load zones: %w", err)
	}
	return zones, nil
}

func writeZones(ctx context.Context, tx pgx.Tx, changed map[ids.ID]string) error {
	if len(changed) == 0 {
		return nil
	}
	users, zones := make([][16]byte, 0, len(changed)), make([]string, 0, len(changed))
	for u, z := range changed {
		users, zones = append(users, u), append(zones, z)
	}
	_, err := tx.Exec(ctx, `INSERT INTO heartbeat_zones (user_id, time_zone) SELECT * FROM unnest($1::uuid[], $2::text[])
		ON CONFLICT (user_id) DO UPDATE SET time_zone = excluded.time_zone`, users, zones)
	if err != nil {
		return fmt.Errorf("heartbeats: write zones: %w", err)
	}
	return nil
}

func insertHeartbeats(ctx context.Context, tx pgx.Tx, beats []stored) error {
	if len(beats) == 0 {
		return nil
	}
	n := len(beats)
	users, hids := make([][16]byte, 0, n), make([][16]byte, 0, n)
	times := make([]time.Time, 0, n)
	var entity, typ, category, project, branch, language, ua, editor, os, machine []string
	var isWrite []bool
	var lines, adds, dels []int64
	for _, b := range beats {
		users, hids, times = append(users, b.user), append(hids, b.ID), append(times, b.Time)
		entity, typ, category = append(entity, b.Entity), append(typ, b.Type), append(category, b.Category)
		project, branch, language = append(project, b.Project), append(branch, b.Branch), append(language, b.Language)
		ua, editor, os, machine = append(ua, b.UserAgent), append(editor, b.Editor), append(os, b.OS), append(machine, b.Machine)
		isWrite, lines = append(isWrite, b.IsWrite), append(lines, b.Lines)
		adds, dels = append(adds, b.LineAdditions), append(dels, b.LineDeletions)
	}
	_, err := tx.Exec(ctx, `INSERT INTO heartbeats (user_id, time, id, entity, type, category, project, branch, language,
			is_write, lines, line_additions, line_deletions, user_agent, editor, os, machine)
		SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
			$9::text[], $10::bool[], $11::int8[], $12::int8[], $13::int8[], $14::text[], $15::text[], $16::text[], $17::text[])
		ON CONFLICT DO NOTHING`,
		users, times, hids, entity, typ, category, project, branch, language, isWrite, lines, adds, dels, ua, editor, os, machine)
	if err != nil {
		return fmt.Errorf("heartbeats: insert: %w", err)
	}
	return nil
}

// span is a run of consecutive days of one user, with the instants to load for it.
type span struct {
	user     ids.ID
	days     []heartbeat.Day
	zones    []*time.Location
	from, to time.Time
}

// recompute rewrites the durations of the given days from the stored heartbeats.
func (p *Projection) recompute(ctx context.Context, tx pgx.Tx, days map[userDay]string) error {
	if len(days) == 0 {
		return nil
	}
	spans := p.spans(days)
	beats, err := loadSpans(ctx, tx, spans)
	if err != nil {
		return err
	}
	var delUsers [][16]byte
	var delDays []time.Time
	var users [][16]byte
	var outDays []time.Time
	var dims, values []string
	var seconds []float64
	for i, s := range spans {
		mine := beats[i]
		for j, day := range s.days {
			start, end := heartbeat.Bounds(day, s.zones[j])
			lo := sort.Search(len(mine), func(k int) bool { return !mine[k].Time.Before(start.Add(-p.timeout)) })
			hi := sort.Search(len(mine), func(k int) bool { return mine[k].Time.After(end.Add(p.timeout)) })
			delUsers, delDays = append(delUsers, s.user), append(delDays, day)
			for k, v := range heartbeat.DayTotals(mine[lo:hi], start, end, p.timeout) {
				users, outDays = append(users, s.user), append(outDays, day)
				dims, values, seconds = append(dims, string(k.Dimension)), append(values, k.Value), append(seconds, v)
			}
		}
	}
	q := &pgx.Batch{}
	q.Queue(`DELETE FROM heartbeat_durations d USING unnest($1::uuid[], $2::date[]) AS t(u, day)
		WHERE d.user_id = t.u AND d.day = t.day`, delUsers, delDays)
	if len(users) > 0 {
		q.Queue(`INSERT INTO heartbeat_durations (user_id, day, dimension, value, seconds)
			SELECT * FROM unnest($1::uuid[], $2::date[], $3::text[], $4::text[], $5::float8[])`,
			users, outDays, dims, values, seconds)
	}
	if err := tx.SendBatch(ctx, q).Close(); err != nil {
		return fmt.Errorf("heartbeats: write durations: %w", err)
	}
	return nil
}

// spans groups the days to recompute into runs of consecutive days per user.
func (p *Projection) spans(days map[userDay]string) []span {
	keys := make([]userDay, 0, len(days))
	for k := range days {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b userDay) int {
		if c := slices.Compare(a.user[:], b.user[:]); c != 0 {
			return c
		}
		return a.day.Compare(b.day)
	})
	var out []span
	for _, k := range keys {
		loc := p.location(days[k])
		start, end := heartbeat.Bounds(k.day, loc)
		if n := len(out); n > 0 && out[n-1].user == k.user && out[n-1].days[len(out[n-1].days)-1].AddDate(0, 0, 1).Equal(k.day) {
			s := &out[n-1]
			s.days, s.zones = append(s.days, k.day), append(s.zones, loc)
			s.from, s.to = minTime(s.from, start.Add(-p.timeout)), maxTime(s.to, end.Add(p.timeout))
			continue
		}
		out = append(out, span{user: k.user, days: []heartbeat.Day{k.day}, zones: []*time.Location{loc},
			from: start.Add(-p.timeout), to: end.Add(p.timeout)})
	}
	return out
}

// loadSpans reads the heartbeats of each span, sorted by time, in one query.
func loadSpans(ctx context.Context, tx pgx.Tx, spans []span) ([][]heartbeat.Heartbeat, error) {
	idx := make([]int32, len(spans))
	users := make([][16]byte, len(spans))
	froms, tos := make([]time.Time, len(spans)), make([]time.Time, len(spans))
	for i, s := range spans {
		idx[i], users[i], froms[i], tos[i] = int32(i), s.user, s.from, s.to
	}
	rows, err := tx.Query(ctx, `SELECT w.i, h.time, h.entity, h.category, h.project, h.branch, h.language, h.editor, h.os, h.machine
		FROM unnest($1::int4[], $2::uuid[], $3::timestamptz[], $4::timestamptz[]) AS w(i, u, f, t)
		JOIN heartbeats h ON h.user_id = w.u AND h.time >= w.f AND h.time <= w.t
		ORDER BY w.i, h.time, h.id`, idx, users, froms, tos)
	if err != nil {
		return nil, fmt.Errorf("heartbeats: load: %w", err)
	}
	out := make([][]heartbeat.Heartbeat, len(spans))
	var i int32
	var h heartbeat.Heartbeat
	_, err = pgx.ForEachRow(rows, []any{&i, &h.Time, &h.Entity, &h.Category, &h.Project, &h.Branch, &h.Language, &h.Editor, &h.OS, &h.Machine},
		func() error {
			out[i] = append(out[i], h)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("heartbeats: load: %w", err)
	}
	return out, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
