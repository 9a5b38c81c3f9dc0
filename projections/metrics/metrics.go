// Package metrics is the metrics projection: it folds telemetry events into the read
// models behind GET /metrics/churn and /metrics/context-switching (contract section 8).
//
//   - metrics_daily (user, UTC day) and metrics_session (session): lines added and
//     deleted, editor switches, rapid switches;
//   - metrics_daily_files and metrics_session_files: switches per target file, exact
//     (top files are cut at query time, so no count is lost when a file leaves a top 20);
//   - metrics_file_lines: projection state of line counting v2, the last line count of
//     each file in each session;
//   - metrics_heartbeat_entities: projection state of heartbeats, each user's last file.
//
// WakaTime heartbeats count too, per day only (they have no session): a file heartbeat
// whose entity differs from the user's previous file heartbeat (in log order) is an
// editor switch to that file, and line_additions/line_deletions are explicit lines.
//
// Lines come from the line-count formula of domain/telemetry; the projection's version
// names the formula in use, so switching formulas is a rebuild (decision D25).
package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	"github.com/devflow/backend/projections"
)

// Name is the projection's name (checkpoint key, CLI argument).
const Name = "metrics"

// Version is the read model's version. It names the line-count formula of the live
// projection: version 2 counts lines with formula v2 (LiveFormula). Any change of
// formula or tables is a new version, which the service rebuilds blue/green on start.
// Version 3 folds heartbeats too.
const Version = 3

// LiveFormula is the line-count formula of the live projection.
const LiveFormula = telemetry.V2

// Options configure a metrics projection.
type Options struct {
	// LineCounter is "v1" or "v2" (empty: LiveFormula). Analysts replay with "v1" to
	// compare with the Node implementation's numbers.
	LineCounter string
}

// Validate reports an unknown LineCounter.
func (o Options) Validate() error {
	if o.LineCounter == "" {
		return nil
	}
	_, err := telemetry.ParseFormula(o.LineCounter)
	return err
}

// Projection is the metrics projection.
type Projection struct {
	formula telemetry.Formula
	// idle keeps one batch scratch between Apply calls (a sync.Pool would lose it at
	// every GC).
	idle chan *batch
}

// New builds the projection. It panics on an invalid LineCounter (see Options.Validate).
func New(opts Options) *Projection {
	f := LiveFormula
	if opts.LineCounter != "" {
		var err error
		if f, err = telemetry.ParseFormula(opts.LineCounter); err != nil {
			panic(fmt.Sprintf("metrics: %v", err))
		}
	}
	return &Projection{formula: f, idle: make(chan *batch, 1)}
}

// Name implements projections.Projection.
func (p *Projection) Name() string { return Name }

// Version implements projections.Projection.
func (p *Projection) Version() int { return Version }

// Formula is the line-count formula this projection uses.
func (p *Projection) Formula() telemetry.Formula { return p.formula }

// Handles implements projections.Projection: the session's first event and the client
// events that count (debug sessions, terminals and git activity count for activity only,
// which this read model does not hold).
func (p *Projection) Handles() []string {
	return []string{telemetry.TypeSessionStarted, telemetry.TypeTextChanged, telemetry.TypeFileSaved, telemetry.TypeEditorSwitched,
		heartbeat.TypeRecorded}
}

// Tables implements projections.Projection.
func (p *Projection) Tables() []string {
	return []string{"metrics_daily", "metrics_daily_files", "metrics_session", "metrics_session_files", "metrics_file_lines",
		"metrics_heartbeat_entities"}
}

// counts are the additive numbers of one row.
type counts struct {
	added, deleted, switches, rapid int64
}

type dayKey struct {
	user ids.ID
	day  int32 // days since 1970-01-01 (UTC)
}

type dayFileKey struct {
	dayKey
	path string
}

type sessionFileKey struct {
	session ids.ID
	path    string
}

type sessionAgg struct {
	user  ids.ID
	start time.Time // set when the batch holds the SessionStarted
	counts
}

type lineState struct {
	lines int64
	known bool
}

// obs is one relevant event of a batch, as the fold needs it.
type obs struct {
	kind    uint8
	session ids.ID
	user    ids.ID
	day     int32
	path    string // file.path (text change, save) or to.file (switch)
	lines   int64
	hasLine bool
	text    telemetry.TextChange
	rapid   bool
	added   int64 // a heartbeat's line_additions and line_deletions
	deleted int64
}

const (
	kindText = iota + 1
	kindSave
	kindSwitch
	kindBeat     // a heartbeat that is not of a file: lines only
	kindFileBeat // a file heartbeat: lines, and a switch when its file differs from the last
)

