package heartbeat

import (
	"maps"
	"math/rand/v2"
	"testing"
	"time"
)

func TestDayTotals(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	day := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC) // clocks go forward in Berlin: a 23-hour day
	start, end := Bounds(day, berlin)
	at := func(h, m int) time.Time { return start.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	b := func(t time.Time, project, machine string) Heartbeat {
		return Heartbeat{Time: t, Project: project, Machine: machine, Entity: "f", Category: "coding"}
	}
	timeout := 15 * time.Minute
	cases := []struct {
		name    string
		beats   []Heartbeat
		total   float64
		project map[string]float64
	}{
		{"gaps under the timeout count", []Heartbeat{b(at(1, 0), "a", "m"), b(at(1, 5), "a", "m"), b(at(1, 19), "b", "m")},
			19 * 60, map[string]float64{"a": 19 * 60}},
		{"a gap of the timeout or more does not", []Heartbeat{b(at(1, 0), "a", "m"), b(at(1, 15), "a", "m"), b(at(1, 45), "a", "m")},
			0, map[string]float64{}},
		{"two machines at once count once", []Heartbeat{b(at(2, 0), "a", "m1"), b(at(2, 1), "a", "m2"), b(at(2, 3), "a", "m1"), b(at(2, 4), "a", "m2")},
			4 * 60, map[string]float64{"a": 4 * 60}},
		{"the day starts at local midnight", []Heartbeat{b(start.Add(-5*time.Minute), "a", "m"), b(start.Add(5*time.Minute), "a", "m")},
			5 * 60, map[string]float64{"a": 5 * 60}},
		{"and ends at the next one", []Heartbeat{b(end.Add(-6*time.Minute), "a", "m"), b(end.Add(4*time.Minute), "a", "m")},
			6 * 60, map[string]float64{"a": 6 * 60}},
		{"no heartbeats", nil, 0, map[string]float64{}},
	}
	for _, c := range cases {
		got := map[Key]float64{}
		for k, micros := range DayTotals(c.beats, start, end, timeout) {
			got[k] = float64(micros) / 1e6
		}
		if got[Key{Total, ""}] != c.total {
			t.Errorf("%s: total %v, want %v", c.name, got[Key{Total, ""}], c.total)
		}
		for p, want := range c.project {
			if got[Key{Project, p}] != want {
				t.Errorf("%s: project %s %v, want %v", c.name, p, got[Key{Project, p}], want)
			}
		}
		var machines float64
		for k, v := range got {
			if k.Dimension == Machine {
				machines += v
			}
		}
		if machines != c.total {
			t.Errorf("%s: machines add up to %v, not the total %v", c.name, machines, c.total)
		}
	}
	if h := end.Sub(start); h != 23*time.Hour {
		t.Errorf("the day of the clock change lasts %v", h)
	}
}

func TestAffectedDays(t *testing.T) {
	late := time.Date(2026, 5, 1, 23, 55, 0, 0, time.UTC)
	if got := AffectedDays(late, time.UTC, 15*time.Minute); len(got) != 2 || !got[1].Equal(time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("late: %v", got)
	}
	if got := AffectedDays(late.Add(-12*time.Hour), time.UTC, 15*time.Minute); len(got) != 1 {
		t.Errorf("noon: %v", got)
	}
}

// TestGap_FoldedGapByGapEqualsTheDayRecomputed: adding each counted gap as its
// heartbeat arrives gives, to the microsecond, the rows DayTotals computes from the
// whole sequence, across midnight and on a 23-hour day.
func TestGap_FoldedGapByGapEqualsTheDayRecomputed(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	timeout := 15 * time.Minute
	rng := rand.New(rand.NewPCG(7, 7))
	at := time.Date(2026, 3, 28, 20, 0, 0, 0, berlin)
	var beats []Heartbeat
	for range 2000 {
		at = at.Add(time.Duration(rng.IntN(20*60_000_000)) * time.Microsecond)
		beats = append(beats, Heartbeat{Time: at.UTC(), Project: []string{"a", "b", ""}[rng.IntN(3)],
			Machine: []string{"m1", "m2"}[rng.IntN(2)], Entity: "f", Category: "coding"})
	}
	folded := map[Day]map[Key]int64{}
	for i := 1; i < len(beats); i++ {
		if Counted(beats[i-1].Time, beats[i].Time, timeout) {
			Gap(folded, &beats[i-1], beats[i].Time, berlin)
		}
	}
	if len(folded) < 3 {
		t.Fatalf("the sequence covers %d days", len(folded))
	}
	for day, got := range folded {
		start, end := Bounds(day, berlin)
		if want := DayTotals(beats, start, end, timeout); !maps.Equal(got, want) {
			t.Errorf("%s: folded %v, recomputed %v", day.Format("2006-01-02"), got, want)
		}
	}
}
