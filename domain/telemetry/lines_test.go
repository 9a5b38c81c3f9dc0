package telemetry

import (
	"math"
	"testing"
)

func TestLineCounting_V1AndV2(t *testing.T) {
	type prev struct {
		lines int64
		ok    bool
	}
	none := prev{}
	had := func(n int64) prev { return prev{n, true} }
	withLines := func(tc TextChange, n int64) TextChange { tc.FileLines, tc.HasFileLines = n, true; return tc }
	cases := []struct {
		name   string
		tc     TextChange
		prev   prev
		v1, v2 Lines
	}{
		{"single-line typing", withLines(TextChange{CharsAdded: 1, Width: Width([]Range{{88, 88}})}, 212), had(212),
			Lines{1, 0}, Lines{1, 0}},
		{"typing a newline adds one line", withLines(TextChange{CharsAdded: 1, Width: 1}, 213), had(212),
			Lines{1, 0}, Lines{1, 0}},
		{"200-line paste at one point", withLines(TextChange{CharsAdded: 8000, Width: Width([]Range{{90, 90}})}, 451), had(251),
			Lines{1, 0}, Lines{200, 0}},
		{"39-line paste of clients.md 5.1", withLines(TextChange{CharsAdded: 1849, Width: 1}, 251), had(212),
			Lines{1, 0}, Lines{39, 0}},
		{"30-line deletion", withLines(TextChange{CharsDeleted: 1200, Width: Width([]Range{{10, 39}})}, 170), had(200),
			Lines{0, 30}, Lines{0, 30}},
		{"30 whole lines deleted leaving the range's last line", withLines(TextChange{CharsDeleted: 1200, Width: Width([]Range{{10, 40}})}, 170), had(200),
			Lines{0, 31}, Lines{0, 30}},
		{"backspace within a line", withLines(TextChange{CharsDeleted: 1, Width: 1}, 200), had(200),
			Lines{0, 1}, Lines{0, 1}},
		{"replacement of 10 lines by 25", withLines(TextChange{CharsAdded: 900, CharsDeleted: 300, Width: Width([]Range{{5, 14}})}, 115), had(100),
			Lines{10, 10}, Lines{25, 10}},
		{"replacement of 10 lines by 1", withLines(TextChange{CharsAdded: 5, CharsDeleted: 300, Width: Width([]Range{{5, 14}})}, 91), had(100),
			Lines{10, 10}, Lines{1, 10}},
		{"rename within one line", withLines(TextChange{CharsAdded: 7, CharsDeleted: 4, Width: 1}, 100), had(100),
			Lines{1, 1}, Lines{1, 1}},
		{"multi-cursor typing on 3 lines", withLines(TextChange{CharsAdded: 3, Width: Width([]Range{{5, 5}, {9, 9}, {12, 12}})}, 100), had(100),
			Lines{3, 0}, Lines{1, 0}},
		{"multi-cursor rename on 3 lines", withLines(TextChange{CharsAdded: 9, CharsDeleted: 6, Width: Width([]Range{{5, 5}, {9, 9}, {12, 12}})}, 100), had(100),
			Lines{3, 3}, Lines{3, 3}},
		{"undo of the 200-line paste", withLines(TextChange{CharsDeleted: 8000, Width: Width([]Range{{90, 290}})}, 251), had(451),
			Lines{0, 201}, Lines{0, 200}},
		{"undo of the 30-line deletion", withLines(TextChange{CharsAdded: 1200, Width: Width([]Range{{10, 10}})}, 200), had(170),
			Lines{1, 0}, Lines{30, 0}},
		{"first edit of a file: no previous count, v1", withLines(TextChange{CharsAdded: 8000, Width: 1}, 451), none,
			Lines{1, 0}, Lines{1, 0}},
		{"missing file.lines: v1", TextChange{CharsAdded: 8000, Width: 1}, had(251),
			Lines{1, 0}, Lines{1, 0}},
		{"missing ranges give width 0", withLines(TextChange{CharsAdded: 3, CharsDeleted: 2}, 10), none,
			Lines{0, 0}, Lines{0, 0}},
		{"reversed range is ignored", withLines(TextChange{CharsAdded: 3, Width: Width([]Range{{9, 5}, {1, 2}})}, 10), none,
			Lines{2, 0}, Lines{2, 0}},
		{"empty change counts nothing", withLines(TextChange{Width: 1}, 10), had(10),
			Lines{0, 0}, Lines{0, 0}},
		{"explicit counts win in v2", withLines(TextChange{CharsAdded: 8000, Width: 1, ExplicitAdded: 200, ExplicitDeleted: 3, HasExplicit: true}, 451), had(251),
			Lines{1, 0}, Lines{200, 3}},
		{"explicit counts without history", TextChange{CharsDeleted: 50, Width: 2, ExplicitDeleted: 2, HasExplicit: true}, none,
			Lines{0, 2}, Lines{0, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := V1.Count(c.tc, c.prev.lines, c.prev.ok); got != c.v1 {
				t.Errorf("v1 = %+v, want %+v", got, c.v1)
			}
			if got := V2.Count(c.tc, c.prev.lines, c.prev.ok); got != c.v2 {
				t.Errorf("v2 = %+v, want %+v", got, c.v2)
			}
		})
	}
}

