package telemetry_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/devflow/backend/domain/telemetry"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
)

const sid = "3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34"

var at = time.Date(2026, 11, 27, 10, 14, 1, 512e6, time.UTC)

func check(t *testing.T, e any) (string, bool) {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var d telemetry.Doc
	if err := d.Parse(b); err != nil {
		t.Fatal(err)
	}
	c, ok := tt.Limits.QuickCheck(d.Root())
	if ok && (c.SessionID.String() != sid || !c.Time.Equal(at)) {
		t.Fatalf("QuickCheck read session %s at %v", c.SessionID, c.Time)
	}
	return c.ClientType, ok
}

func TestQuickCheck_AcceptsTheExtensionsShapes(t *testing.T) {
	valid := []tt.Event{
		tt.TextChange(sid, at, "src/cart/cart.ts", 212, 1, 0, tt.Range{Start: 88, End: 88}),
		tt.TextChange(sid, at, "src/cart/cart.ts", -1, 0, 80), // no lines, no ranges
		tt.FileSave(sid, at, "src/cart/cart.ts", 251),
		tt.EditorSwitch(sid, at, "src/a.ts", "src/b.ts", true),
		tt.EditorSwitch(sid, at, "", "src/b.ts", false), // first switch: no "from"
		tt.DebugStart(sid, at),
		tt.TerminalOpen(sid, at, false),
		tt.TerminalOpen(sid, at, true),
		tt.GitActivity(sid, at, "main", 3),
		tt.GitActivity(sid, at, "", 0), // detached HEAD
	}
	for _, e := range valid {
		if typ, ok := check(t, e); !ok || typ != e["type"] {
			t.Errorf("%v: QuickCheck = %q, %v", e["type"], typ, ok)
		}
	}
	withExtra := tt.FileSave(sid, at, "a.ts", 1)
	withExtra["future_field"] = map[string]any{"x": 1}
	if _, ok := check(t, withExtra); !ok {
		t.Error("unknown fields must be allowed")
	}
}

func TestQuickCheck_DefersEverythingDoubtful(t *testing.T) {
	mutate := func(e tt.Event, f func(tt.Event)) tt.Event { f(e); return e }
	doubtful := map[string]any{
		"not an object":       []int{1},
		"unknown type":        mutate(tt.FileSave(sid, at, "a", 1), func(e tt.Event) { e["type"] = "file_open" }),
		"missing timestamp":   mutate(tt.FileSave(sid, at, "a", 1), func(e tt.Event) { delete(e, "timestamp") }),
		"timestamp w/o zone":  mutate(tt.FileSave(sid, at, "a", 1), func(e tt.Event) { e["timestamp"] = "2026-11-27T10:00:00" }),
		"urn session id":      mutate(tt.FileSave(sid, at, "a", 1), func(e tt.Event) { e["session_id"] = "urn:uuid:" + sid }),
		"missing workspace":   mutate(tt.FileSave(sid, at, "a", 1), func(e tt.Event) { delete(e, "workspace") }),
		"file without path":   mutate(tt.FileSave(sid, at, "a", 1), func(e tt.Event) { delete(e["file"].(map[string]any), "path") }),
		"lines not integer":   mutate(tt.FileSave(sid, at, "a", 1), func(e tt.Event) { e["file"].(map[string]any)["lines"] = 1.5 }),
		"lines as string":     mutate(tt.FileSave(sid, at, "a", 1), func(e tt.Event) { e["file"].(map[string]any)["lines"] = "12" }),
		"metrics missing key": mutate(tt.TextChange(sid, at, "a", 1, 1, 0), func(e tt.Event) { delete(e["metrics"].(map[string]any), "change_count") }),
		"range without end": mutate(tt.TextChange(sid, at, "a", 1, 1, 0, tt.Range{Start: 1, End: 1}), func(e tt.Event) {
			e["metrics"].(map[string]any)["affected_line_ranges"] = []any{map[string]any{"start": 1}}
		}),
		"flag as string":     mutate(tt.EditorSwitch(sid, at, "a", "b", true), func(e tt.Event) { e["metrics"].(map[string]any)["is_rapid_context_switching"] = "true" }),
		"to not object":      mutate(tt.EditorSwitch(sid, at, "a", "b", true), func(e tt.Event) { e["to"] = "b" }),
		"terminal w/o name":  mutate(tt.TerminalOpen(sid, at, true), func(e tt.Event) { delete(e["terminal"].(map[string]any), "name") }),
		"debug w/o type":     mutate(tt.DebugStart(sid, at), func(e tt.Event) { delete(e["debug"].(map[string]any), "type") }),
		"git count as float": mutate(tt.GitActivity(sid, at, "x", 1), func(e tt.Event) { e["git"].(map[string]any)["changed_files_count"] = 2.5 }),
	}
	for name, e := range doubtful {
		if _, ok := check(t, e); ok {
			t.Errorf("%s: QuickCheck said valid", name)
		}
	}
}

