// Package heartbeats is the heartbeats projection: the read models behind the
// WakaTime-compatible reads.
//
//   - heartbeats: each user's heartbeats (GET /users/current/heartbeats, and the input
//     of the duration recomputation), the WakaTime plugins' and the devFlow extension's
//     activity points (heartbeat.Activity: one per user, entity and 2-minute window, and
//     every save), so one user with both clients has one sequence and one coding time;
//   - heartbeat_durations: coding seconds per user, local day, dimension and value, so
//     statusbar/today is one primary-key range read and a summary one range per period;
//   - heartbeat_zones: projection state, each user's time zone as the log says
//     (TimeZoneChanged).
//
// A heartbeat can change the durations of the local days within the keystroke timeout
// of it; the projection recomputes those days from the stored heartbeats and the
// batch's new ones, so heartbeats that arrive late (an editor's offline queue) or from
// two machines at once count exactly as if they had arrived in time order. Each day is counted in the zone the user
// had when the heartbeat that last changed it was folded: rebuilds give the same rows.
package heartbeats

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	"github.com/devflow/backend/projections"
)

// Name is the projection's name.
const Name = "heartbeats"

// Version is the read model's version. Version 2 adds the extension's activity.
const Version = 2

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
	return []string{heartbeat.TypeRecorded, accounts.TypeTimeZoneChanged,
		telemetry.TypeTextChanged, telemetry.TypeFileSaved, telemetry.TypeEditorSwitched,
		telemetry.TypeDebugSessionStarted, telemetry.TypeTerminalOpened, telemetry.TypeGitActivityObserved}
}

// Tables implements projections.Projection.
func (p *Projection) Tables() []string {
	return []string{"heartbeats", "heartbeat_durations", "heartbeat_zones"}
}

type userDay struct {
	user ids.ID
	day  heartbeat.Day
}

type userID struct{ user, id ids.ID }

// row is a heartbeat of the batch: a WakaTime plugin's or an activity point of the
// extension.
type row struct {
	user ids.ID
	// zone is the user's zone when the row was folded: the batch's own TimeZoneChanged
	// before it, else the stored zone ("" until read); loc and day (the row's day in
	// loc) follow from it.
	zone string
	loc  *time.Location
	day  heartbeat.Day
	// window is the start of a sampled point's window (zero for a heartbeat or a save,
	// each its own row): an earlier batch may have stored the window's point.
	window time.Time
	heartbeat.Heartbeat
}