// batch is Apply's scratch space.
type batch struct {
	obs     []obs
	days    map[dayKey]*counts
	dayFile map[dayFileKey]int64
	sess    map[ids.ID]*sessionAgg
	sessOrd []ids.ID
	sessFil map[sessionFileKey]int64
	lines   map[sessionFileKey]lineState
	touched map[sessionFileKey]bool
	// lastFile is each heartbeat user's last file heartbeat's entity ("" unknown);
	// beatUsers marks the users whose entry the batch changes.
	lastFile  map[ids.ID]string
	beatUsers map[ids.ID]bool
}

func (p *Projection) getBatch() *batch {
	select {
	case b := <-p.idle:
		return b
	default:
	}
	return &batch{days: map[dayKey]*counts{}, dayFile: map[dayFileKey]int64{},
		sess: map[ids.ID]*sessionAgg{}, sessFil: map[sessionFileKey]int64{},
		lines: map[sessionFileKey]lineState{}, touched: map[sessionFileKey]bool{},
		lastFile: map[ids.ID]string{}, beatUsers: map[ids.ID]bool{}}
}

func (p *Projection) putBatch(b *batch) {
	clear(b.days)
	clear(b.dayFile)
	clear(b.sess)
	clear(b.sessFil)
	clear(b.lines)
	clear(b.touched)
	clear(b.lastFile)
	clear(b.beatUsers)
	b.obs, b.sessOrd = b.obs[:0], b.sessOrd[:0]
	select {
	case p.idle <- b:
	default:
	}
}

func (b *batch) session(id, user ids.ID) *sessionAgg {
	s := b.sess[id]
	if s == nil {
		s = &sessionAgg{user: user}
		b.sess[id] = s
		b.sessOrd = append(b.sessOrd, id)
	}
	return s
}

// Apply folds a batch: it reads what it needs from every event, loads the line-count
// state of the files the batch touches, folds in log order in memory, and writes each
// changed row once.
func (p *Projection) Apply(ctx context.Context, tx pgx.Tx, events []projections.Event, writes *pgx.Batch) error {
	b := p.getBatch()
	defer p.putBatch(b)
	b.observe(events)
	if len(b.obs) == 0 && len(b.sess) == 0 {
		return nil
	}
	if err := b.loadLines(ctx, tx); err != nil {
		return err
	}
	if err := b.loadLastFiles(ctx, tx); err != nil {
		return err
	}
	b.fold(p.formula)
	b.write(writes)
	return nil
}

func (b *batch) observe(events []projections.Event) {
	for i := range events {
		e := &events[i]
		if hb, ok := e.Payload.(*heartbeat.Heartbeat); ok {
			b.observeHeartbeat(e.User, hb)
			continue
		}
		if e.Session.IsNil() {
			continue // another area's event that happens to share a type name
		}
		switch p := e.Payload.(type) {
		case *telemetry.SessionStarted:
			s := b.session(e.Session, p.Owner)
			s.start = p.StartTime
		case *telemetry.ClientEvent:
			b.observeClient(e, p)
		}
	}
}

func (b *batch) observeClient(e *projections.Event, c *telemetry.ClientEvent) {
	ob := obs{session: e.Session, user: e.User, day: dayOf(c.Time)}
	switch c.Type {
	case telemetry.TypeTextChanged, telemetry.TypeFileSaved:
		if c.File == "" {
			return
		}
		ob.kind = kindSave
		if c.Type == telemetry.TypeTextChanged {
			ob.kind = kindText
		}
		ob.path, ob.lines, ob.hasLine, ob.text = c.File, c.Lines, c.HasLines, c.Text
		b.lines[sessionFileKey{e.Session, ob.path}] = lineState{}
	case telemetry.TypeEditorSwitched:
		ob.kind, ob.path, ob.rapid = kindSwitch, c.SwitchTo, c.Rapid
	default:
		return // stored for activity only
	}
	b.obs = append(b.obs, ob)
}

func (b *batch) observeHeartbeat(user ids.ID, h *heartbeat.Heartbeat) {
	ob := obs{kind: kindBeat, user: user, day: dayOf(h.Time), added: h.LineAdditions, deleted: h.LineDeletions}
	if h.Type == heartbeat.EntityFile {
		ob.kind, ob.path = kindFileBeat, h.Entity
		b.beatUsers[user] = true
	}
	b.obs = append(b.obs, ob)
}

