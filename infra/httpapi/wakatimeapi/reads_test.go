package wakatimeapi_test

import (
	"fmt"
	"testing"
	"time"
)

type summariesBody struct {
	Data []struct {
		GrandTotal struct {
			TotalSeconds float64 `json:"total_seconds"`
		} `json:"grand_total"`
		Projects []struct {
			Name         string
			TotalSeconds float64 `json:"total_seconds"`
		}
		Machines []struct {
			Name         string
			TotalSeconds float64 `json:"total_seconds"`
		}
		Range struct{ Date string }
	}
	CumulativeTotal struct{ Seconds float64 } `json:"cumulative_total"`
}

func byName(list []struct {
	Name         string
	TotalSeconds float64 `json:"total_seconds"`
}) map[string]float64 {
	out := map[string]float64{}
	for _, i := range list {
		out[i.Name] = i.TotalSeconds
	}
	return out
}

// TestDurations_ScriptedDayInTheUsersZone: gaps under the 15-minute timeout count, gaps
// at or over it do not, two machines at once count once, and a gap across midnight in
// Europe/Berlin counts on both sides of it.
func TestDurations_ScriptedDayInTheUsersZone(t *testing.T) {
	c := start(t)
	u := c.newUser("dora")
	var me map[string]any
	if st := c.do("PATCH", "/api/v1/auth/me", bearer(u.jwt), map[string]string{"time_zone": "Europe/Berlin"}, &me); st != 200 || me["time_zone"] != "Europe/Berlin" {
		t.Fatalf("set zone: %d %v", st, me)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	today := time.Now().In(berlin)
	day := time.Date(today.Year(), today.Month(), today.Day()-2, 0, 0, 0, 0, berlin)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }

	send := func(machine string, beats ...map[string]any) {
		h := basic(u.key)
		h["X-Machine-Name"] = machine
		var r responses
		items := make([]any, len(beats))
		for i, b := range beats {
			items[i] = b
		}
		if st := c.do("POST", "/api/v1/users/current/heartbeats.bulk", h, items, &r); st != 201 {
			t.Fatalf("status %d", st)
		}
	}
	// m1: project A 10:00, 10:05, 10:10 (10 min), then 30 min of silence (over the timeout).
	send("m1", beat("a.go", "A", at(10, 0)), beat("a.go", "A", at(10, 5)), beat("a.go", "A", at(10, 10)))
	// Project B on two machines at once: m1 10:40 and 10:50, m2 10:42 and 10:47. One
	// sequence 10:40, 10:42, 10:47, 10:50: 10 minutes, not 10 + 5.
	send("m1", beat("b.go", "B", at(10, 40)), beat("b.go", "B", at(10, 50)))
	send("m2", beat("b.go", "B", at(10, 42)), beat("b.go", "B", at(10, 47)))
	// Exactly the timeout apart: nothing counts.
	send("m1", beat("d.go", "D", at(15, 0)), beat("d.go", "D", at(15, 15)))
	// Across midnight: 23:52 → 00:04 (8 min before, 4 after), then 00:04 → 00:10.
	send("m1", beat("c.go", "C", at(23, 52)), beat("c.go", "C", at(24, 4)), beat("c.go", "C", at(24, 10)))
	// Sent late, out of order: the first heartbeat of the day at 09:58 adds 2 minutes to A.
	send("m1", beat("a.go", "A", at(9, 58)))

	first, second := day.Format("2006-01-02"), day.AddDate(0, 0, 1).Format("2006-01-02")
	want := map[string]map[string]float64{
		first:  {"A": 12 * 60, "B": 10 * 60, "C": 8 * 60},
		second: {"C": 10 * 60},
	}
	wantMachines := map[string]float64{"m1": 12*60 + 2*60 + 8*60, "m2": 5*60 + 3*60}
	var s summariesBody
	eventually(t, "the scripted durations", func() bool {
		if st := c.do("GET", "/api/v1/users/current/summaries?start="+first+"&end="+second, basic(u.key), nil, &s); st != 200 {
			t.Fatalf("summaries: %d", st)
		}
		return len(s.Data) == 2 && s.CumulativeTotal.Seconds == 40*60
	})
	for _, d := range s.Data {
		var sum float64
		for _, v := range want[d.Range.Date] {
			sum += v
		}
		if got := byName(d.Projects); fmt.Sprint(got) != fmt.Sprint(want[d.Range.Date]) || d.GrandTotal.TotalSeconds != sum {
			t.Errorf("%s: projects %v total %v, want %v total %v", d.Range.Date, got, d.GrandTotal.TotalSeconds, want[d.Range.Date], sum)
		}
	}
	if got := byName(s.Data[0].Machines); fmt.Sprint(got) != fmt.Sprint(wantMachines) {
		t.Errorf("machines %v, want %v", got, wantMachines)
	}
	var bad map[string]any
	if st := c.do("PATCH", "/api/v1/auth/me", bearer(u.jwt), map[string]string{"time_zone": "Mars/Olympus"}, &bad); st != 400 {
		t.Errorf("unknown zone: %d", st)
	}
}

