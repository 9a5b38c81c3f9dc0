package main

import (
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path"
	"strings"
	"time"
)

// The simulated extension follows ../shared/spec/clients.md 2.7: one text_change per
// keystroke (most of the traffic), editor switches that come in bursts, saves, and the
// occasional debug session, terminal or git change; file.lines evolves with each edit;
// session ids rotate after a 30-minute idle gap; the envelope carries the snapshot of
// the current session. Timestamps come from a simulated clock that advances by
// plausible gaps and strictly increases per client, so no two events of a run are
// identical (the service would count identical events as duplicates).

const timeLayout = "2006-01-02T15:04:05.000Z"

// Wire shapes (contract section 4).

type envelope struct {
	Workspace        string          `json:"workspace"`
	MachineTimestamp string          `json:"machine_timestamp"`
	Session          sessionSnapshot `json:"session"`
	Events           []event         `json:"events"`
}

type sessionSnapshot struct {
	ActiveMinutes         float64 `json:"active_minutes"`
	IdleMinutes           float64 `json:"idle_minutes"`
	TotalEventsCollected  int     `json:"total_events_collected"`
	SaveFrequency         float64 `json:"save_frequency"`
	EditorSwitchFrequency float64 `json:"editor_switch_frequency"`
}

type event struct {
	Type      string        `json:"type"`
	Timestamp string        `json:"timestamp"`
	Workspace string        `json:"workspace"`
	SessionID string        `json:"session_id"`
	File      *fileMeta     `json:"file,omitempty"`
	From      *switchEnd    `json:"from,omitempty"`
	To        *switchEnd    `json:"to,omitempty"`
	Metrics   any           `json:"metrics,omitempty"`
	Debug     *debugInfo    `json:"debug,omitempty"`
	Terminal  *terminalInfo `json:"terminal,omitempty"`
	Git       *gitInfo      `json:"git,omitempty"`
}

type fileMeta struct {
	Name         string `json:"name"`
	Path         string `json:"path"`
	AbsolutePath string `json:"absolute_path"`
	Extension    string `json:"extension"`
	Language     string `json:"language"`
	Workspace    string `json:"workspace"`
	Lines        int    `json:"lines"`
	SizeBytes    int    `json:"size_bytes"`
}

type lineRange struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

type textMetrics struct {
	CharactersAdded     int         `json:"characters_added"`
	CharactersDeleted   int         `json:"characters_deleted"`
	ChangeCount         int         `json:"change_count"`
	AffectedLineRanges  []lineRange `json:"affected_line_ranges"`
	EditDurationMS      int64       `json:"edit_duration_ms"`
	IsLargePaste        bool        `json:"is_large_paste"`
	IsPossibleRewrite   bool        `json:"is_possible_rewrite"`
	IsPossibleUndoCycle bool        `json:"is_possible_undo_cycle"`
}

type switchEnd struct {
	File     string `json:"file"`
	Language string `json:"language"`
	Module   string `json:"module"`
}

type switchMetrics struct {
	SwitchIntervalSeconds   float64 `json:"switch_interval_seconds"`
	IsCrossModuleSwitch     bool    `json:"is_cross_module_switch"`
	IsRapidContextSwitching bool    `json:"is_rapid_context_switching"`
}

type debugInfo struct {
	Name                    string `json:"name"`
	Type                    string `json:"type"`
	LaunchConfigurationName string `json:"launch_configuration_name,omitempty"`
}

type terminalInfo struct {
	Name      string `json:"name"`
	ShellType string `json:"shell_type,omitempty"`
}

type gitInfo struct {
	Branch            string `json:"branch,omitempty"`
	ChangedFilesCount int    `json:"changed_files_count"`
}

// Workspaces the clients pick from: realistic paths, languages and modules.
var projects = []struct {
	name  string
	files []string
}{
	{"shop-api", []string{"src/cart/cart.ts", "src/cart/discounts.ts", "src/orders/service.ts",
		"src/orders/repository.ts", "src/index.ts", "test/cart.test.ts", "package.json", "README.md"}},
	{"ml-pipeline", []string{"pipeline/train.py", "pipeline/features.py", "pipeline/io/loaders.py",
		"notebooks/explore.ipynb", "tests/test_features.py", "setup.py"}},
	{"devflow-go", []string{"cmd/server/main.go", "internal/store/events.go", "internal/store/events_test.go",
		"internal/http/handlers.go", "internal/http/middleware.go", "go.mod", "Makefile"}},
}

var languages = map[string]string{
	".ts": "typescript", ".py": "python", ".go": "go", ".json": "json", ".md": "markdown",
	".ipynb": "jupyter", ".mod": "go.mod", "": "makefile",
}

