package telemetry

import (
	"fmt"
	"time"
)

// ClientEvent is a stored client event as the read models use it, decoded once per read
// of the log and shared by every projection.
type ClientEvent struct {
	// Type is the log event type (TypeTextChanged, ...).
	Type string
	// Time is the event's own timestamp: its day, its session activity (8.1).
	Time time.Time
	// File is file.path of a text_change or file_save ("" otherwise), with file.lines.
	File     string
	Lines    int64
	HasLines bool
	// Text is the line-count input of a text_change.
	Text TextChange
	// SwitchTo is to.file of an editor_switch when it is a non-empty string, and Rapid
	// its metrics.is_rapid_context_switching flag (the boolean true only).
	SwitchTo string
	Rapid    bool
	// Workspace is the folder holding the event's file when the event names one, else
	// the event's workspace; Language is the VS Code language id of its file.
	Workspace string
	Language  string
}

// ClientDecoder decodes stored client events. It keeps parse scratch space and the
// strings (paths, workspaces, languages) it has seen, so a batch's repeated ones share
// one string; it is not safe for concurrent use.
type ClientDecoder struct {
	r    Observer
	o    Observation
	seen map[string]string
}

// Decode reads the payload of a stored client event of log type eventType and schema
// version schemaVersion (the payload written by AppendRecorded).
func (d *ClientDecoder) Decode(eventType string, schemaVersion int, data []byte) (ClientEvent, error) {
	if schemaVersion != SchemaVersion {
		return ClientEvent{}, fmt.Errorf("%s v%d: %w", eventType, schemaVersion, ErrUnknownSchemaVersion)
	}
	o := &d.o
	if err := d.r.Observe(eventType, data, o); err != nil {
		return ClientEvent{}, err
	}
	return ClientEvent{Type: eventType, Time: o.Time, File: d.intern(o.File), Lines: o.Lines, HasLines: o.HasLines,
		Text: o.Text, SwitchTo: d.intern(o.SwitchTo), Rapid: o.Rapid, Workspace: d.intern(o.Workspace), Language: d.intern(o.Language)}, nil
}

// Forget drops the remembered strings (call it between batches to bound memory).
func (d *ClientDecoder) Forget() { clear(d.seen) }

func (d *ClientDecoder) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := d.seen[string(b)]; ok {
		return s
	}
	if d.seen == nil {
		d.seen = map[string]string{}
	}
	s := string(b)
	d.seen[s] = s
	return s
}