// loadLastFiles reads the last file heartbeat of the users whose heartbeats the batch holds.
func (b *batch) loadLastFiles(ctx context.Context, tx pgx.Tx) error {
	if len(b.beatUsers) == 0 {
		return nil
	}
	users := make([][16]byte, 0, len(b.beatUsers))
	for u := range b.beatUsers {
		users = append(users, u)
	}
	rows, err := tx.Query(ctx, `SELECT user_id, entity FROM metrics_heartbeat_entities WHERE user_id = ANY($1::uuid[])`, users)
	if err != nil {
		return fmt.Errorf("metrics: load last files: %w", err)
	}
	var u [16]byte
	var entity string
	_, err = pgx.ForEachRow(rows, []any{&u, &entity}, func() error {
		b.lastFile[ids.ID(u)] = entity
		return nil
	})
	if err != nil {
		return fmt.Errorf("metrics: load last files: %w", err)
	}
	return nil
}

// dayOf is the UTC day number of t (decision D10).
func dayOf(t time.Time) int32 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return int32(d)
}

// loadLines reads the stored line counts of the files this batch touches.
func (b *batch) loadLines(ctx context.Context, tx pgx.Tx) error {
	if len(b.lines) == 0 {
		return nil
	}
	sessions := make([][16]byte, 0, len(b.lines))
	paths := make([]string, 0, len(b.lines))
	for k := range b.lines {
		sessions = append(sessions, k.session)
		paths = append(paths, k.path)
	}
	rows, err := tx.Query(ctx, `SELECT l.session_id, l.path, l.lines FROM metrics_file_lines l
		JOIN unnest($1::uuid[], $2::text[]) AS k(session_id, path)
			ON l.session_id = k.session_id AND l.path_key = decode(md5(k.path), 'hex')
		WHERE l.lines IS NOT NULL`, sessions, paths)
	if err != nil {
		return fmt.Errorf("metrics: load line counts: %w", err)
	}
	var sid [16]byte
	var path string
	var lines int64
	_, err = pgx.ForEachRow(rows, []any{&sid, &path, &lines}, func() error {
		b.lines[sessionFileKey{ids.ID(sid), path}] = lineState{lines: lines, known: true}
		return nil
	})
	if err != nil {
		return fmt.Errorf("metrics: load line counts: %w", err)
	}
	return nil
}

// fold applies the observations in log order.
func (b *batch) fold(f telemetry.Formula) {
	for i := range b.obs {
		o := &b.obs[i]
		dk := dayKey{o.user, o.day}
		switch o.kind {
		case kindText:
			key := sessionFileKey{o.session, o.path}
			prev := b.lines[key]
			l := f.Count(o.text, prev.lines, prev.known)
			b.lines[key] = lineState{lines: o.lines, known: o.hasLine}
			b.touched[key] = true
			if l.Added == 0 && l.Deleted == 0 {
				continue
			}
			d := b.day(dk)
			d.added += l.Added
			d.deleted += l.Deleted
			s := b.session(o.session, o.user)
			s.added += l.Added
			s.deleted += l.Deleted
		case kindSave:
			if o.hasLine {
				key := sessionFileKey{o.session, o.path}
				b.lines[key] = lineState{lines: o.lines, known: true}
				b.touched[key] = true
			}
		case kindSwitch:
			d := b.day(dk)
			s := b.session(o.session, o.user)
			d.switches++
			s.switches++
			if o.rapid {
				d.rapid++
				s.rapid++
			}
			if o.path != "" {
				b.dayFile[dayFileKey{dk, o.path}]++
				b.sessFil[sessionFileKey{o.session, o.path}]++
			}
		case kindBeat, kindFileBeat:
			if o.added > 0 || o.deleted > 0 {
				d := b.day(dk)
				d.added += o.added
				d.deleted += o.deleted
			}
			if o.kind == kindFileBeat {
				if last := b.lastFile[o.user]; last != "" && last != o.path {
					b.day(dk).switches++
					b.dayFile[dayFileKey{dk, o.path}]++
				}
				b.lastFile[o.user] = o.path
			}
		}
	}
}

func (b *batch) day(k dayKey) *counts {
	c := b.days[k]
	if c == nil {
		c = &counts{}
		b.days[k] = c
	}
	return c
}

