package metrics

import (
	"errors"
	"testing"
)

func TestParseRange_OrderOfChecks(t *testing.T) {
	cases := []struct {
		from, to string
		want     error
		days     int
	}{
		{"", "2026-11-27", ErrRangeRequired, 0},
		{"2026-11-27", "", ErrRangeRequired, 0},
		{"bad", "", ErrRangeRequired, 0}, // missing beats malformed
		{"2026-2-01", "2026-11-27", ErrRangeFormat, 0},
		{"2026-11-27", "2026-02-29", ErrRangeFormat, 0}, // not a real date
		{"２０２６-11-27", "2026-11-27", ErrRangeFormat, 0},
		{"2026-11-27", "2025-11-27", ErrRangeOrder, 0},
		{"2025-11-26", "2026-11-27", ErrRangeTooLong, 0}, // 367 days
		{"2025-01-01", "2026-11-27", ErrRangeTooLong, 0},
		{"2025-11-27", "2026-11-27", nil, 366},
		{"2025-11-28", "2026-11-27", nil, 365},
		{"2024-01-01", "2024-12-31", nil, 366},
		{"2024-02-29", "2024-02-29", nil, 1},
	}
	for _, c := range cases {
		r, err := ParseRange(c.from, c.to)
		if !errors.Is(err, c.want) || (err == nil && r.Days() != c.days) {
			t.Errorf("ParseRange(%q, %q) = %d days, %v; want %d, %v", c.from, c.to, r.Days(), err, c.days, c.want)
		}
	}
}

func TestParseTopN(t *testing.T) {
	if n, err := ParseTopN("", false); n != DefaultTopN || err != nil {
		t.Fatalf("absent: %d %v", n, err)
	}
	for s, want := range map[string]int{"1": 1, "20": 20, "07": 7} {
		if n, err := ParseTopN(s, true); n != want || err != nil {
			t.Errorf("%q: %d %v", s, n, err)
		}
	}
	for _, s := range []string{"", "0", "21", "-1", "+3", "3.0", "1e1", " 3", "x", "99999999999999999999"} {
		if _, err := ParseTopN(s, true); !errors.Is(err, ErrTopN) {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestRatio(t *testing.T) {
	if Ratio(0, 5) != nil || Ratio(-1, 0) != nil {
		t.Fatal("ratio without lines added must be null")
	}
	for _, c := range []struct {
		a, d int64
		want float64
	}{{10, 3, 0.3}, {3, 1, 0.3333333333333333}, {2, 9, 1}, {5, 0, 0}} {
		if r := Ratio(c.a, c.d); r == nil || *r != c.want {
			t.Errorf("Ratio(%d, %d) = %v, want %v", c.a, c.d, r, c.want)
		}
	}
}
