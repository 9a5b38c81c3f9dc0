package telemetry_test

import (
	"encoding/json"
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
	c, ok := telemetry.QuickCheck(d.Root())
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
	var d telemetry.Doc
	var o telemetry.Observation

	paste := tt.TextChange(sid, at, "src/cart/cart.ts", 251, 1849, 0, tt.Range{Start: 90, End: 90}, tt.Range{Start: 3, End: 4})
	paste["metrics"].(map[string]any)["lines_added"] = 39
	if err := telemetry.Observe(&d, telemetry.TypeTextChanged, store(paste), &o); err != nil {
		t.Fatal(err)
	}
	want := telemetry.TextChange{CharsAdded: 1849, Width: 3, FileLines: 251, HasFileLines: true, ExplicitAdded: 39, HasExplicit: true}
	if o.Text != want || string(o.File) != "src/cart/cart.ts" || !o.Time.Equal(at) {
		t.Fatalf("text change observed as %+v", o)
	}

	if err := telemetry.Observe(&d, telemetry.TypeEditorSwitched, store(tt.EditorSwitch(sid, at, "a.ts", "b.ts", true)), &o); err != nil {
		t.Fatal(err)
	}
	if string(o.SwitchTo) != "b.ts" || !o.Rapid {
		t.Fatalf("switch observed as %+v", o)
	}
	empty := tt.EditorSwitch(sid, at, "a.ts", "", false)
	if err := telemetry.Observe(&d, telemetry.TypeEditorSwitched, store(empty), &o); err != nil || o.SwitchTo != nil || o.Rapid {
		t.Fatalf("switch to empty file observed as %+v, %v", o, err)
	}
	if err := telemetry.Observe(&d, telemetry.TypeTextChanged, []byte(`{"event":{"timestamp":"x"}}`), &o); err == nil {
		t.Fatal("bad timestamp accepted")
	}
}