// write queues an upsert of every changed row, one statement per table.
func (b *batch) write(q *pgx.Batch) {
	if n := len(b.days); n > 0 {
		users, days := make([][16]byte, 0, n), make([]int32, 0, n)
		var a, d, s, r []int64
		for k, c := range b.days {
			users, days = append(users, k.user), append(days, k.day)
			a, d, s, r = append(a, c.added), append(d, c.deleted), append(s, c.switches), append(r, c.rapid)
		}
		q.Queue(`INSERT INTO metrics_daily AS m (user_id, day, lines_added, lines_deleted, switch_count, rapid_switch_count)
			SELECT u, DATE '1970-01-01' + d, a, x, s, r FROM unnest($1::uuid[], $2::int4[], $3::int8[], $4::int8[], $5::int8[], $6::int8[]) AS t(u, d, a, x, s, r)
			ON CONFLICT (user_id, day) DO UPDATE SET
				lines_added = m.lines_added + excluded.lines_added, lines_deleted = m.lines_deleted + excluded.lines_deleted,
				switch_count = m.switch_count + excluded.switch_count, rapid_switch_count = m.rapid_switch_count + excluded.rapid_switch_count`,
			users, days, a, d, s, r)
	}
	if n := len(b.dayFile); n > 0 {
		users, days, paths, cs := make([][16]byte, 0, n), make([]int32, 0, n), make([]string, 0, n), make([]int64, 0, n)
		for k, c := range b.dayFile {
			users, days, paths, cs = append(users, k.user), append(days, k.day), append(paths, k.path), append(cs, c)
		}
		q.Queue(`INSERT INTO metrics_daily_files AS m (user_id, day, path, switch_count)
			SELECT u, DATE '1970-01-01' + d, p, c FROM unnest($1::uuid[], $2::int4[], $3::text[], $4::int8[]) AS t(u, d, p, c)
			ON CONFLICT (user_id, day, path_key) DO UPDATE SET switch_count = m.switch_count + excluded.switch_count`,
			users, days, paths, cs)
	}
	if n := len(b.sess); n > 0 {
		sids, users, starts := make([][16]byte, 0, n), make([][16]byte, 0, n), make([]pgtype.Timestamptz, 0, n)
		var a, d, s, r []int64
		for _, id := range b.sessOrd {
			c := b.sess[id]
			sids, users = append(sids, id), append(users, c.user)
			starts = append(starts, pgtype.Timestamptz{Time: c.start, Valid: !c.start.IsZero()})
			a, d, s, r = append(a, c.added), append(d, c.deleted), append(s, c.switches), append(r, c.rapid)
		}
		q.Queue(`INSERT INTO metrics_session AS m (session_id, user_id, start_time, lines_added, lines_deleted, switch_count, rapid_switch_count)
			SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
			ON CONFLICT (session_id) DO UPDATE SET start_time = coalesce(m.start_time, excluded.start_time),
				lines_added = m.lines_added + excluded.lines_added, lines_deleted = m.lines_deleted + excluded.lines_deleted,
				switch_count = m.switch_count + excluded.switch_count, rapid_switch_count = m.rapid_switch_count + excluded.rapid_switch_count`,
			sids, users, starts, a, d, s, r)
	}
	if n := len(b.sessFil); n > 0 {
		sids, paths, cs := make([][16]byte, 0, n), make([]string, 0, n), make([]int64, 0, n)
		for k, c := range b.sessFil {
			sids, paths, cs = append(sids, k.session), append(paths, k.path), append(cs, c)
		}
		q.Queue(`INSERT INTO metrics_session_files AS m (session_id, path, switch_count)
			SELECT * FROM unnest($1::uuid[], $2::text[], $3::int8[])
			ON CONFLICT (session_id, path_key) DO UPDATE SET switch_count = m.switch_count + excluded.switch_count`,
			sids, paths, cs)
	}
	if n := len(b.touched); n > 0 {
		sids, paths, lines := make([][16]byte, 0, n), make([]string, 0, n), make([]pgtype.Int8, 0, n)
		for k := range b.touched {
			st := b.lines[k]
			sids, paths = append(sids, k.session), append(paths, k.path)
			lines = append(lines, pgtype.Int8{Int64: st.lines, Valid: st.known})
		}
		q.Queue(`INSERT INTO metrics_file_lines AS m (session_id, path, lines)
			SELECT * FROM unnest($1::uuid[], $2::text[], $3::int8[])
			ON CONFLICT (session_id, path_key) DO UPDATE SET lines = excluded.lines`,
			sids, paths, lines)
	}
	if n := len(b.beatUsers); n > 0 {
		users, entities := make([][16]byte, 0, n), make([]string, 0, n)
		for u := range b.beatUsers {
			users, entities = append(users, u), append(entities, b.lastFile[u])
		}
		q.Queue(`INSERT INTO metrics_heartbeat_entities AS m (user_id, entity)
			SELECT * FROM unnest($1::uuid[], $2::text[])
			ON CONFLICT (user_id) DO UPDATE SET entity = excluded.entity`,
			users, entities)
	}
}
