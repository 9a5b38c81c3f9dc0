package telemetry

import (
	"fmt"
	"math"
)

// Line counting (decision D25). The extension never sends how many lines an edit
// inserted: per text_change it sends characters added and deleted, the replaced line
// ranges of the pre-edit document, and file.lines after the edit. A formula turns that
// into lines added and deleted.
//
//   - V1, the Node formula: width = Σ(end−start+1) over the ranges with end ≥ start;
//     added = width if characters were added, deleted = width if characters were
//     deleted. A 200-line paste at one point counts as 1 line.
//   - V2: explicit metrics.lines_added / metrics.lines_deleted when the event carries
//     them (newer extensions; a missing one of the two is 0). Otherwise, with d =
//     file.lines minus the previous file.lines of the same file in the same session and
//     w the V1 width: pure insert → added max(d, 1); pure delete → deleted max(−d, 1);
//     replacement → deleted w, added max(w+d, 1). Without a previous line count or
//     without file.lines, V1.
type Formula int

const (
	V1 Formula = 1
	V2 Formula = 2
)

// ParseFormula reads "v1" or "v2".
func ParseFormula(s string) (Formula, error) {
	switch s {
	case "v1":
		return V1, nil
	case "v2":
		return V2, nil
	}
	return 0, fmt.Errorf("unknown line counter %q (want v1 or v2)", s)
}

func (f Formula) String() string { return fmt.Sprintf("v%d", int(f)) }

// Range is a replaced range of the pre-edit document, 1-based and inclusive.
type Range struct{ Start, End int64 }

// MaxEventLines caps what one event can count (its width, its explicit counts, its
// lines added or deleted), so that no client number can overflow the sums of the read
// models: it is above anything a valid event reaches (a test holds it to the schema's
// bounds), and only events stored before the bounds were enforced can hit it.
const MaxEventLines = 1 << 40

// Width is the V1 width of ranges: Σ(end−start+1) over ranges with end ≥ start.
func Width(ranges []Range) int64 {
	var w int64
	for _, r := range ranges {
		w = addWidth(w, r.Start, r.End)
	}
	return w
}

// addWidth adds a range's width to w, saturating at MaxEventLines.
func addWidth(w, start, end int64) int64 {
	if end < start {
		return w
	}
	return capLines(addSaturating(w, addSaturating(subSaturating(end, start), 1)))
}

// addSaturating is a+b, or the int64 bound it would pass: counts saturate, never wrap.
func addSaturating(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

// subSaturating is a−b, or the int64 bound it would pass.
func subSaturating(a, b int64) int64 {
	if b == math.MinInt64 {
		if a >= 0 {
			return math.MaxInt64
		}
		return a - b // a < 0: a − (−2^63) fits
	}
	return addSaturating(a, -b)
}

// capLines limits one event's count to 0..MaxEventLines.
func capLines(n int64) int64 { return min(max(n, 0), MaxEventLines) }

// TextChange is what the formulas read from one text_change event.
type TextChange struct {
	CharsAdded   int64
	CharsDeleted int64
	Width        int64 // V1 width of metrics.affected_line_ranges (0 when absent)

	FileLines    int64 // file.lines after the edit, when HasFileLines
	HasFileLines bool

	// Explicit counts from newer extensions, when HasExplicit.
	ExplicitAdded, ExplicitDeleted int64
	HasExplicit                    bool
}

// Lines is the result of a formula for one event.
type Lines struct{ Added, Deleted int64 }

// Count applies the formula. prevLines is the file's previous line count in the same
// session, when hasPrev. Both counts are within 0..MaxEventLines.
func (f Formula) Count(tc TextChange, prevLines int64, hasPrev bool) Lines {
	if f == V2 {
		if tc.HasExplicit {
			return Lines{Added: capLines(tc.ExplicitAdded), Deleted: capLines(tc.ExplicitDeleted)}
		}
		if hasPrev && tc.HasFileLines {
			return countDelta(tc, subSaturating(tc.FileLines, prevLines))
		}
	}
	return countV1(tc)
}

func countV1(tc TextChange) Lines {
	var l Lines
	w := capLines(tc.Width)
	if tc.CharsAdded > 0 {
		l.Added = w
	}
	if tc.CharsDeleted > 0 {
		l.Deleted = w
	}
	return l
}

// countDelta is V2 from the change d of the file's line count.
func countDelta(tc TextChange, d int64) Lines {
	switch {
	case tc.CharsAdded > 0 && tc.CharsDeleted <= 0:
		return Lines{Added: capLines(max(d, 1))}
	case tc.CharsDeleted > 0 && tc.CharsAdded <= 0:
		return Lines{Deleted: capLines(max(subSaturating(0, d), 1))}
	case tc.CharsAdded > 0 && tc.CharsDeleted > 0:
		w := capLines(tc.Width)
		return Lines{Deleted: w, Added: capLines(max(addSaturating(w, d), 1))}
	}
	return Lines{}
}