// TestReads_AnotherUsersDataIsNeverVisible: naming another user is 403, and a user's
// reads show only their own heartbeats.
func TestReads_AnotherUsersDataIsNeverVisible(t *testing.T) {
	c := start(t)
	alice, bob := c.newUser("alice"), c.newUser("bob")
	now := time.Now().Add(-time.Hour)
	var r responses
	if st := c.do("POST", "/api/v1/users/current/heartbeats.bulk", basic(alice.key),
		[]any{beat("secret.go", "secret", now), beat("secret.go", "secret", now.Add(time.Minute))}, &r); st != 201 {
		t.Fatalf("status %d", st)
	}
	day := now.UTC().Format("2006-01-02")
	eventually(t, "alice's heartbeats", func() bool { return len(heartbeatsOn(c, alice, day)) == 2 })
	for _, path := range []string{"", "/statusbar/today", "/summaries?range=today", "/stats/last_7_days", "/all_time_since_today",
		"/projects", "/heartbeats?date=" + day} {
		var body map[string]any
		if st := c.do("GET", "/api/v1/users/alice"+path, basic(bob.key), nil, &body); st != 403 {
			t.Errorf("bob reads alice%s: %d", path, st)
		}
		if st := c.do("GET", "/api/v1/users/alice"+path, basic(alice.key), nil, &body); st != 200 {
			t.Errorf("alice reads herself by name%s: %d", path, st)
		}
	}
	if st := c.do("POST", "/api/v1/users/alice/heartbeats.bulk", basic(bob.key), []any{beat("x.go", "x", now)}, &r); st != 403 {
		t.Errorf("bob writes as alice: %d", st)
	}
	if got := heartbeatsOn(c, bob, day); len(got) != 0 {
		t.Errorf("bob sees %v", got)
	}
	var projects struct{ Data []map[string]any }
	c.do("GET", "/api/v1/users/current/projects", basic(bob.key), nil, &projects)
	var all struct {
		Data struct {
			TotalSeconds float64 `json:"total_seconds"`
		}
	}
	c.do("GET", "/api/v1/users/current/all_time_since_today", basic(bob.key), nil, &all)
	if len(projects.Data) != 0 || all.Data.TotalSeconds != 0 {
		t.Errorf("bob's projects %v, all time %v", projects.Data, all.Data.TotalSeconds)
	}
}

// TestMetrics_HeartbeatOnlyUser: the dashboard's churn and context switching for a user
// who only ever sent heartbeats, against a day computed by hand.
func TestMetrics_HeartbeatOnlyUser(t *testing.T) {
	c := start(t)
	u := c.newUser("erin")
	day := time.Now().UTC().AddDate(0, 0, -1).Truncate(24 * time.Hour)
	at := func(m int) time.Time { return day.Add(time.Duration(9*60+m) * time.Minute) }
	lines := func(b map[string]any, added, deleted int) map[string]any {
		b["line_additions"], b["line_deletions"] = added, deleted
		return b
	}
	app := beat("Slack", "", at(4))
	app["type"] = "app"
	var r responses
	// a.go, a.go, b.go (switch to b), Slack (not a file), a.go (switch to a), c.go (switch to c).
	if st := c.do("POST", "/api/v1/users/current/heartbeats.bulk", basic(u.key), []any{
		lines(beat("a.go", "p", at(0)), 10, 2), lines(beat("a.go", "p", at(1)), 5, 0), lines(beat("b.go", "p", at(2)), 3, 1),
		app, beat("a.go", "p", at(5)), lines(beat("c.go", "p", at(6)), 0, 4),
	}, &r); st != 201 {
		t.Fatalf("status %d", st)
	}
	d := day.Format("2006-01-02")
	var churn struct {
		Added   int `json:"total_lines_added"`
		Deleted int `json:"total_lines_deleted"`
	}
	eventually(t, "the churn", func() bool {
		c.do("GET", "/api/v1/metrics/churn?from="+d+"&to="+d, bearer(u.jwt), nil, &churn)
		return churn.Added != 0
	})
	if churn.Added != 18 || churn.Deleted != 7 {
		t.Errorf("churn %+v, want 18 added, 7 deleted", churn)
	}
	var sw struct {
		SwitchCount int `json:"switch_count"`
		TopFiles    []struct {
			Path  string
			Count int
		} `json:"top_files"`
	}
	c.do("GET", "/api/v1/metrics/context-switching?from="+d+"&to="+d, bearer(u.jwt), nil, &sw)
	if sw.SwitchCount != 3 || fmt.Sprint(sw.TopFiles) != "[{a.go 1} {b.go 1} {c.go 1}]" {
		t.Errorf("switching %+v, want 3 switches to a.go, b.go, c.go once each", sw)
	}
}
