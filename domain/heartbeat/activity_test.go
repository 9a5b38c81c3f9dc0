package heartbeat

import (
	"testing"
	"time"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
)

func TestActivity_FileOrWorkspaceEntityAndCategory(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 5, 123456789, time.UTC)
	tests := []struct {
		name string
		in   telemetry.ClientEvent
		want Heartbeat // ID and Time left out
		ok   bool
	}{
		{"text change", telemetry.ClientEvent{Type: telemetry.TypeTextChanged, File: "src/a.ts", Lines: 120, HasLines: true, Workspace: "shop", Language: "typescript"},
			Heartbeat{Entity: "src/a.ts", Type: EntityFile, Category: "coding", Project: "shop", Language: "typescript", Lines: 120, Editor: "vscode"}, true},
		{"save", telemetry.ClientEvent{Type: telemetry.TypeFileSaved, File: "src/a.ts", Workspace: "shop"},
			Heartbeat{Entity: "src/a.ts", Type: EntityFile, Category: "coding", Project: "shop", IsWrite: true, Editor: "vscode"}, true},
		{"switch", telemetry.ClientEvent{Type: telemetry.TypeEditorSwitched, SwitchTo: "src/b.ts", Workspace: "shop", Language: "go"},
			Heartbeat{Entity: "src/b.ts", Type: EntityFile, Category: "coding", Project: "shop", Language: "go", Editor: "vscode"}, true},
		{"switch to no file", telemetry.ClientEvent{Type: telemetry.TypeEditorSwitched, Workspace: "shop"},
			Heartbeat{Entity: "shop", Type: EntityApp, Category: "coding", Project: "shop", Editor: "vscode"}, true},
		{"debug session", telemetry.ClientEvent{Type: telemetry.TypeDebugSessionStarted, Workspace: "shop"},
			Heartbeat{Entity: "shop", Type: EntityApp, Category: "debugging", Project: "shop", Editor: "vscode"}, true},
		{"terminal", telemetry.ClientEvent{Type: telemetry.TypeTerminalOpened, Workspace: "shop"},
			Heartbeat{Entity: "shop", Type: EntityApp, Category: "coding", Project: "shop", Editor: "vscode"}, true},
		{"git without a workspace", telemetry.ClientEvent{Type: telemetry.TypeGitActivityObserved}, Heartbeat{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Time = at
			got, ok := new(Sampler).Activity(user, ids.New(), &tc.in)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if !got.Time.Equal(at.Truncate(time.Microsecond)) {
				t.Errorf("time %v, want %v to the microsecond", got.Time, at)
			}
			got.ID, got.Time = ids.Nil, time.Time{}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestActivity_OnePointPerEntityAndWindowAndEverySave(t *testing.T) {
	window := time.Date(2026, 12, 3, 10, 2, 0, 0, time.UTC) // a 2-minute boundary
	ev := func(typ, file string, after time.Duration) *telemetry.ClientEvent {
		return &telemetry.ClientEvent{Type: typ, File: file, Workspace: "shop", Time: window.Add(after)}
	}
	// One sampler for all (the one that remembers the last point) agrees with a fresh one.
	var sampler Sampler
	id := func(c *telemetry.ClientEvent) ids.ID {
		eventID := ids.New()
		h, ok := sampler.Activity(user, eventID, c)
		if fresh, _ := new(Sampler).Activity(user, eventID, c); !ok || fresh.ID != h.ID {
			t.Fatalf("no activity, or an id (%v) other than a fresh sampler's (%v)", h.ID, fresh.ID)
		}
		return h.ID
	}
	first := id(ev(telemetry.TypeTextChanged, "a.ts", 0))
	if id(ev(telemetry.TypeTextChanged, "a.ts", 119*time.Second)) != first {
		t.Error("two points of a.ts in one window")
	}
	for name, c := range map[string]*telemetry.ClientEvent{
		"the next window":      ev(telemetry.TypeTextChanged, "a.ts", 2*time.Minute),
		"the window before":    ev(telemetry.TypeTextChanged, "a.ts", -time.Microsecond),
		"another file":         ev(telemetry.TypeTextChanged, "b.ts", time.Second),
		"a save in the window": ev(telemetry.TypeFileSaved, "a.ts", time.Second),
	} {
		if id(c) == first {
			t.Errorf("%s shares the window's point", name)
		}
	}
	other := ids.New()
	if h, _ := sampler.Activity(other, ids.New(), ev(telemetry.TypeTextChanged, "a.ts", 0)); h.ID == first {
		t.Error("another user shares the point")
	}
	save := ev(telemetry.TypeFileSaved, "a.ts", time.Second)
	eventID := ids.New()
	if h, _ := sampler.Activity(user, eventID, save); h.ID != eventID {
		t.Error("a save is not its own point")
	}
}