type simFile struct {
	meta fileMeta
	// For edit_duration_ms, is_possible_rewrite and is_possible_undo_cycle.
	lastEdit    time.Time
	prevAdded   int
	prevDeleted int
	recentKinds []int // last edits: +1 pure insert, -1 pure delete, 0 other
	recentTimes []time.Time
	cursor      int
	module      string
}

// client is one simulated extension (one VS Code window of one user).
type client struct {
	rng       *rand.Rand
	workspace string
	files     []*simFile
	active    int // index into files, -1 before the first switch
	now       time.Time

	sessionID      string
	sessionStart   time.Time
	sessionEvents  int
	sessionSaves   int
	sessionSwitch  int
	activeMinutes  float64
	idleMinutes    float64
	lastEventAt    time.Time
	lastSwitchAt   time.Time
	recentSwitches []time.Time
	switchBurst    int
	branch         string
	changedFiles   int
}

func newClient(seed uint64, start time.Time) *client {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := projects[rng.IntN(len(projects))]
	c := &client{rng: rng, workspace: p.name, active: -1, now: start, lastSwitchAt: start,
		branch: "feature/" + []string{"cart-discounts", "faster-ingest", "fix-login", "refactor-io"}[rng.IntN(4)]}
	for _, rel := range p.files {
		ext := path.Ext(rel)
		lines := 20 + rng.IntN(600)
		c.files = append(c.files, &simFile{
			meta: fileMeta{
				Name: path.Base(rel), Path: rel, AbsolutePath: "/home/dev/" + p.name + "/" + rel,
				Extension: ext, Language: languages[ext], Workspace: p.name,
				Lines: lines, SizeBytes: lines * (25 + rng.IntN(20)),
			},
			cursor: 1 + rng.IntN(lines),
			module: moduleOf(rel),
		})
	}
	c.rotateSession()
	return c
}

// moduleOf is the extension's rule: src/<segment> under src/ with two or more segments,
// else the first path segment (a top-level file is its own module).
func moduleOf(rel string) string {
	parts := strings.Split(rel, "/")
	if parts[0] == "src" && len(parts) >= 3 {
		return "src/" + parts[1]
	}
	return parts[0]
}

func newUUID() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (c *client) rotateSession() {
	c.sessionID = newUUID()
	c.sessionStart = c.now
	c.sessionEvents, c.sessionSaves, c.sessionSwitch = 0, 0, 0
	c.activeMinutes, c.idleMinutes = 0, 0
	c.lastEventAt = time.Time{}
}

// advance moves the simulated clock by gap, accounts active/idle time and rotates the
// session after an idle gap over 30 minutes (before the event is stamped).
func (c *client) advance(gap time.Duration) {
	if gap < time.Millisecond {
		gap = time.Millisecond
	}
	c.now = c.now.Add(gap)
	if c.lastEventAt.IsZero() {
		return
	}
	if gap > 30*time.Minute {
		c.rotateSession()
		return
	}
	if gap <= 5*time.Minute {
		c.activeMinutes += gap.Minutes()
	} else {
		c.idleMinutes += gap.Minutes()
	}
}

func (c *client) stamp(typ string) event {
	c.lastEventAt = c.now
	c.sessionEvents++
	return event{Type: typ, Timestamp: c.now.UTC().Format(timeLayout), Workspace: c.workspace, SessionID: c.sessionID}
}

// next produces the client's next event.
func (c *client) next() event {
	if c.switchBurst > 0 {
		c.switchBurst--
		c.advance(time.Duration(1+c.rng.IntN(6)) * time.Second)
		return c.editorSwitch()
	}
	c.advance(c.gap())
	if c.active < 0 {
		return c.editorSwitch()
	}
	switch r := c.rng.Float64(); {
	case r < 0.80:
		return c.textChange()
	case r < 0.89:
		if c.rng.IntN(4) == 0 {
			c.switchBurst = 3 + c.rng.IntN(6) // browsing: rapid switches follow
		}
		return c.editorSwitch()
	case r < 0.96:
		return c.fileSave()
	case r < 0.975:
		return c.debugStart()
	case r < 0.99:
		return c.terminalOpen()
	default:
		return c.gitActivity()
	}
}

// gap is the time before the next event: mostly typing cadence, sometimes a pause, and
// rarely a break long enough to rotate the session.
func (c *client) gap() time.Duration {
	return mixedGap(c.rng, 0.0005, gapRange{31 * time.Minute, 90 * time.Minute},
		0.02, gapRange{5 * time.Second, 400 * time.Second}, gapRange{60 * time.Millisecond, 340 * time.Millisecond})
}

