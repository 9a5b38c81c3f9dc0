package heartbeat

import "time"

// Dimension is what a duration is grouped by.
type Dimension string

// The dimensions of the WakaTime summaries; Total is the grand total.
const (
	Total     Dimension = "total"
	Project   Dimension = "project"
	Language  Dimension = "language"
	Editor    Dimension = "editor"
	OS        Dimension = "os"
	Machine   Dimension = "machine"
	Branch    Dimension = "branch"
	Entity    Dimension = "entity"
	Category  Dimension = "category"
	unknownAs           = "Unknown"
)

// Dimensions lists every dimension but Total.
var Dimensions = []Dimension{Project, Language, Editor, OS, Machine, Branch, Entity, Category}

// Value is h's value in d ("Unknown" when the heartbeat has none, as WakaTime shows it).
func (h *Heartbeat) Value(d Dimension) string {
	var v string
	switch d {
	case Project:
		v = h.Project
	case Language:
		v = h.Language
	case Editor:
		v = h.Editor
	case OS:
		v = h.OS
	case Machine:
		v = h.Machine
	case Branch:
		v = h.Branch
	case Entity:
		v = h.Entity
	case Category:
		v = h.Category
	}
	if v == "" {
		return unknownAs
	}
	return v
}

// Key is one row of a day's durations.
type Key struct {
	Dimension Dimension
	Value     string
}

// Counted is how much of the gap between consecutive heartbeats at a and b (a before b)
// is coding time: all of it when it is under timeout, none of it otherwise.
func Counted(a, b time.Time, timeout time.Duration) bool {
	gap := b.Sub(a)
	return gap > 0 && gap < timeout
}

// Gap adds the counted gap [from, to) of heartbeat a to totals, per local day in loc
// that it overlaps (a gap across midnight counts its part before midnight on one day and
// the rest on the next), in microseconds: whole numbers add up to the same sum in any
// order, so a day folded gap by gap equals the day recomputed (DayTotals). Heartbeat
// times are whole microseconds.
func Gap(totals map[Day]map[Key]int64, a *Heartbeat, to time.Time, loc *time.Location) {
	for day := DayOf(a.Time, loc); ; day = day.AddDate(0, 0, 1) {
		start, end := Bounds(day, loc)
		if !start.Before(to) {
			return
		}
		if micros := overlap(a.Time, to, start, end); micros > 0 {
			t := totals[day]
			if t == nil {
				t = map[Key]int64{}
				totals[day] = t
			}
			a.add(t, micros)
		}
	}
}

// add counts micros for the grand total and each of h's dimension values.
func (h *Heartbeat) add(totals map[Key]int64, micros int64) {
	totals[Key{Total, ""}] += micros
	for _, d := range Dimensions {
		totals[Key{d, h.Value(d)}] += micros
	}
}

// overlap is the microseconds [from, to) has in [start, end).
func overlap(from, to, start, end time.Time) int64 {
	if from.Before(start) {
		from = start
	}
	if to.After(end) {
		to = end
	}
	return to.Sub(from).Microseconds()
}

// DayTotals computes the microseconds of the local day [start, end) per dimension value
// (and the grand total under Key{Total, ""}) the WakaTime way: between two consecutive
// heartbeats closer than timeout, the gap counts, for the earlier heartbeat's project,
// language and so on. beats must be sorted by time (then id). Heartbeats of all the
// user's machines are one sequence, so two editors open at once never count twice.
func DayTotals(beats []Heartbeat, start, end time.Time, timeout time.Duration) map[Key]int64 {
	totals := map[Key]int64{}
	for i := 0; i+1 < len(beats); i++ {
		a, b := &beats[i], &beats[i+1]
		if !Counted(a.Time, b.Time, timeout) {
			continue
		}
		if micros := overlap(a.Time, b.Time, start, end); micros > 0 {
			a.add(totals, micros)
		}
	}
	return totals
}

// Day is a calendar day, as midnight UTC of that date (how PostgreSQL dates travel).
type Day = time.Time

// DayOf is the local day of t in loc.
func DayOf(t time.Time, loc *time.Location) Day {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Bounds is the instant range [start, end) of day in loc (23 or 25 hours on the days
// the clocks change).
func Bounds(day Day, loc *time.Location) (start, end time.Time) {
	y, m, d := day.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// Span is the time from the start of local day first to the end of local day last.
func Span(first, last Day, loc *time.Location) (start, end time.Time) {
	start, _ = Bounds(first, loc)
	_, end = Bounds(last, loc)
	return start, end
}

// AffectedDays are the local days whose durations a heartbeat at t can change: a gap
// before or after it may reach timeout into the neighbouring day.
func AffectedDays(t time.Time, loc *time.Location, timeout time.Duration) []Day {
	first, last := DayOf(t.Add(-timeout), loc), DayOf(t.Add(timeout), loc)
	var days []Day
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		days = append(days, d)
	}
	return days
}
