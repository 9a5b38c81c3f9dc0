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
// batch's new ones, so heartbeats
// that arrive late (an editor's offline queue) or from two machines at once count
// exactly as if they had arrived in time order. Each day is counted in the zone the user
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
	// reach is how far around a day the stored heartbeats are loaded: the timeout, and
	// at least a sampling window, to find a window's point stored by an earlier batch.
	reach time.Duration
	zones map[string]*time.Location // loaded zones by name, kept between batches
}

// New builds the projection; timeout is WAKATIME_TIMEOUT_MINUTES.
func New(timeout time.Duration) *Projection {
	if timeout <= 0 {
		panic("heartbeats: timeout must be positive")
	}
	return &Projection{timeout: timeout, reach: max(timeout, heartbeat.SampleEvery),
		zones: map[string]*time.Location{"UTC": time.UTC}}
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
// extension. A stored heartbeat of the same user with its id and a time in [from, to]
// is the same row (for a sampled point, its window; otherwise its own time).
type row struct {
	user     ids.ID
	loc      *time.Location // the user's zone when the row was folded
	day      heartbeat.Day  // the row's day in loc
	from, to time.Time
	heartbeat.Heartbeat
}

// Apply stores the batch's new heartbeats and recomputes the days they change. It reads
// the zones and the stored heartbeats around the batch's days (two queries) and queues
// every write.
func (p *Projection) Apply(ctx context.Context, tx pgx.Tx, events []projections.Event, writes *pgx.Batch) error {
	zones, err := loadZones(ctx, tx, events)
	if err != nil {
		return err
	}
	changed := map[ids.ID]string{}
	var rows []row
	seen := map[userID]bool{}
	// Of the batch's heartbeats with one id (a sampling window's points), the first is the row.
	add := func(user ids.ID, h heartbeat.Heartbeat, from, to time.Time) {
		if k := (userID{user, h.ID}); !seen[k] {
			seen[k] = true
			loc := p.location(zones[user])
			rows = append(rows, row{user: user, loc: loc, day: heartbeat.DayOf(h.Time, loc), from: from, to: to, Heartbeat: h})
		}
	}
	for i := range events {
		e := &events[i]
		switch pl := e.Payload.(type) {
		case *accounts.TimeZoneChanged:
			zones[pl.UserID], changed[pl.UserID] = pl.TimeZone, pl.TimeZone
		case *heartbeat.Heartbeat:
			add(e.User, *pl, pl.Time, pl.Time)
		case *telemetry.ClientEvent:
			if e.Session.IsNil() {
				continue // another area's event that happens to share a type name
			}
			h, ok := heartbeat.Activity(e.User, e.ID, pl)
			if !ok {
				continue
			}
			from, to := h.Time, h.Time
			if !h.IsWrite {
				from, to = heartbeat.SampleWindow(h.Time)
			}
			add(e.User, h, from, to)
		}
	}
	queueZones(writes, changed)
	if len(rows) == 0 {
		return nil
	}
	spans, spanOf := p.spans(rows)
	stored, err := loadSpans(ctx, tx, spans)
	if err != nil {
		return err
	}
	fresh, recompute := p.fresh(rows, stored, spanOf)
	queueHeartbeats(writes, fresh)
	p.queueDurations(writes, spanOf, stored, fresh, recompute)
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

// fresh returns the rows not stored yet, in log order, and the days they change, each
// with the zone it is counted in (the zone of the last row that changes it).
func (p *Projection) fresh(rows []row, stored [][]heartbeat.Heartbeat, spanOf map[userDay]int) ([]row, map[userDay]*time.Location) {
	recompute := map[userDay]*time.Location{}
	var out []row
	for _, r := range rows {
		if isStored(stored[spanOf[userDay{r.user, r.day}]], r) {
			continue
		}
		out = append(out, r)
		for _, d := range heartbeat.AffectedDays(r.Time, r.loc, p.timeout) {
			recompute[userDay{r.user, d}] = r.loc
		}
	}
	return out, recompute
}

// isStored reports whether beats (sorted by time) hold r.
func isStored(beats []heartbeat.Heartbeat, r row) bool {
	i := sort.Search(len(beats), func(k int) bool { return !beats[k].Time.Before(r.from) })
	for ; i < len(beats) && !beats[i].Time.After(r.to); i++ {
		if beats[i].ID == r.ID {
			return true
		}
	}
	return false
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

// queueDurations rewrites the durations of the days to recompute from the stored
// heartbeats of their spans and the fresh rows.
func (p *Projection) queueDurations(q *pgx.Batch, spanOf map[userDay]int, stored [][]heartbeat.Heartbeat,
	fresh []row, recompute map[userDay]*time.Location) {
	if len(recompute) == 0 {
		return
	}
	joined := map[int]bool{}
	for _, r := range fresh { // a fresh row's days are all in the span of its own day
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

// spans groups the days the rows can change into runs of consecutive days per user, each
// with the instants to load for it: the days' bounds in every zone the rows were folded
// in, widened by reach. spanOf maps each day to its span.
func (p *Projection) spans(rows []row) ([]span, map[userDay]int) {
	need := map[userDay]span{}
	for _, r := range rows {
		for _, d := range heartbeat.AffectedDays(r.Time, r.loc, p.timeout) {
			start, end := heartbeat.Bounds(d, r.loc)
			w := span{user: r.user, from: start.Add(-p.reach), to: end.Add(p.reach)}
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