// gapRange is the durations [from, from+spread) in whole units of spread's unit.
type gapRange struct{ from, spread time.Duration }

// mixedGap draws a gap: from rare with probability pRare, from occasional with
// probability pOccasional, else from usual.
func mixedGap(rng *rand.Rand, pRare float64, rare gapRange, pOccasional float64, occasional, usual gapRange) time.Duration {
	g := usual
	switch r := rng.Float64(); {
	case r < pRare:
		g = rare
	case r < pRare+pOccasional:
		g = occasional
	}
	unit := unitOf(g.spread)
	return g.from + time.Duration(rng.IntN(int(g.spread/unit)))*unit
}

// unitOf is the largest of minute, second and millisecond that divides d.
func unitOf(d time.Duration) time.Duration {
	for _, u := range []time.Duration{time.Minute, time.Second} {
		if d%u == 0 {
			return u
		}
	}
	return time.Millisecond
}

func (c *client) file() *simFile { return c.files[c.active] }

func (c *client) textChange() event {
	f := c.file()
	m := textMetrics{ChangeCount: 1}
	line := f.cursor
	switch r := c.rng.Float64(); {
	case r < 0.62: // a keystroke within a line
		m.CharactersAdded = 1
		m.AffectedLineRanges = []lineRange{{line, line}}
	case r < 0.70: // Enter with indentation
		m.CharactersAdded = 1 + c.rng.IntN(9)
		m.AffectedLineRanges = []lineRange{{line, line}}
		f.meta.Lines++
		f.cursor++
	case r < 0.82: // Backspace, sometimes joining two lines
		m.CharactersDeleted = 1
		if line > 1 && c.rng.IntN(6) == 0 {
			m.AffectedLineRanges = []lineRange{{line - 1, line}}
			f.meta.Lines--
			f.cursor--
		} else {
			m.AffectedLineRanges = []lineRange{{line, line}}
		}
	case r < 0.87: // a paste (or an AI completion) at one point: range width 1
		k := 2 + c.rng.IntN(60)
		m.CharactersAdded = k * (20 + c.rng.IntN(30))
		m.AffectedLineRanges = []lineRange{{line, line}}
		f.meta.Lines += k
		f.cursor += k
	case r < 0.92: // deleting a block of whole lines
		w := min(2+c.rng.IntN(30), f.meta.Lines-line+1)
		m.CharactersDeleted = w * (20 + c.rng.IntN(30))
		m.AffectedLineRanges = []lineRange{{line, line + w - 1}}
		f.meta.Lines -= w
	case r < 0.97: // a replacement: formatter, refactoring, undo of a paste
		w := min(1+c.rng.IntN(12), f.meta.Lines-line+1)
		d := c.rng.IntN(7) - 3
		d = max(d, 1-w)
		m.CharactersDeleted = w * (20 + c.rng.IntN(30))
		m.CharactersAdded = (w + d) * (20 + c.rng.IntN(30))
		m.AffectedLineRanges = []lineRange{{line, line + w - 1}}
		f.meta.Lines += d
	default: // multiple cursors typing the same character
		n := 2 + c.rng.IntN(3)
		m.ChangeCount = n
		m.CharactersAdded = n
		for i := 0; i < n; i++ {
			l := min(line+i*(1+c.rng.IntN(5)), f.meta.Lines)
			m.AffectedLineRanges = append(m.AffectedLineRanges, lineRange{l, l})
		}
	}
	f.meta.Lines = max(f.meta.Lines, 1)
	f.cursor = min(max(f.cursor+c.rng.IntN(3)-1, 1), f.meta.Lines)
	f.meta.SizeBytes = max(f.meta.SizeBytes+m.CharactersAdded-m.CharactersDeleted, 0)

	if !f.lastEdit.IsZero() {
		m.EditDurationMS = c.now.Sub(f.lastEdit).Milliseconds()
	}
	m.IsLargePaste = m.CharactersAdded > 100
	m.IsPossibleRewrite = !f.lastEdit.IsZero() && c.now.Sub(f.lastEdit) <= 3*time.Second &&
		((f.prevDeleted >= 80 && m.CharactersAdded >= 80) || (f.prevAdded >= 80 && m.CharactersDeleted >= 80))
	m.IsPossibleUndoCycle = f.noteEdit(c.now, m.CharactersAdded, m.CharactersDeleted)
	f.lastEdit, f.prevAdded, f.prevDeleted = c.now, m.CharactersAdded, m.CharactersDeleted

	e := c.stamp("text_change")
	meta := f.meta
	e.File = &meta
	e.Metrics = m
	return e
}