// Apply stores the batch's new heartbeats and recomputes the days they change. It reads
// the zones and which of the sampled points are stored already (one round trip), then,
// if anything is new, the stored heartbeats around the days it changes; it queues
// every write.
func (p *Projection) Apply(ctx context.Context, tx pgx.Tx, events []projections.Event, writes *pgx.Batch) error {
	changed := map[ids.ID]string{}
	var rows []row
	seen := map[userID]bool{}
	// Of the batch's heartbeats with one id (a sampling window's points), the first is the row.
	add := func(user ids.ID, h heartbeat.Heartbeat, window time.Time) {
		if k := (userID{user, h.ID}); !seen[k] {
			seen[k] = true
			rows = append(rows, row{user: user, zone: changed[user], window: window, Heartbeat: h})
		}
	}
	for i := range events {
		e := &events[i]
		switch pl := e.Payload.(type) {
		case *accounts.TimeZoneChanged:
			changed[pl.UserID] = pl.TimeZone
		case *heartbeat.Heartbeat:
			add(e.User, *pl, time.Time{})
		case *telemetry.ClientEvent:
			if e.Session.IsNil() {
				continue // another area's event that happens to share a type name
			}
			h, ok := heartbeat.Activity(e.User, e.ID, pl)
			if !ok {
				continue
			}
			var window time.Time
			if !h.IsWrite {
				window, _ = heartbeat.SampleWindow(h.Time)
			}
			add(e.User, h, window)
		}
	}
	queueZones(writes, changed)
	if len(rows) == 0 {
		return nil
	}
	zones, stored, err := readState(ctx, tx, rows)
	if err != nil {
		return err
	}
	fresh := rows[:0]
	for i, r := range rows {
		if stored[i] {
			continue
		}
		if r.zone == "" {
			r.zone = zones[r.user]
		}
		r.loc = p.location(r.zone)
		r.day = heartbeat.DayOf(r.Time, r.loc)
		fresh = append(fresh, r)
	}
	if len(fresh) == 0 {
		return nil
	}
	spans, spanOf := p.spans(fresh)
	beats, err := loadSpans(ctx, tx, spans)
	if err != nil {
		return err
	}
	queueHeartbeats(writes, fresh)
	p.queueDurations(writes, spanOf, beats, fresh)
	return nil
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

// readState reads, in one round trip, the stored zones of the rows' users (the default
// for a user without one) and which sampled rows an earlier batch stored (stored[i] for
// rows[i]).
func readState(ctx context.Context, tx pgx.Tx, rows []row) (map[ids.ID]string, []bool, error) {
	zones := map[ids.ID]string{}
	var users [][16]byte
	var idx []int32
	var probeUsers, probeIDs [][16]byte
	var starts, ends []time.Time
	for i, r := range rows {
		if _, ok := zones[r.user]; !ok {
			zones[r.user] = accounts.DefaultTimeZone
			users = append(users, r.user)
		}
		if !r.window.IsZero() {
			idx, probeUsers, probeIDs = append(idx, int32(i)), append(probeUsers, r.user), append(probeIDs, r.ID)
			start, end := heartbeat.SampleWindow(r.window)
			starts, ends = append(starts, start), append(ends, end)
		}
	}
	stored := make([]bool, len(rows))
	q := &pgx.Batch{}
	q.Queue(`SELECT user_id, time_zone FROM heartbeat_zones WHERE user_id = ANY($1::uuid[])`, users).Query(func(rs pgx.Rows) error {
		var u [16]byte
		var zone string
		_, err := pgx.ForEachRow(rs, []any{&u, &zone}, func() error {
			zones[ids.ID(u)] = zone
			return nil
		})
		return err
	})
	if len(idx) > 0 {
		q.Queue(`SELECT w.i FROM unnest($1::int4[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::timestamptz[]) AS w(i, u, id, f, t)
			WHERE EXISTS (SELECT FROM heartbeats h WHERE h.user_id = w.u AND h.time >= w.f AND h.time < w.t AND h.id = w.id)`,
			idx, probeUsers, probeIDs, starts, ends).Query(func(rs pgx.Rows) error {
			var i int32
			_, err := pgx.ForEachRow(rs, []any{&i}, func() error {
				stored[i] = true
				return nil
			})
			return err
		})
	}
	if err := tx.SendBatch(ctx, q).Close(); err != nil {
		return nil, nil, fmt.Errorf("heartbeats: read zones and stored points: %w", err)
	}
	return zones, stored, nil
}

func queueZones(q *pgx.Batch, changed map[ids.ID]string) {
	if len(changed) == 0 {
		return
	}
	users, zones := make([][16]byte, 0, len(changed)), make([]string, 0, len(changed))
	for u, z := range changed {
		users, zones = append(users, u), append(zones, z)
	}
	q.Queue(`INSERT INTO heartbeat_zones (user_id, time_zone) SELECT * FROM unnest($1::uuid[], $2::text[])
		ON CONFLICT (user_id) DO UPDATE SET time_zone = excluded.time_zone`, users, zones)
}

func queueHeartbeats(q *pgx.Batch, rows []row) {
	if len(rows) == 0 {
		return
	}
	n := len(rows)
	users, hids := make([][16]byte, 0, n), make([][16]byte, 0, n)
	times := make([]time.Time, 0, n)
	var entity, typ, category, project, branch, language, ua, editor, os, machine []string
	var isWrite []bool
	var lines, adds, dels []int64
	for _, b := range rows {
		users, hids, times = append(users, b.user), append(hids, b.ID), append(times, b.Time)
		entity, typ, category = append(entity, b.Entity), append(typ, b.Type), append(category, b.Category)
		project, branch, language = append(project, b.Project), append(branch, b.Branch), append(language, b.Language)
		ua, editor, os, machine = append(ua, b.UserAgent), append(editor, b.Editor), append(os, b.OS), append(machine, b.Machine)
		isWrite, lines = append(isWrite, b.IsWrite), append(lines, b.Lines)
		adds, dels = append(adds, b.LineAdditions), append(dels, b.LineDeletions)
	}
	q.Queue(`INSERT INTO heartbeats (user_id, time, id, entity, type, category, project, branch, language,
			is_write, lines, line_additions, line_deletions, user_agent, editor, os, machine)
		SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
			$9::text[], $10::bool[], $11::int8[], $12::int8[], $13::int8[], $14::text[], $15::text[], $16::text[], $17::text[])
		ON CONFLICT DO NOTHING`,
		users, times, hids, entity, typ, category, project, branch, language, isWrite, lines, adds, dels, ua, editor, os, machine)
}

// span is a run of consecutive days of one user, with the instants to load for it.
type span struct {
	user     ids.ID
	from, to time.Time
}

// queueDurations rewrites the durations of the days the fresh rows change from the
// stored heartbeats of their spans and the fresh rows. Each day is counted in the zone
// of the last row that changes it.
func (p *Projection) queueDurations(q *pgx.Batch, spanOf map[userDay]int, stored [][]heartbeat.Heartbeat, fresh []row) {
	recompute := map[userDay]*time.Location{}
	joined := map[int]bool{}
	for _, r := range fresh { // a fresh row's days are all in the span of its own day
		for _, d := range heartbeat.AffectedDays(r.Time, r.loc, p.timeout) {
			recompute[userDay{r.user, d}] = r.loc
		}
		i := spanOf[userDay{r.user, r.day}]
		stored[i], joined[i] = append(stored[i], r.Heartbeat), true
	}
	for i := range joined {
		sortBeats(stored[i]) // as the stored ones load: by time, then id
	}
	var delUsers [][16]byte
	var delDays []time.Time
	var users [][16]byte
	var outDays []time.Time
	var dims, values []string
	var seconds []float64
	for k, loc := range recompute {
		mine := stored[spanOf[k]]
		start, end := heartbeat.Bounds(k.day, loc)
		lo := sort.Search(len(mine), func(j int) bool { return !mine[j].Time.Before(start.Add(-p.timeout)) })
		hi := sort.Search(len(mine), func(j int) bool { return mine[j].Time.After(end.Add(p.timeout)) })
		delUsers, delDays = append(delUsers, k.user), append(delDays, k.day)
		for key, v := range heartbeat.DayTotals(mine[lo:hi], start, end, p.timeout) {
			users, outDays = append(users, k.user), append(outDays, k.day)
			dims, values, seconds = append(dims, string(key.Dimension)), append(values, key.Value), append(seconds, v)
		}
	}
	q.Queue(`DELETE FROM heartbeat_durations d USING unnest($1::uuid[], $2::date[]) AS t(u, day)
		WHERE d.user_id = t.u AND d.day = t.day`, delUsers, delDays)
	if len(users) > 0 {
		q.Queue(`INSERT INTO heartbeat_durations (user_id, day, dimension, value, seconds)
			SELECT * FROM unnest($1::uuid[], $2::date[], $3::text[], $4::text[], $5::float8[])`,
			users, outDays, dims, values, seconds)
	}
}

func sortBeats(beats []heartbeat.Heartbeat) {
	slices.SortFunc(beats, func(a, b heartbeat.Heartbeat) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
}

// spans groups the days the rows change into runs of consecutive days per user, each
// with the instants to load for it: the days' bounds in every zone the rows were folded
// in, widened by the timeout. spanOf maps each day to its span.
func (p *Projection) spans(rows []row) ([]span, map[userDay]int) {
	need := map[userDay]span{}
	for _, r := range rows {
		for _, d := range heartbeat.AffectedDays(r.Time, r.loc, p.timeout) {
			start, end := heartbeat.Bounds(d, r.loc)
			w := span{user: r.user, from: start.Add(-p.timeout), to: end.Add(p.timeout)}
			k := userDay{r.user, d}
			if old, ok := need[k]; ok {
				w.from, w.to = minTime(old.from, w.from), maxTime(old.to, w.to)
			}
			need[k] = w
		}
	}
	keys := make([]userDay, 0, len(need))
	for k := range need {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b userDay) int {
		if c := slices.Compare(a.user[:], b.user[:]); c != 0 {
			return c
		}
		return a.day.Compare(b.day)
	})
	out, spanOf := make([]span, 0, len(keys)), make(map[userDay]int, len(keys))
	for n, k := range keys {
		w := need[k]
		if prev := keys[max(n-1, 0)]; n > 0 && prev.user == k.user && prev.day.AddDate(0, 0, 1).Equal(k.day) {
			s := &out[len(out)-1]
			s.from, s.to = minTime(s.from, w.from), maxTime(s.to, w.to)
		} else {
			out = append(out, w)
		}
		spanOf[k] = len(out) - 1
	}
	return out, spanOf
}

// loadSpans reads the stored heartbeats of each span, sorted by time and id, in one query.
func loadSpans(ctx context.Context, tx pgx.Tx, spans []span) ([][]heartbeat.Heartbeat, error) {
	idx := make([]int32, len(spans))
	users := make([][16]byte, len(spans))
	froms, tos := make([]time.Time, len(spans)), make([]time.Time, len(spans))
	for i, s := range spans {
		idx[i], users[i], froms[i], tos[i] = int32(i), s.user, s.from, s.to
	}
	rows, err := tx.Query(ctx, `SELECT w.i, h.time, h.id, h.entity, h.category, h.project, h.branch, h.language, h.editor, h.os, h.machine
		FROM unnest($1::int4[], $2::uuid[], $3::timestamptz[], $4::timestamptz[]) AS w(i, u, f, t)
		JOIN heartbeats h ON h.user_id = w.u AND h.time >= w.f AND h.time <= w.t
		ORDER BY w.i, h.time, h.id`, idx, users, froms, tos)
	if err != nil {
		return nil, fmt.Errorf("heartbeats: load: %w", err)
	}
	out := make([][]heartbeat.Heartbeat, len(spans))
	var i int32
	var h heartbeat.Heartbeat
	_, err = pgx.ForEachRow(rows, []any{&i, &h.Time, (*[16]byte)(&h.ID), &h.Entity, &h.Category, &h.Project, &h.Branch, &h.Language, &h.Editor, &h.OS, &h.Machine},
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
