package telemetry_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/devflow/backend/domain/telemetry"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
)

// TestClientDecoder_ReadsWorkspaceAndLanguage: the project and language of the WakaTime
// reads come from file.workspace and file.language (to.language of a switch), else the
// event's workspace.
func TestClientDecoder_ReadsWorkspaceAndLanguage(t *testing.T) {
	s, at := "3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34", time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	inner := tt.Set(tt.FileSave(s, at, "lib/x.rs", 10), "crate-core", "file", "workspace")
	inner = tt.Set(inner, "rust", "file", "language")
	switched := tt.EditorSwitch(s, at, "src/a.ts", "src/b.go", false)
	switched = tt.Set(switched, "go", "to", "language")
	tests := []struct {
		name                string
		event               tt.Event
		workspace, language string
	}{
		{"text change", tt.TextChange(s, at, "src/a.ts", 10, 1, 0), "shop-api", "typescript"},
		{"the file's own folder", inner, "crate-core", "rust"},
		{"switch", switched, "shop-api", "go"},
		{"terminal", tt.TerminalOpen(s, at, false), "shop-api", ""},
	}
	var d telemetry.ClientDecoder
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.event)
			if err != nil {
				t.Fatal(err)
			}
			typ := telemetry.EventType(tc.event["type"].(string))
			got, err := d.Decode(typ, telemetry.SchemaVersion, telemetry.AppendRecorded(nil, []byte(`"2026-12-03T10:00:01.000Z"`), raw))
			if err != nil {
				t.Fatal(err)
			}
			if got.Workspace != tc.workspace || got.Language != tc.language {
				t.Errorf("workspace %q, language %q; want %q, %q", got.Workspace, got.Language, tc.workspace, tc.language)
			}
		})
	}
}
