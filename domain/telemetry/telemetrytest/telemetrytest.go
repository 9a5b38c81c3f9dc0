// Package telemetrytest builds telemetry payloads in the extension's real shapes
// (clients.md 2.7 and 5.1) for tests and benchmarks.
package telemetrytest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
)

// Limits are openapi.yaml's bounds of telemetry values, for tests of the domain, which
// cannot read the schema (the service reads them from it; a test there holds this copy
// equal to them).
var Limits = telemetry.Limits{
	Path: 4096, Name: 255,
	Count:           telemetry.Bounds{Min: 0, Max: 10_000_000},
	Size:            telemetry.Bounds{Min: 0, Max: 1 << 32},
	LineNumber:      telemetry.Bounds{Min: 1, Max: 10_000_000},
	DurationMs:      telemetry.Bounds{Min: -315_360_000_000, Max: 315_360_000_000},
	DurationSeconds: telemetry.Bounds{Min: -315_360_000, Max: 315_360_000},
	LineRanges:      10_000,
}

// Event is one client event as a JSON object.
type Event = map[string]any

// Stamp formats a time like the extension (toISOString).
func Stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func base(typ, session string, at time.Time) Event {
	return Event{"type": typ, "timestamp": Stamp(at), "workspace": "shop-api", "session_id": session}
}