// noteEdit remembers the edit and reports the extension's undo-cycle rule: at least 4
// changes within 5 s, the last 4 strictly alternating pure insert and pure delete.
func (f *simFile) noteEdit(now time.Time, added, deleted int) bool {
	kind := 0
	switch {
	case added > 0 && deleted == 0:
		kind = 1
	case deleted > 0 && added == 0:
		kind = -1
	}
	f.recentKinds = append(f.recentKinds, kind)
	f.recentTimes = append(f.recentTimes, now)
	if len(f.recentKinds) > 4 {
		f.recentKinds = f.recentKinds[1:]
		f.recentTimes = f.recentTimes[1:]
	}
	if len(f.recentKinds) < 4 || now.Sub(f.recentTimes[0]) > 5*time.Second {
		return false
	}
	for i, k := range f.recentKinds {
		if k == 0 || (i > 0 && k == f.recentKinds[i-1]) {
			return false
		}
	}
	return true
}

func (c *client) editorSwitch() event {
	from := c.active
	to := c.rng.IntN(len(c.files))
	if to == from && c.rng.IntN(5) != 0 { // now and then back to the same file (split panes)
		to = (to + 1) % len(c.files)
	}
	c.active = to
	interval := math.Round(c.now.Sub(c.lastSwitchAt).Seconds())
	c.lastSwitchAt = c.now
	c.recentSwitches = append(c.recentSwitches, c.now)
	for len(c.recentSwitches) > 0 && c.now.Sub(c.recentSwitches[0]) > 60*time.Second {
		c.recentSwitches = c.recentSwitches[1:]
	}
	c.sessionSwitch++

	e := c.stamp("editor_switch")
	t := c.files[to]
	e.To = &switchEnd{File: t.meta.Path, Language: t.meta.Language, Module: t.module}
	cross := false
	if from >= 0 { // omitted on the first switch: no file editor was active at start
		f := c.files[from]
		e.From = &switchEnd{File: f.meta.Path, Language: f.meta.Language, Module: f.module}
		cross = f.module != t.module
	}
	e.Metrics = switchMetrics{SwitchIntervalSeconds: interval, IsCrossModuleSwitch: cross,
		IsRapidContextSwitching: len(c.recentSwitches) > 5}
	return e
}

func (c *client) fileSave() event {
	c.sessionSaves++
	e := c.stamp("file_save")
	meta := c.file().meta
	e.File = &meta
	return e
}

func (c *client) debugStart() event {
	e := c.stamp("debug_session_start")
	configs := []debugInfo{{"Launch API", "node", "Launch API"}, {"Debug tests", "go", ""}, {"Python: Current File", "debugpy", "Python: Current File"}}
	d := configs[c.rng.IntN(len(configs))]
	e.Debug = &d
	return e
}

func (c *client) terminalOpen() event {
	e := c.stamp("terminal_open")
	t := terminalInfo{Name: "zsh"}
	if c.rng.IntN(3) == 0 { // default terminals usually carry no shell_type
		t.ShellType = "/bin/zsh"
	}
	e.Terminal = &t
	return e
}

func (c *client) gitActivity() event {
	c.changedFiles = max(c.changedFiles+c.rng.IntN(5)-1, 0)
	e := c.stamp("git_activity")
	g := gitInfo{ChangedFilesCount: c.changedFiles}
	if c.rng.IntN(20) != 0 { // detached HEAD now and then: no branch
		g.Branch = c.branch
	}
	e.Git = &g
	return e
}

// snapshot is the envelope's view of the current session at send time.
func (c *client) snapshot() sessionSnapshot {
	units := max(1, c.now.Sub(c.sessionStart).Minutes()/5)
	round := func(x float64) float64 { return math.Round(x*100) / 100 }
	return sessionSnapshot{
		ActiveMinutes:         round(c.activeMinutes),
		IdleMinutes:           round(c.idleMinutes),
		TotalEventsCollected:  c.sessionEvents,
		SaveFrequency:         round(float64(c.sessionSaves) / units),
		EditorSwitchFrequency: round(float64(c.sessionSwitch) / units),
	}
}

// flush is the client's next n events in the envelope that sends them.
func (c *client) flush(n int, sentAt time.Time) envelope {
	events := make([]event, n)
	for i := range events {
		events[i] = c.next()
	}
	return envelope{
		Workspace:        c.workspace,
		MachineTimestamp: sentAt.UTC().Format(timeLayout),
		Session:          c.snapshot(),
		Events:           events,
	}
}

// batch returns the JSON body of a flush of n events.
func (c *client) batch(n int, sentAt time.Time) ([]byte, error) {
	return json.Marshal(c.flush(n, sentAt))
}