func TestObserve_ReadsStoredEvents(t *testing.T) {
	store := func(e tt.Event) []byte {
		b, _ := json.Marshal(e)
		return telemetry.AppendRecorded(nil, []byte(`"2026-11-27T10:15:02.118Z"`), b)
	}
	var r telemetry.Observer
	var o telemetry.Observation

	paste := tt.TextChange(sid, at, "src/cart/cart.ts", 251, 1849, 0, tt.Range{Start: 90, End: 90}, tt.Range{Start: 3, End: 4})
	paste["metrics"].(map[string]any)["lines_added"] = 39
	if err := r.Observe(telemetry.TypeTextChanged, store(paste), &o); err != nil {
		t.Fatal(err)
	}
	want := telemetry.TextChange{CharsAdded: 1849, Width: 3, FileLines: 251, HasFileLines: true, ExplicitAdded: 39, HasExplicit: true}
	if o.Text != want || string(o.File) != "src/cart/cart.ts" || !o.Time.Equal(at) {
		t.Fatalf("text change observed as %+v", o)
	}

	if err := r.Observe(telemetry.TypeEditorSwitched, store(tt.EditorSwitch(sid, at, "a.ts", "b.ts", true)), &o); err != nil {
		t.Fatal(err)
	}
	if string(o.SwitchTo) != "b.ts" || !o.Rapid {
		t.Fatalf("switch observed as %+v", o)
	}
	empty := tt.EditorSwitch(sid, at, "a.ts", "", false)
	if err := r.Observe(telemetry.TypeEditorSwitched, store(empty), &o); err != nil || o.SwitchTo != nil || o.Rapid {
		t.Fatalf("switch to empty file observed as %+v, %v", o, err)
	}
	if err := r.Observe(telemetry.TypeTextChanged, []byte(`{"event":{"timestamp":"x"}}`), &o); err == nil {
		t.Fatal("bad timestamp accepted")
	}
}

