// Package metrics answers the metrics queries of the API (contract 3.16, 3.17 and
// section 8) from the read models of the metrics projection only: churn (lines added
// and deleted, ratio) and context switching (switch counts, rapid switches, top files),
// per UTC day or per session.
package metrics

import (
	"context"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/ids"
)

// Definitions reported with the answers (8.2, 8.3).
const (
	ChurnDefinition           = "typing-heuristic"
	ContextSwitchesDefinition = "editor-switch-count"
)

// MaxRangeDays bounds a range, both days included (decision D11).
const MaxRangeDays = 366

// Top-n bounds and default (3.17).
const (
	DefaultTopN = 10
	MaxTopN     = 20
)

// InvalidError is a bad query parameter; Message is the contract's exact sentence.
type InvalidError struct{ Message string }

func (e *InvalidError) Error() string { return e.Message }

// The validation sentences, in the order they are checked (3.16, 3.17).
var (
	ErrRangeRequired = &InvalidError{"from and to are required (YYYY-MM-DD)"}
	ErrRangeFormat   = &InvalidError{"from and to must be YYYY-MM-DD"}
	ErrRangeOrder    = &InvalidError{"from must be <= to"}
	ErrRangeTooLong  = &InvalidError{"range must be at most 366 days"}
	ErrTopN          = &InvalidError{"top_n must be an integer 1..20"}
)

// Range is an inclusive range of UTC days.
type Range struct{ From, To time.Time }

// Days is the number of days in the range, both ends included.
func (r Range) Days() int { return int(r.To.Sub(r.From).Hours()/24) + 1 }

var datePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// ParseRange validates from and to in the contract's order.
func ParseRange(from, to string) (Range, error) {
	if from == "" || to == "" {
		return Range{}, ErrRangeRequired
	}
	f, ok1 := parseDate(from)
	t, ok2 := parseDate(to)
	if !ok1 || !ok2 {
		return Range{}, ErrRangeFormat
	}
	if f.After(t) {
		return Range{}, ErrRangeOrder
	}
	r := Range{From: f, To: t}
	if r.Days() > MaxRangeDays {
		return Range{}, ErrRangeTooLong
	}
	return r, nil
}

// parseDate accepts YYYY-MM-DD naming a real calendar date.
func parseDate(s string) (time.Time, bool) {
	if !datePattern.MatchString(s) {
		return time.Time{}, false
	}
	t, err := time.Parse("2006-01-02", s)
	return t, err == nil
}

var digits = regexp.MustCompile(`^[0-9]+$`)

// ParseTopN reads top_n: absent means DefaultTopN; present, it must be a base-10
// integer in 1..MaxTopN.
func ParseTopN(s string, present bool) (int, error) {
	if !present {
		return DefaultTopN, nil
	}
	if !digits.MatchString(s) || len(s) > 9 {
		return 0, ErrTopN
	}
	n, _ := strconv.Atoi(s)
	if n < 1 || n > MaxTopN {
		return 0, ErrTopN
	}
	return n, nil
}

// Ratio is the churn ratio of 8.2: nil when nothing was added, otherwise
// min(1, deleted/added), unrounded.
func Ratio(added, deleted int64) *float64 {
	if added <= 0 {
		return nil
	}
	r := min(1, float64(deleted)/float64(added))
	return &r
}

// DB is what the queries need: a pool, a connection or a transaction.
type DB interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Queries reads the metrics read models.
type Queries struct{ db DB }

// New builds the queries over db.
func New(db DB) *Queries {
	if db == nil {
		panic("metrics: nil db")
	}
	return &Queries{db: db}
}

// Churn is the daily-grain churn answer.
type Churn struct {
	Ratio        *float64
	LinesAdded   int64
	LinesDeleted int64
	Series       []ChurnDay
}

// ChurnDay is one day of the churn series.
type ChurnDay struct {
	Date         time.Time
	LinesAdded   int64
	LinesDeleted int64
	Ratio        *float64
}

// SessionChurn is one session of the session-grain churn answer.
type SessionChurn struct {
	SessionID    ids.ID
	Ratio        *float64
	LinesAdded   int64
	LinesDeleted int64
}

// Switches is the daily-grain context-switching answer.
type Switches struct {
	SwitchCount      int64
	RapidSwitchCount int64
	TopFiles         []FileCount
	Series           []SwitchDay
}

// SwitchDay is one day of the context-switching series.
type SwitchDay struct {
	Date             time.Time
	SwitchCount      int64
	RapidSwitchCount int64
}

// FileCount is one entry of top_files.
type FileCount struct {
	Path  string
	Count int64
}

// SessionSwitches is one session of the session-grain context-switching answer.
type SessionSwitches struct {
	SessionID        ids.ID
	SwitchCount      int64
	RapidSwitchCount int64
	TopFiles         []FileCount
}

type dayRow struct {
	day        time.Time
	a, b, c, d int64
}

// daily reads the range's metrics_daily rows into a zero-filled, ordered series.
func (q *Queries) daily(user ids.ID, r Range, batch *pgx.Batch) []dayRow {
	series := make([]dayRow, r.Days())
	for i := range series {
		series[i].day = r.From.AddDate(0, 0, i)
	}
	batch.Queue(`SELECT day, lines_added, lines_deleted, switch_count, rapid_switch_count FROM metrics_daily
		WHERE user_id = $1 AND day BETWEEN $2 AND $3`, [16]byte(user), r.From, r.To).Query(func(rows pgx.Rows) error {
		var row dayRow
		_, err := pgx.ForEachRow(rows, []any{&row.day, &row.a, &row.b, &row.c, &row.d}, func() error {
			i := int(row.day.Sub(r.From).Hours() / 24)
			if i >= 0 && i < len(series) {
				row.day = series[i].day
				series[i] = row
			}
			return nil
		})
		return err
	})
	return series
}

