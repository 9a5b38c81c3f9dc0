package telemetry

import "fmt"

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

// maxWidth caps widths so absurd client numbers cannot overflow the sums.
const maxWidth = 1 << 40

// Width is the V1 width of ranges: Σ(end−start+1) over ranges with end ≥ start.
func Width(ranges []Range) int64 {
	var w int64
	for _, r := range ranges {
		w = addWidth(w, r.Start, r.End)
	}
	return w
}

func addWidth(w, start, end int64) int64 {
	if end < start {
		return w
	}
	d := end - start + 1
	if d <= 0 || d > maxWidth { // overflowed or absurd
		d = maxWidth
	}
	w += d
	if w > maxWidth {
		w = maxWidth
	}
	return w
}

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
// session, when hasPrev.
func (f Formula) Count(tc TextChange, prevLines int64, hasPrev bool) Lines {
	if f == V2 {
		if tc.HasExplicit {
			return Lines{Added: tc.ExplicitAdded, Deleted: tc.ExplicitDeleted}
		}
		if hasPrev && tc.HasFileLines {
			return countDelta(tc, tc.FileLines-prevLines)
		}
	}
	return countV1(tc)
}

func countV1(tc TextChange) Lines {
	var l Lines
	if tc.CharsAdded > 0 {
		l.Added = tc.Width
	}
	if tc.CharsDeleted > 0 {
		l.Deleted = tc.Width
	}
	return l
}

func countDelta(tc TextChange, d int64) Lines {
	switch {
	case tc.CharsAdded > 0 && tc.CharsDeleted <= 0:
		return Lines{Added: max(d, 1)}
	case tc.CharsDeleted > 0 && tc.CharsAdded <= 0:
		return Lines{Deleted: max(-d, 1)}
	case tc.CharsAdded > 0 && tc.CharsDeleted > 0:
		return Lines{Deleted: tc.Width, Added: max(tc.Width+d, 1)}
	}
	return Lines{}
}