// Values at the bounds of openapi.yaml pass the quick check; values beyond them do not
// (the schema validator then rejects them with details).
func TestQuickCheck_EnforcesTheBounds(t *testing.T) {
	text := func() tt.Event { return tt.TextChange(sid, at, "src/a.ts", 10, 1, 0, tt.Range{Start: 1, End: 1}) }
	withRanges := func(n int, r map[string]any) tt.Event {
		rs := make([]map[string]any, n)
		for i := range rs {
			rs[i] = r
		}
		return tt.Set(text(), rs, "metrics", "affected_line_ranges")
	}
	line := func(start, end any) map[string]any { return map[string]any{"start": start, "end": end} }
	sw := func() tt.Event { return tt.EditorSwitch(sid, at, "src/a.ts", "src/b.ts", false) }
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	num := func(s string) json.Number { return json.Number(s) }
	cases := []struct {
		name  string
		event tt.Event
		fast  bool
	}{
		{"path of 4096 characters", tt.Set(text(), long("a", 4096), "file", "path"), true},
		{"path of 4097 characters", tt.Set(text(), long("a", 4097), "file", "path"), false},
		{"path of 4096 two-byte characters", tt.Set(text(), long("é", 4096), "file", "path"), true},
		{"path of 4097 two-byte characters", tt.Set(text(), long("é", 4097), "file", "path"), false},
		{"switch to a path of 10,000 characters", tt.Set(sw(), long("x", 10000), "to", "file"), false},
		{"file save with a path of 4097 characters", tt.Set(tt.FileSave(sid, at, "a.ts", 1), long("a", 4097), "file", "path"), false},
		{"name of 255 characters", tt.Set(text(), long("n", 255), "file", "name"), true},
		{"name of 256 characters", tt.Set(text(), long("n", 256), "file", "name"), false},
		{"workspace of 256 characters", tt.Set(text(), long("w", 256), "workspace"), false},
		{"language of 256 characters", tt.Set(sw(), long("l", 256), "to", "language"), false},
		{"shell of 4097 characters", tt.Set(tt.TerminalOpen(sid, at, true), long("s", 4097), "terminal", "shell_type"), false},
		{"debug name of 256 characters", tt.Set(tt.DebugStart(sid, at), long("d", 256), "debug", "name"), false},
		{"branch of 4097 characters", tt.Set(tt.GitActivity(sid, at, "main", 1), long("b", 4097), "git", "branch"), false},
		{"file of 10,000,000 lines", tt.Set(text(), 10_000_000, "file", "lines"), true},
		{"file of 10,000,001 lines", tt.Set(text(), 10_000_001, "file", "lines"), false},
		{"file of max int64 lines", tt.Set(text(), num("9223372036854775807"), "file", "lines"), false},
		{"file of −1 lines", tt.Set(text(), -1, "file", "lines"), false},
		{"document of 4 GiB", tt.Set(text(), 1<<32, "file", "size_bytes"), true},
		{"document of 4 GiB and a byte", tt.Set(text(), 1<<32+1, "file", "size_bytes"), false},
		{"paste of 4 GiB and a character", tt.Set(text(), 1<<32+1, "metrics", "characters_added"), false},
		{"negative characters deleted", tt.Set(text(), -1, "metrics", "characters_deleted"), false},
		{"change count 10,000,001", tt.Set(text(), 10_000_001, "metrics", "change_count"), false},
		{"explicit lines added 10,000,000", tt.Set(text(), 10_000_000, "metrics", "lines_added"), true},
		{"explicit lines added 10,000,001", tt.Set(text(), 10_000_001, "metrics", "lines_added"), false},
		{"explicit lines added max int64", tt.Set(text(), num("9223372036854775807"), "metrics", "lines_added"), false},
		{"explicit lines added 1e30", tt.Set(text(), num("1e30"), "metrics", "lines_added"), false},
		{"explicit lines deleted −1", tt.Set(text(), -1, "metrics", "lines_deleted"), false},
		{"explicit lines deleted as text", tt.Set(text(), "3", "metrics", "lines_deleted"), false},
		{"edit ten years after the last", tt.Set(text(), 315_360_000_000, "metrics", "edit_duration_ms"), true},
		{"edit ten years and a millisecond after", tt.Set(text(), 315_360_000_001, "metrics", "edit_duration_ms"), false},
		{"edit after the clock went back", tt.Set(text(), -2000, "metrics", "edit_duration_ms"), true},
		{"switch ten years after the last", tt.Set(sw(), 315_360_000, "metrics", "switch_interval_seconds"), true},
		{"switch half a second within ten years", tt.Set(sw(), num("315359999.5"), "metrics", "switch_interval_seconds"), true},
		{"switch half a second beyond ten years", tt.Set(sw(), num("315360000.5"), "metrics", "switch_interval_seconds"), false},
		{"switch half a second beyond minus ten years", tt.Set(sw(), num("-315360000.5"), "metrics", "switch_interval_seconds"), false},
		{"line range 1..10,000,000", withRanges(1, line(1, 10_000_000)), true},
		{"line range from line 0", withRanges(1, line(0, 5)), false},
		{"line range to line 10,000,001", withRanges(1, line(1, 10_000_001)), false},
		{"line range −max..max", withRanges(1, line(num("-9223372036854775807"), num("9223372036854775807"))), false},
		{"10,000 line ranges", withRanges(10_000, line(3, 4)), true},
		{"10,001 line ranges", withRanges(10_001, line(3, 4)), false},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.event)
		if err != nil {
			t.Fatal(err)
		}
		var d telemetry.Doc
		if err := d.Parse(b); err != nil {
			t.Fatal(err)
		}
		if _, fast := tt.Limits.QuickCheck(d.Root()); fast != c.fast {
			t.Errorf("%s: QuickCheck = %v, want %v", c.name, fast, c.fast)
		}
	}
}

func TestQuickCheck_TimestampsWithinTheYears1970To9999UTC(t *testing.T) {
	for ts, fast := range map[string]bool{
		"1970-01-01T00:00:00Z":           true,
		"1969-12-31T23:30:00-01:00":      true, // 00:30 UTC
		"9999-12-31T23:59:59.999999999Z": true,
		"1969-12-31T23:59:59.999Z":       false,
		"1970-01-01T00:30:00+01:00":      false,
		"0000-01-01T00:00:00+01:00":      false,
		"9999-12-31T23:59:59-23:59":      false,
	} {
		e := tt.FileSave(sid, at, "a.ts", 1)
		e["timestamp"] = ts
		b, _ := json.Marshal(e)
		var d telemetry.Doc
		if err := d.Parse(b); err != nil {
			t.Fatal(err)
		}
		if _, ok := tt.Limits.QuickCheck(d.Root()); ok != fast {
			t.Errorf("%s: QuickCheck = %v, want %v", ts, ok, fast)
		}
	}
}

// The quick check runs for every event of every batch: it must not allocate.
func TestQuickCheck_DoesNotAllocate(t *testing.T) {
	var d telemetry.Doc
	if err := d.Parse(tt.Payload(tt.NewGenerator(3, sid, at).Events(200)...)); err != nil {
		t.Fatal(err)
	}
	events := d.Root().Get("events")
	allocs := testing.AllocsPerRun(20, func() {
		for _, ev := range events.Elements() {
			if _, ok := tt.Limits.QuickCheck(ev); !ok {
				t.Fatal("generated event not valid")
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("QuickCheck allocates %v times per batch", allocs)
	}
}