// ChurnDaily answers churn at daily grain.
func (q *Queries) ChurnDaily(ctx context.Context, user ids.ID, r Range) (Churn, error) {
	batch := &pgx.Batch{}
	rows := q.daily(user, r, batch)
	if err := q.db.SendBatch(ctx, batch).Close(); err != nil {
		return Churn{}, err
	}
	out := Churn{Series: make([]ChurnDay, len(rows))}
	for i, d := range rows {
		out.LinesAdded += d.a
		out.LinesDeleted += d.b
		out.Series[i] = ChurnDay{Date: d.day, LinesAdded: d.a, LinesDeleted: d.b, Ratio: Ratio(d.a, d.b)}
	}
	out.Ratio = Ratio(out.LinesAdded, out.LinesDeleted)
	return out, nil
}

// sessionsSQL lists the user's sessions that started in the range (8.5: from
// T00:00:00.000Z to T23:59:59.999Z) and have something counted, oldest first.
const sessionsSQL = `SELECT session_id, lines_added, lines_deleted, switch_count, rapid_switch_count FROM metrics_session
	WHERE user_id = $1 AND start_time >= $2 AND start_time <= $3
	  AND (lines_added <> 0 OR lines_deleted <> 0 OR switch_count <> 0)
	ORDER BY start_time, session_id`

func sessionBounds(r Range) (time.Time, time.Time) {
	return r.From, r.To.Add(24*time.Hour - time.Millisecond)
}

// ChurnSessions answers churn at session grain.
func (q *Queries) ChurnSessions(ctx context.Context, user ids.ID, r Range) ([]SessionChurn, error) {
	from, to := sessionBounds(r)
	rows, err := q.db.Query(ctx, sessionsSQL, [16]byte(user), from, to)
	if err != nil {
		return nil, err
	}
	out := []SessionChurn{}
	var id [16]byte
	var a, d, s, rs int64
	_, err = pgx.ForEachRow(rows, []any{&id, &a, &d, &s, &rs}, func() error {
		out = append(out, SessionChurn{SessionID: id, LinesAdded: a, LinesDeleted: d, Ratio: Ratio(a, d)})
		return nil
	})
	return out, err
}

// SwitchesDaily answers context switching at daily grain.
func (q *Queries) SwitchesDaily(ctx context.Context, user ids.ID, r Range, topN int) (Switches, error) {
	batch := &pgx.Batch{}
	rows := q.daily(user, r, batch)
	top := []FileCount{}
	batch.Queue(`SELECT path, sum(switch_count)::int8 AS n FROM metrics_daily_files
		WHERE user_id = $1 AND day BETWEEN $2 AND $3
		GROUP BY path ORDER BY n DESC, path COLLATE "C" LIMIT $4`, [16]byte(user), r.From, r.To, topN).Query(func(rs pgx.Rows) error {
		var f FileCount
		_, err := pgx.ForEachRow(rs, []any{&f.Path, &f.Count}, func() error { top = append(top, f); return nil })
		return err
	})
	if err := q.db.SendBatch(ctx, batch).Close(); err != nil {
		return Switches{}, err
	}
	out := Switches{TopFiles: top, Series: make([]SwitchDay, len(rows))}
	for i, d := range rows {
		out.SwitchCount += d.c
		out.RapidSwitchCount += d.d
		out.Series[i] = SwitchDay{Date: d.day, SwitchCount: d.c, RapidSwitchCount: d.d}
	}
	return out, nil
}

// SwitchesSessions answers context switching at session grain.
func (q *Queries) SwitchesSessions(ctx context.Context, user ids.ID, r Range, topN int) ([]SessionSwitches, error) {
	from, to := sessionBounds(r)
	out := []SessionSwitches{}
	index := map[ids.ID]int{}
	batch := &pgx.Batch{}
	batch.Queue(sessionsSQL, [16]byte(user), from, to).Query(func(rows pgx.Rows) error {
		var id [16]byte
		var a, d, s, rs int64
		_, err := pgx.ForEachRow(rows, []any{&id, &a, &d, &s, &rs}, func() error {
			index[id] = len(out)
			out = append(out, SessionSwitches{SessionID: id, SwitchCount: s, RapidSwitchCount: rs, TopFiles: []FileCount{}})
			return nil
		})
		return err
	})
	// The same session selection, joined to its files, top n per session.
	batch.Queue(`SELECT session_id, path, switch_count FROM (
			SELECT f.session_id, f.path, f.switch_count,
			       row_number() OVER (PARTITION BY f.session_id ORDER BY f.switch_count DESC, f.path COLLATE "C") AS rank
			FROM metrics_session_files f JOIN metrics_session m USING (session_id)
			WHERE m.user_id = $1 AND m.start_time >= $2 AND m.start_time <= $3
		) ranked WHERE rank <= $4 ORDER BY session_id, rank`, [16]byte(user), from, to, topN).Query(func(rows pgx.Rows) error {
		var id [16]byte
		var f FileCount
		_, err := pgx.ForEachRow(rows, []any{&id, &f.Path, &f.Count}, func() error {
			if i, ok := index[id]; ok {
				out[i].TopFiles = append(out[i].TopFiles, f)
			}
			return nil
		})
		return err
	})
	if err := q.db.SendBatch(ctx, batch).Close(); err != nil {
		return nil, err
	}
	return out, nil
}
