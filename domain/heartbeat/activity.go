package heartbeat

import (
	"encoding/binary"
	"time"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
)

// The devFlow VS Code extension sends an event per keystroke batch; its activity counts
// in the WakaTime reads as heartbeats sampled the way wakatime-cli sends them.
const (
	// ExtensionEditor is the editor of the extension's activity heartbeats.
	ExtensionEditor = "vscode"
	// DebuggingCategory is the category of a debug session's heartbeat.
	DebuggingCategory = "debugging"
	// SampleEvery is the sampling window: of one user's activity on one entity, one
	// point per window is kept (saves are kept all).
	SampleEvery = 2 * time.Minute
)

var activityNamespace = ids.MustParse("0b6e2f4a-8c3d-4e71-9a5b-d2c8f1e7a306")

// Sampler gives the extension's events their activity heartbeats (Activity). It keeps
// the last point's id: the events of one point mostly come one after another, and those
// then cost no hash. The zero Sampler is ready to use; it is not safe for concurrent use.
type Sampler struct {
	last pointKey
	id   ids.ID
}

// pointKey is what an activity point's id is derived from.
type pointKey struct {
	user                           ids.ID
	typ, project, entity, category string
	window                         int64
}

// Activity is the heartbeat a client event of the extension, sent by user and stored as
// event eventID, stands for. A file's events are of that file; a debug session, terminal
// or git activity has no file and is activity in the workspace (an "app" entity): time
// spent debugging or in a terminal is working time, as it is activity for devFlow's
// sessions. An event with neither file nor workspace is no activity (false).
//
// Every event of the same user, entity (its type and project too) and category in one
// SampleEvery window (aligned to UTC) gets the same id, so the first the log holds is the window's point and the
// others are duplicates of it, in whatever order and batches they are folded. A save is
// a write (is_write) and its own point: its id is the event's. The time is kept to the
// microsecond, as the read model stores it.
func (s *Sampler) Activity(user, eventID ids.ID, c *telemetry.ClientEvent) (Heartbeat, bool) {
	h := Heartbeat{Time: c.Time.Truncate(time.Microsecond), Type: EntityFile, Category: DefaultCategory,
		Project: c.Workspace, Language: c.Language, Editor: ExtensionEditor}
	switch c.Type {
	case telemetry.TypeTextChanged, telemetry.TypeFileSaved:
		h.Entity, h.Lines = c.File, c.Lines
		h.IsWrite = c.Type == telemetry.TypeFileSaved
	case telemetry.TypeEditorSwitched:
		h.Entity = c.SwitchTo
	case telemetry.TypeDebugSessionStarted:
		h.Category = DebuggingCategory
	}
	if h.Entity == "" {
		h.Entity, h.Type = c.Workspace, EntityApp
	}
	if h.Entity == "" {
		return Heartbeat{}, false
	}
	if h.IsWrite {
		h.ID = eventID
		return h, true
	}
	window, _ := SampleWindow(h.Time)
	key := pointKey{user, h.Type, h.Project, h.Entity, h.Category, window.Unix()}
	if key != s.last || s.id.IsNil() {
		var buf [256]byte
		content := append(buf[:0], user[:]...)
		for _, v := range []string{h.Type, h.Project, h.Entity, h.Category} {
			content = append(append(content, v...), 0)
		}
		content = binary.BigEndian.AppendUint64(content, uint64(key.window))
		s.last, s.id = key, ids.FromContent(activityNamespace, content)
	}
	h.ID = s.id
	return h, true
}

// SampleWindow is the sampling window [start, end) that holds t.
func SampleWindow(t time.Time) (start, end time.Time) {
	start = t.UTC().Truncate(SampleEvery)
	return start, start.Add(SampleEvery)
}