// FileMeta is the extension's file object; lines < 0 leaves file.lines out.
func FileMeta(path string, lines int) map[string]any {
	f := map[string]any{
		"name": baseName(path), "path": path, "absolute_path": "/home/dev/shop-api/" + path,
		"extension": ".ts", "language": "typescript", "workspace": "shop-api", "size_bytes": 40 * max(lines, 1),
	}
	if lines >= 0 {
		f["lines"] = lines
	}
	return f
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// Range is an affected line range.
type Range struct{ Start, End int }

// TextChange is a text_change event; ranges nil leaves affected_line_ranges out.
func TextChange(session string, at time.Time, path string, lines, added, deleted int, ranges ...Range) Event {
	e := base("text_change", session, at)
	e["file"] = FileMeta(path, lines)
	m := map[string]any{
		"characters_added": added, "characters_deleted": deleted, "change_count": max(1, len(ranges)),
		"edit_duration_ms": 143, "is_large_paste": added > 100, "is_possible_rewrite": false, "is_possible_undo_cycle": false,
	}
	if ranges != nil {
		rs := make([]map[string]any, len(ranges))
		for i, r := range ranges {
			rs[i] = map[string]any{"start": r.Start, "end": r.End}
		}
		m["affected_line_ranges"] = rs
	}
	e["metrics"] = m
	return e
}

// EditorSwitch is an editor_switch event; from "" leaves "from" out (first switch).
func EditorSwitch(session string, at time.Time, from, to string, rapid bool) Event {
	e := base("editor_switch", session, at)
	if from != "" {
		e["from"] = map[string]any{"file": from, "language": "typescript", "module": "src"}
	}
	e["to"] = map[string]any{"file": to, "language": "typescript", "module": "src"}
	e["metrics"] = map[string]any{"switch_interval_seconds": 37, "is_cross_module_switch": false, "is_rapid_context_switching": rapid}
	return e
}

// Set sets the value at path (keys of nested objects) in e and returns e.
func Set(e Event, v any, path ...string) Event {
	m := e
	for _, k := range path[:len(path)-1] {
		m = m[k].(map[string]any)
	}
	m[path[len(path)-1]] = v
	return e
}

// FileSave is a file_save event.
func FileSave(session string, at time.Time, path string, lines int) Event {
	e := base("file_save", session, at)
	e["file"] = FileMeta(path, lines)
	return e
}

// DebugStart is a debug_session_start event.
func DebugStart(session string, at time.Time) Event {
	e := base("debug_session_start", session, at)
	e["debug"] = map[string]any{"name": "Launch API", "type": "node", "launch_configuration_name": "Launch API"}
	return e
}

// TerminalOpen is a terminal_open event (shell_type is usually missing).
func TerminalOpen(session string, at time.Time, withShell bool) Event {
	e := base("terminal_open", session, at)
	t := map[string]any{"name": "zsh"}
	if withShell {
		t["shell_type"] = "/bin/zsh"
	}
	e["terminal"] = t
	return e
}

// GitActivity is a git_activity event; branch "" leaves it out (detached HEAD).
func GitActivity(session string, at time.Time, branch string, changed int) Event {
	e := base("git_activity", session, at)
	g := map[string]any{"changed_files_count": changed}
	if branch != "" {
		g["branch"] = branch
	}
	e["git"] = g
	return e
}

// Payload wraps events in the envelope the extension posts.
func Payload(events ...Event) []byte {
	p := map[string]any{
		"workspace":         "shop-api",
		"machine_timestamp": "2026-11-27T10:15:02.118Z",
		"session": map[string]any{
			"active_minutes": 42.35, "idle_minutes": 6.1, "total_events_collected": 318,
			"save_frequency": 1.72, "editor_switch_frequency": 2.4,
		},
		"events": events,
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return b
}

// Generator produces a realistic stream of events for one session: mostly
// keystrokes, some pastes, deletions, saves and switches, and now and then the other
// types. It is deterministic for a seed.
type Generator struct {
	Session string
	At      time.Time
	rng     *rand.Rand
	lines   map[string]int
	current string
	files   []string
}

// NewGenerator starts a generator for session at time at.
func NewGenerator(seed uint64, session string, at time.Time) *Generator {
	g := &Generator{Session: session, At: at, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), lines: map[string]int{}}
	for i := range 30 {
		g.files = append(g.files, fmt.Sprintf("src/module%d/file%02d.ts", i%6, i))
	}
	g.current = g.files[0]
	return g
}

// Next returns the next event.
func (g *Generator) Next() Event {
	g.At = g.At.Add(time.Duration(50+g.rng.IntN(900)) * time.Millisecond)
	f := g.current
	n, ok := g.lines[f]
	if !ok {
		n = 100 + g.rng.IntN(300)
		g.lines[f] = n
	}
	line := 1 + g.rng.IntN(n)
	switch r := g.rng.IntN(1000); {
	case r < 800: // keystroke
		return TextChange(g.Session, g.At, f, n, 1, 0, Range{line, line})
	case r < 840: // paste of k lines
		k := 2 + g.rng.IntN(60)
		g.lines[f] = n + k
		return TextChange(g.Session, g.At, f, n+k, 40*k, 0, Range{line, line})
	case r < 880: // deletion of k lines
		k := min(1+g.rng.IntN(20), n-1)
		g.lines[f] = n - k
		return TextChange(g.Session, g.At, f, n-k, 0, 40*k, Range{line, line + k})
	case r < 900: // replacement
		return TextChange(g.Session, g.At, f, n, 120, 80, Range{line, line + 2})
	case r < 940:
		return FileSave(g.Session, g.At, f, n)
	case r < 985:
		to := g.files[g.rng.IntN(len(g.files))]
		g.current = to
		return EditorSwitch(g.Session, g.At, f, to, g.rng.IntN(4) == 0)
	case r < 990:
		return DebugStart(g.Session, g.At)
	case r < 995:
		return TerminalOpen(g.Session, g.At, g.rng.IntN(2) == 0)
	default:
		return GitActivity(g.Session, g.At, "feature/cart-discounts", g.rng.IntN(10))
	}
}

// Events returns the next n events.
func (g *Generator) Events(n int) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// Log is the event log the ingest writes for batches of events, made without it, for
// tests that apply fixed event lists to projections: a session's first batch starts
// it (its SessionStarted, owned by the sender, at the batch's earliest event), and each
// event is stored as the ingest stores it, with Payload's machine_timestamp.
type Log struct {
	Envelopes []eventlog.Envelope
	versions  map[string]uint64 // next version of each stream
}

// Send adds the events of a batch user sent.
func (l *Log) Send(user ids.ID, events ...Event) {
	if l.versions == nil {
		l.versions = map[string]uint64{}
	}
	meta := eventlog.Metadata{UserID: user.String(), ReceivedAt: time.Date(2026, 11, 27, 10, 15, 2, 0, time.UTC), RequestID: "telemetrytest"}
	earliest := map[string]time.Time{}
	for _, e := range events {
		at, err := time.Parse(time.RFC3339Nano, e["timestamp"].(string))
		if err != nil {
			panic(err)
		}
		if s := e["session_id"].(string); earliest[s].IsZero() || at.Before(earliest[s]) {
			earliest[s] = at
		}
	}
	add := func(stream, typ string, version int, data []byte) {
		l.Envelopes = append(l.Envelopes, eventlog.Envelope{
			ID: ids.New(), StreamID: stream, StreamVersion: l.versions[stream], Type: typ, SchemaVersion: version,
			Data: data, Metadata: meta, RecordedAt: meta.ReceivedAt,
		})
		l.versions[stream]++
	}
	for _, e := range events {
		session := ids.MustParse(e["session_id"].(string))
		stream := telemetry.StreamID(session)
		if _, started := l.versions[stream]; !started {
			data, err := json.Marshal(telemetry.SessionStarted{Owner: user, StartTime: earliest[session.String()], Source: telemetry.SourceExtension})
			if err != nil {
				panic(err)
			}
			add(stream, telemetry.TypeSessionStarted, telemetry.SessionStartedVersion, data)
		}
		raw, err := json.Marshal(e)
		if err != nil {
			panic(err)
		}
		add(stream, telemetry.EventType(e["type"].(string)), telemetry.SchemaVersion,
			telemetry.AppendRecorded(nil, []byte(`"2026-11-27T10:15:02.118Z"`), raw))
	}
}
