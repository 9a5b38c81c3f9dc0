// Package heartbeats is the heartbeats projection: the read models behind the
// WakaTime-compatible reads.
//
//   - heartbeats: each user's heartbeats (GET /users/current/heartbeats), the WakaTime
//     plugins' and the devFlow extension's activity points (heartbeat.Sampler: one per
//     user, entity and 2-minute window, and every save), so one user with both clients
//     has one sequence and one coding time;
//   - heartbeat_durations: coding microseconds per user, local day, dimension and value,
//     so statusbar/today is one primary-key range read and a summary one range per period;
//   - heartbeat_zones, heartbeat_folds: projection state, each user's time zone as the
//     log says (TimeZoneChanged), and each user's last heartbeat.
//
// Durations are folded gap by gap: a heartbeat after the user's last one adds the gap
// from it (when under the timeout) to the days it covers, O(1) per heartbeat. A
// heartbeat older than the last (an editor's offline queue, a second machine's bulk
// send) changes gaps already counted; the days within the timeout of it are recomputed
// from the stored heartbeats, which is rare. Seconds are whole microseconds, so a day
// folded in any batches equals the day recomputed, and a rebuild gives the same rows. A
// gap counts in the zone the user had when the heartbeat that ends it was folded; a day
// recomputed counts in the zone of the heartbeat that made it recompute.
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

// Version is the read model's version. Version 2 adds the extension's activity and
// folds durations in microseconds.
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
	return []string{"heartbeats", "heartbeat_durations", "heartbeat_zones", "heartbeat_folds"}
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
	// zone is the batch's own TimeZoneChanged before the row ("": the stored zone).
	zone string
	// sampled: an activity point, whose id is its window's, so a later event of the
	// window may find it stored already.
	sampled bool
	// dup: stored already (the row is no new heartbeat).
	dup bool
	heartbeat.Heartbeat
}

// fold is a user's state: the last heartbeat in (time, id) order and the activity points
// stored in its sampling window.
type fold struct {
	last      heartbeat.Heartbeat
	has       bool
	windowIDs []ids.ID
	changed   bool
}

// recompute is a day to count again from the stored heartbeats and the batch's rows up
// to rows[upTo], the late row that changed it last, in that row's zone.
type recompute struct {
	upTo int
	loc  *time.Location
}

// Apply stores the batch's new heartbeats and folds their gaps into the durations. It
// reads the users' zones and folds (one round trip) and, only when a heartbeat is older
// than its user's last, the stored heartbeats around the days to recompute; it queues
// every write.
func (p *Projection) Apply(ctx context.Context, tx pgx.Tx, events []projections.Event, writes *pgx.Batch) error {
	changed := map[ids.ID]string{}
	var rows []row
	seen := map[userID]bool{}
	var sampler heartbeat.Sampler
	// Of the batch's heartbeats with one id (a sampling window's points), the first is the row.
	add := func(user ids.ID, h heartbeat.Heartbeat, sampled bool) {
		if k := (userID{user, h.ID}); !seen[k] {
			seen[k] = true
			rows = append(rows, row{user: user, zone: changed[user], sampled: sampled, Heartbeat: h})
		}
	}
	for i := range events {
		e := &events[i]
		switch pl := e.Payload.(type) {
		case *accounts.TimeZoneChanged:
			changed[pl.UserID] = pl.TimeZone
		case *heartbeat.Heartbeat:
			add(e.User, *pl, false)
		case *telemetry.ClientEvent:
			if e.Session.IsNil() {
				continue // another area's event that happens to share a type name
			}
			if h, ok := sampler.Activity(e.User, e.ID, pl); ok {
				add(e.User, h, !h.IsWrite)
			}
		}
	}
	queueZones(writes, changed)
	if len(rows) == 0 {
		return nil
	}
	zones, folds, err := readState(ctx, tx, rows)
	if err != nil {
		return err
	}
	deltas := map[ids.ID]map[heartbeat.Day]map[heartbeat.Key]int64{}
	recomputes := map[userDay]recompute{}
	for i := range rows {
		r := &rows[i]
		zone := r.zone
		if zone == "" {
			zone = zones[r.user]
		}
		loc := p.location(zone)
		f := folds[r.user]
		if r.sampled && f.has && sameWindow(r.Time, f.last.Time) && slices.Contains(f.windowIDs, r.ID) {
			r.dup = true
			continue
		}
		switch {
		case !f.has || after(&r.Heartbeat, &f.last):
			if f.has && heartbeat.Counted(f.last.Time, r.Time, p.timeout) {
				d := deltas[r.user]
				if d == nil {
					d = map[heartbeat.Day]map[heartbeat.Key]int64{}
					deltas[r.user] = d
				}
				heartbeat.Gap(d, &f.last, r.Time, loc)
			}
			if !f.has || !sameWindow(r.Time, f.last.Time) {
				f.windowIDs = nil
			}
			f.last, f.has = r.Heartbeat, true
		default: // older than the last, or the last again (a resend): it may be stored

			for _, day := range heartbeat.AffectedDays(r.Time, loc, p.timeout) {
				recomputes[userDay{r.user, day}] = recompute{upTo: i, loc: loc}
				delete(deltas[r.user], day) // counted again from the heartbeats up to this one
			}
		}
		if r.sampled && sameWindow(r.Time, f.last.Time) {
			f.windowIDs = append(f.windowIDs, r.ID)
		}
		f.changed = true
	}
	absolute, err := p.recount(ctx, tx, rows, recomputes, deltas)
	if err != nil {
		return err
	}
	if err := copyHeartbeats(ctx, tx, rows); err != nil {
		return err
	}
	queueFolds(writes, folds)
	queueDurations(writes, absolute, deltas)
	return nil
}

