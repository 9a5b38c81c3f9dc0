package wakatimeapi_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/devflow/backend/domain/ids"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
)

type statusBody struct {
	Data struct {
		GrandTotal struct {
			TotalSeconds float64 `json:"total_seconds"`
		} `json:"grand_total"`
		Categories, Editors, Projects []struct {
			Name         string
			TotalSeconds float64 `json:"total_seconds"`
		}
	}
}

func (c *client) statusBar(u user) statusBody {
	c.t.Helper()
	var s statusBody
	if st := c.do("GET", "/api/v1/users/current/statusbar/today", basic(u.key), nil, &s); st != 200 {
		c.t.Fatalf("statusbar: %d", st)
	}
	return s
}

// sendTelemetry posts events as the extension does.
func (c *client) sendTelemetry(u user, events ...tt.Event) {
	c.t.Helper()
	var out map[string]any
	if st := c.do("POST", "/api/v1/telemetry", bearer(u.jwt), json.RawMessage(tt.Payload(events...)), &out); st != 202 {
		c.t.Fatalf("telemetry: %d %v", st, out)
	}
}

// todayAt is an instant of today (UTC, the users' default zone) in whole seconds.
func todayAt(seconds int) time.Time {
	return time.Now().UTC().Truncate(24 * time.Hour).Add(10*time.Hour + time.Duration(seconds)*time.Second)
}

// TestStatusBar_ExtensionTelemetryOnly: the extension's text changes, saves, switches,
// debug sessions, terminals and git activity are coding time, sampled like
// wakatime-cli: one point per file (or workspace) per 2-minute window, and every save.
func TestStatusBar_ExtensionTelemetryOnly(t *testing.T) {
	c := start(t)
	u := c.newUser("fay")
	s := ids.New().String()
	at := todayAt // 10:00:00 is a window's start
	text := func(sec int, path string) tt.Event {
		return tt.TextChange(s, at(sec), path, 120, 1, 0, tt.Range{Start: 3, End: 3})
	}
	// The window [0s, 120s) of a.ts: one point, at 0 (its first event).
	c.sendTelemetry(u, text(0, "src/a.ts"), text(30, "src/a.ts"), text(90, "src/a.ts"))
	eventually(t, "the first window", func() bool { return len(heartbeatsOn(c, u, at(0).Format("2006-01-02"))) == 1 })
	// Another batch: 119 is still the first window (no point); 125 opens the next, 200 is
	// in it; the save at 210 is its own point; the switch to b.ts at 215 is b.ts's point
	// of that window, and b.ts's keystroke at 220 is in it too; 400 is b.ts's next
	// window, 450 in it.
	c.sendTelemetry(u, text(119, "src/a.ts"), text(125, "src/a.ts"), text(200, "src/a.ts"),
		tt.FileSave(s, at(210), "src/a.ts", 121), tt.EditorSwitch(s, at(215), "src/a.ts", "src/b.ts", false),
		text(220, "src/b.ts"), text(400, "src/b.ts"), text(450, "src/b.ts"))
	// 16 minutes later, over the 15-minute timeout: a terminal (a workspace point), git
	// activity in the same window (no point), a debug session (a point of its own
	// category) and a keystroke.
	c.sendTelemetry(u, tt.TerminalOpen(s, at(1360), false), tt.GitActivity(s, at(1400), "main", 2),
		tt.DebugStart(s, at(1420)), text(1500, "src/a.ts"))

	// Points 0, 125, 210, 215, 400 | 1360, 1420, 1500: gaps 125+85+5+185 and 60+80.
	want := 125 + 85 + 5 + 185 + 60 + 80
	var got statusBody
	eventually(t, "the extension's coding time", func() bool {
		got = c.statusBar(u)
		return got.Data.GrandTotal.TotalSeconds == float64(want)
	})
	if cats := fmt.Sprint(got.Data.Categories); cats != fmt.Sprintf("[{coding %d} {debugging 80}]", want-80) {
		t.Errorf("categories %s", cats)
	}
	if eds, ps := fmt.Sprint(got.Data.Editors), fmt.Sprint(got.Data.Projects); eds != fmt.Sprintf("[{vscode %d}]", want) ||
		ps != fmt.Sprintf("[{shop-api %d}]", want) {
		t.Errorf("editors %s, projects %s", eds, ps)
	}
	beats := heartbeatsOn(c, u, at(0).Format("2006-01-02"))
	var entities []string
	for _, b := range beats {
		entities = append(entities, fmt.Sprintf("%v/%v/%v", b["entity"], b["type"], b["is_write"]))
	}
	wantEntities := "[src/a.ts/file/false src/a.ts/file/false src/a.ts/file/true src/b.ts/file/false src/b.ts/file/false " +
		"shop-api/app/false shop-api/app/false src/a.ts/file/false]"
	if fmt.Sprint(entities) != wantEntities {
		t.Errorf("stored points %v, want %s", entities, wantEntities)
	}
}

// TestStatusBar_ExtensionAndPluginAtOnceCountOnce: a user coding with the extension and
// a WakaTime plugin over the same minutes has one coding time; a user with the plugin
// alone has the plugin's.
func TestStatusBar_ExtensionAndPluginAtOnceCountOnce(t *testing.T) {
	c := start(t)
	both, pluginOnly := c.newUser("gus"), c.newUser("hal")
	s := ids.New().String()
	text := func(sec int) tt.Event {
		return tt.TextChange(s, todayAt(sec), "src/a.ts", 120, 1, 0, tt.Range{Start: 3, End: 3})
	}
	// Extension points 0, 130, 250 (60 and 300 share their windows): 250 s alone.
	c.sendTelemetry(both, text(0), text(60), text(130), text(250), text(300))
	// The plugin's heartbeats 20, 140, 260, 320: 300 s alone.
	plugin := []any{beat("src/a.ts", "shop-api", todayAt(20)), beat("src/a.ts", "shop-api", todayAt(140)),
		beat("src/a.ts", "shop-api", todayAt(260)), beat("src/a.ts", "shop-api", todayAt(320))}
	for _, u := range []user{both, pluginOnly} {
		var r responses
		if st := c.do("POST", "/api/v1/users/current/heartbeats.bulk", basic(u.key), plugin, &r); st != 201 {
			t.Fatalf("heartbeats: %d", st)
		}
	}
	// One sequence 0, 20, 130, 140, 250, 260, 320: 320 s, not 250 + 300. The extension's
	// points hold the gaps after them (20 + 10 + 10), the plugin's the rest.
	var got statusBody
	eventually(t, "one coding time", func() bool {
		got = c.statusBar(both)
		return got.Data.GrandTotal.TotalSeconds == 320
	})
	if eds := fmt.Sprint(got.Data.Editors); eds != "[{vim 280} {vscode 40}]" {
		t.Errorf("editors %s", eds)
	}
	eventually(t, "the plugin-only user's time", func() bool { return c.statusBar(pluginOnly).Data.GrandTotal.TotalSeconds == 300 })
}