func TestParseFormula(t *testing.T) {
	for s, want := range map[string]Formula{"v1": V1, "v2": V2} {
		if f, err := ParseFormula(s); err != nil || f != want || f.String() != s {
			t.Errorf("ParseFormula(%q) = %v, %v", s, f, err)
		}
	}
	if _, err := ParseFormula("v3"); err == nil {
		t.Error("v3 accepted")
	}
}

// Client numbers at the int64 edges never wrap: a sum saturates, and one event counts
// at most MaxEventLines.
func TestLineCounting_SaturatesAtTheInt64Edges(t *testing.T) {
	const top, bottom = math.MaxInt64, math.MinInt64
	widths := []struct {
		name   string
		ranges []Range
		want   int64
	}{
		{"−max..max", []Range{{-top, top}}, MaxEventLines},
		{"min..max", []Range{{bottom, top}}, MaxEventLines},
		{"max..max", []Range{{top, top}}, 1},
		{"min..min", []Range{{bottom, bottom}}, 1},
		{"0..max", []Range{{0, top}}, MaxEventLines},
		{"two ranges each just under the cap", []Range{{1, MaxEventLines - 1}, {1, MaxEventLines - 1}}, MaxEventLines},
		{"reversed extreme range", []Range{{top, bottom}}, 0},
	}
	for _, c := range widths {
		if got := Width(c.ranges); got != c.want {
			t.Errorf("width of %s = %d, want %d", c.name, got, c.want)
		}
	}

	counts := []struct {
		name      string
		tc        TextChange
		prevLines int64
		hasPrev   bool
		want      Lines
	}{
		{"explicit max int64", TextChange{CharsAdded: 1, ExplicitAdded: top, ExplicitDeleted: top, HasExplicit: true}, 0, false,
			Lines{MaxEventLines, MaxEventLines}},
		{"explicit min int64", TextChange{CharsAdded: 1, ExplicitAdded: bottom, ExplicitDeleted: bottom, HasExplicit: true}, 0, false,
			Lines{0, 0}},
		{"file from 0 to max int64 lines", TextChange{CharsAdded: 1, Width: 1, FileLines: top, HasFileLines: true}, 0, true,
			Lines{Added: MaxEventLines}},
		{"file from max int64 to min int64 lines", TextChange{CharsDeleted: 1, Width: 1, FileLines: bottom, HasFileLines: true}, top, true,
			Lines{Deleted: MaxEventLines}},
		{"file from min int64 to max int64 lines, replaced", TextChange{CharsAdded: 1, CharsDeleted: 1, Width: top, FileLines: top, HasFileLines: true}, bottom, true,
			Lines{Added: MaxEventLines, Deleted: MaxEventLines}},
		{"file from max int64 to min int64 lines, replaced", TextChange{CharsAdded: 1, CharsDeleted: 1, Width: 5, FileLines: bottom, HasFileLines: true}, top, true,
			Lines{Added: 1, Deleted: 5}},
		{"width max int64 in v1", TextChange{CharsAdded: 1, CharsDeleted: 1, Width: top}, 0, false,
			Lines{MaxEventLines, MaxEventLines}},
	}
	for _, c := range counts {
		if got := V2.Count(c.tc, c.prevLines, c.hasPrev); got != c.want {
			t.Errorf("%s: v2 = %+v, want %+v", c.name, got, c.want)
		}
	}

	sums := []struct{ a, b, want int64 }{
		{top, 1, top}, {top, top, top}, {bottom, -1, bottom}, {bottom, bottom, bottom},
		{top, bottom, -1}, {top - 1, 1, top}, {bottom + 1, -1, bottom}, {MaxEventLines, MaxEventLines, 2 * MaxEventLines},
	}
	for _, c := range sums {
		if got := addSaturating(c.a, c.b); got != c.want {
			t.Errorf("addSaturating(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	for _, c := range []struct{ a, b, want int64 }{{0, bottom, top}, {-1, bottom, top}, {bottom, 1, bottom}, {top, -1, top}, {5, 3, 2}} {
		if got := subSaturating(c.a, c.b); got != c.want {
			t.Errorf("subSaturating(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