// after reports whether h comes after last in (time, id) order, the order of a user's
// heartbeat sequence.
func after(h, last *heartbeat.Heartbeat) bool {
	if c := h.Time.Compare(last.Time); c != 0 {
		return c > 0
	}
	return bytes.Compare(h.ID[:], last.ID[:]) > 0
}

func sameWindow(a, b time.Time) bool {
	wa, _ := heartbeat.SampleWindow(a)
	wb, _ := heartbeat.SampleWindow(b)
	return wa.Equal(wb)
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

// readState reads, in one round trip, the stored zones (the default for a user without
// one) and folds of the rows' users.
func readState(ctx context.Context, tx pgx.Tx, rows []row) (map[ids.ID]string, map[ids.ID]*fold, error) {
	zones, folds := map[ids.ID]string{}, map[ids.ID]*fold{}
	var users [][16]byte
	for _, r := range rows {
		if _, ok := zones[r.user]; !ok {
			zones[r.user], folds[r.user] = accounts.DefaultTimeZone, &fold{}
			users = append(users, r.user)
		}
	}
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
	q.Queue(`SELECT user_id, time, id, entity, category, project, branch, language, editor, os, machine, window_ids
		FROM heartbeat_folds WHERE user_id = ANY($1::uuid[])`, users).Query(func(rs pgx.Rows) error {
		var u [16]byte
		var h heartbeat.Heartbeat
		var window [][16]byte
		_, err := pgx.ForEachRow(rs, []any{&u, &h.Time, (*[16]byte)(&h.ID), &h.Entity, &h.Category, &h.Project, &h.Branch,
			&h.Language, &h.Editor, &h.OS, &h.Machine, &window}, func() error {
			f := &fold{last: h, has: true}
			f.last.Time = h.Time.UTC()
			for _, id := range window {
				f.windowIDs = append(f.windowIDs, id)
			}
			folds[ids.ID(u)] = f
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, q).Close(); err != nil {
		return nil, nil, fmt.Errorf("heartbeats: read zones and folds: %w", err)
	}
	return zones, folds, nil
}

// stamped is a heartbeat of a recomputation: stored (at < 0) or rows[at].
type stamped struct {
	at int
	heartbeat.Heartbeat
}

// recount recomputes the given days: each from the stored heartbeats around it and the
// batch's rows up to the one that made it recompute, plus the gaps folded after that
// (deltas, which it takes over). It marks the rows found stored already as duplicates.
func (p *Projection) recount(ctx context.Context, tx pgx.Tx, rows []row, days map[userDay]recompute,
	deltas map[ids.ID]map[heartbeat.Day]map[heartbeat.Key]int64) (map[userDay]map[heartbeat.Key]int64, error) {
	if len(days) == 0 {
		return nil, nil
	}
	spans, spanOf := p.spans(days)
	stored, err := loadSpans(ctx, tx, spans)
	if err != nil {
		return nil, err
	}
	// A sampled point of an earlier window, or a resent heartbeat, may be stored already.
	storedIDs := map[userID]bool{}
	for i, s := range spans {
		for _, h := range stored[i] {
			storedIDs[userID{s.user, h.ID}] = true
		}
	}
	for i := range rows {
		if storedIDs[userID{rows[i].user, rows[i].ID}] {
			rows[i].dup = true
		}
	}
	seqs := make([][]stamped, len(spans))
	for i, s := range spans {
		for _, h := range stored[i] {
			seqs[i] = append(seqs[i], stamped{-1, h})
		}
		for j := range rows {
			if r := &rows[j]; r.user == s.user && !r.dup && !r.Time.Before(s.from) && !r.Time.After(s.to) {
				seqs[i] = append(seqs[i], stamped{j, r.Heartbeat})
			}
		}
		slices.SortFunc(seqs[i], func(a, b stamped) int {
			if c := a.Time.Compare(b.Time); c != 0 {
				return c
			}
			return bytes.Compare(a.ID[:], b.ID[:])
		})
	}
	out := make(map[userDay]map[heartbeat.Key]int64, len(days))
	var beats []heartbeat.Heartbeat
	for k, rc := range days {
		start, end := heartbeat.Bounds(k.day, rc.loc)
		seq := seqs[spanOf[k]]
		lo := sort.Search(len(seq), func(j int) bool { return !seq[j].Time.Before(start.Add(-p.timeout)) })
		beats = beats[:0]
		for _, s := range seq[lo:] {
			if s.Time.After(end.Add(p.timeout)) {
				break
			}
			if s.at <= rc.upTo {
				beats = append(beats, s.Heartbeat)
			}
		}
		totals := heartbeat.DayTotals(beats, start, end, p.timeout)
		for key, micros := range deltas[k.user][k.day] {
			totals[key] += micros
		}
		delete(deltas[k.user], k.day)
		out[k] = totals
	}
	return out, nil
}

// span is a run of consecutive days of one user, with the instants to load for it.
type span struct {
	user     ids.ID
	from, to time.Time
}

// spans groups the days to recompute into runs of consecutive days per user, each with
// the instants to load for it: the days' bounds widened by the timeout (the gaps into
// them) and a sampling window (a late point's window, to find it stored). spanOf maps
// each day to its span.
func (p *Projection) spans(days map[userDay]recompute) ([]span, map[userDay]int) {
	keys := make([]userDay, 0, len(days))
	for k := range days {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b userDay) int {
		if c := bytes.Compare(a.user[:], b.user[:]); c != 0 {
			return c
		}
		return a.day.Compare(b.day)
	})
	widen := p.timeout + heartbeat.SampleEvery
	out, spanOf := make([]span, 0, len(keys)), make(map[userDay]int, len(keys))
	for n, k := range keys {
		start, end := heartbeat.Bounds(k.day, days[k].loc)
		w := span{user: k.user, from: start.Add(-widen), to: end.Add(widen)}
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

// loadSpans reads the stored heartbeats of each span, in one query.
func loadSpans(ctx context.Context, tx pgx.Tx, spans []span) ([][]heartbeat.Heartbeat, error) {
	idx := make([]int32, len(spans))
	users := make([][16]byte, len(spans))
	froms, tos := make([]time.Time, len(spans)), make([]time.Time, len(spans))
	for i, s := range spans {
		idx[i], users[i], froms[i], tos[i] = int32(i), s.user, s.from, s.to
	}
	rows, err := tx.Query(ctx, `SELECT w.i, h.time, h.id, h.entity, h.category, h.project, h.branch, h.language, h.editor, h.os, h.machine
		FROM unnest($1::int4[], $2::uuid[], $3::timestamptz[], $4::timestamptz[]) AS w(i, u, f, t)
		JOIN heartbeats h ON h.user_id = w.u AND h.time >= w.f AND h.time <= w.t`, idx, users, froms, tos)
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

// heartbeatColumns are the columns of a stored heartbeat.
var heartbeatColumns = []string{"user_id", "time", "id", "entity", "type", "category", "project", "branch", "language",
	"is_write", "lines", "line_additions", "line_deletions", "user_agent", "editor", "os", "machine"}

// copyHeartbeats stores the new rows with COPY, cheaper for the server than an INSERT
// of the same rows (the extension's points are up to a fifth of its events). Every row
// it gets is new: one after its user's last heartbeat cannot be stored yet, and the
// others were looked up (recount).
func copyHeartbeats(ctx context.Context, tx pgx.Tx, rows []row) error {
	fresh := make([][]any, 0, len(rows))
	for i := range rows {
		b := &rows[i]
		if b.dup {
			continue
		}
		fresh = append(fresh, []any{[16]byte(b.user), b.Time, [16]byte(b.ID), b.Entity, b.Type, b.Category, b.Project, b.Branch, b.Language,
			b.IsWrite, b.Lines, b.LineAdditions, b.LineDeletions, b.UserAgent, b.Editor, b.OS, b.Machine})
	}
	if len(fresh) == 0 {
		return nil
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"heartbeats"}, heartbeatColumns, pgx.CopyFromRows(fresh)); err != nil {
		return fmt.Errorf("heartbeats: store: %w", err)
	}
	return nil
}

func queueFolds(q *pgx.Batch, folds map[ids.ID]*fold) {
	var users, hids [][16]byte
	var times []time.Time
	var entity, category, project, branch, language, editor, os, machine, window []string
	for u, f := range folds {
		if !f.changed {
			continue
		}
		h := &f.last
		users, hids, times = append(users, u), append(hids, h.ID), append(times, h.Time)
		entity, category, project = append(entity, h.Entity), append(category, h.Category), append(project, h.Project)
		branch, language, editor = append(branch, h.Branch), append(language, h.Language), append(editor, h.Editor)
		os, machine = append(os, h.OS), append(machine, h.Machine)
		window = append(window, uuidArray(f.windowIDs))
	}
	if len(users) == 0 {
		return
	}
	q.Queue(`INSERT INTO heartbeat_folds (user_id, time, id, entity, category, project, branch, language, editor, os, machine, window_ids)
		SELECT u, t, i, e, c, p, b, l, ed, o, m, w::uuid[]
		FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
			$9::text[], $10::text[], $11::text[], $12::text[]) AS x(u, t, i, e, c, p, b, l, ed, o, m, w)
		ON CONFLICT (user_id) DO UPDATE SET time = excluded.time, id = excluded.id, entity = excluded.entity,
			category = excluded.category, project = excluded.project, branch = excluded.branch, language = excluded.language,
			editor = excluded.editor, os = excluded.os, machine = excluded.machine, window_ids = excluded.window_ids`,
		users, times, hids, entity, category, project, branch, language, editor, os, machine, window)
}

// uuidArray is ids as a PostgreSQL array literal: unnest cannot take an array of arrays.
func uuidArray(list []ids.ID) string {
	b := []byte{'{'}
	for i, id := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, id.String()...)
	}
	return string(append(b, '}'))
}

// queueDurations replaces the recomputed days and adds the folded gaps to the others.
func queueDurations(q *pgx.Batch, absolute map[userDay]map[heartbeat.Key]int64, deltas map[ids.ID]map[heartbeat.Day]map[heartbeat.Key]int64) {
	var users [][16]byte
	var days []time.Time
	var dims, values []string
	var micros []int64
	put := func(user ids.ID, day heartbeat.Day, totals map[heartbeat.Key]int64) {
		for k, v := range totals {
			users, days = append(users, user), append(days, day)
			dims, values, micros = append(dims, string(k.Dimension)), append(values, k.Value), append(micros, v)
		}
	}
	if len(absolute) > 0 {
		delUsers, delDays := make([][16]byte, 0, len(absolute)), make([]time.Time, 0, len(absolute))
		for k, totals := range absolute {
			delUsers, delDays = append(delUsers, k.user), append(delDays, k.day)
			put(k.user, k.day, totals)
		}
		q.Queue(`DELETE FROM heartbeat_durations d USING unnest($1::uuid[], $2::date[]) AS t(u, day)
			WHERE d.user_id = t.u AND d.day = t.day`, delUsers, delDays)
	}
	for u, byDay := range deltas {
		for day, totals := range byDay {
			put(u, day, totals)
		}
	}
	if len(users) == 0 {
		return
	}
	q.Queue(`INSERT INTO heartbeat_durations (user_id, day, dimension, value, micros)
		SELECT * FROM unnest($1::uuid[], $2::date[], $3::text[], $4::text[], $5::int8[])
		ON CONFLICT (user_id, day, dimension, value) DO UPDATE SET micros = heartbeat_durations.micros + excluded.micros`,
		users, days, dims, values, micros)
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
