package heartbeat

import (
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
		got := DayTotals(c.beats, start, end, timeout)
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
