package telemetry

import (
	"errors"
	"time"
)

// Observation is what the read models take from one stored client event.
type Observation struct {
	// Time is the event's own timestamp: its day, its session activity (8.1).
	Time time.Time
	// File is file.path of a text_change or file_save (nil otherwise), with file.lines.
	File     []byte
	Lines    int64
	HasLines bool
	// Text is the line-count input of a text_change.
	Text TextChange
	// SwitchTo is to.file of an editor_switch when it is a non-empty string, and Rapid
	// its metrics.is_rapid_context_switching flag (the boolean true only).
	SwitchTo []byte
	Rapid    bool
}

// ErrNotClientEvent is returned by Observe for payloads that are not stored client
// events.
var ErrNotClientEvent = errors.New("not a stored client event")

// Observe reads a stored client event (the payload written by AppendRecorded) of log
// type eventType into o, parsing with doc. Byte slices in o point into data or doc and
// are valid until doc is reused.
func Observe(doc *Doc, eventType string, data []byte, o *Observation) error {
	*o = Observation{}
	if err := doc.Parse(data); err != nil {
		return err
	}
	ev := doc.Root().Get("event")
	if !ev.Is(KindObject) {
		return ErrNotClientEvent
	}
	ts := ev.Get("timestamp")
	if !ts.Is(KindString) {
		return ErrNotClientEvent
	}
	var buf [64]byte
	t, err := parseDateTime(ts.StrBytes(buf[:0]))
	if err != nil {
		return err
	}
	o.Time = t
	switch eventType {
	case TypeTextChanged, TypeFileSaved:
		f := ev.Get("file")
		if p := f.Get("path"); p.Is(KindString) {
			o.File = p.StrBytes(nil)
		}
		if l := f.Get("lines"); l.Is(KindNumber) {
			o.Lines, _ = l.Int()
			o.HasLines = true
		}
		if eventType == TypeTextChanged {
			readTextChange(ev.Get("metrics"), o)
		}
	case TypeEditorSwitched:
		if to := ev.Get("to").Get("file"); to.Is(KindString) {
			if s := to.StrBytes(nil); len(s) > 0 {
				o.SwitchTo = s
			}
		}
		o.Rapid = ev.Get("metrics").Get("is_rapid_context_switching").Is(KindTrue)
	}
	return nil
}

func readTextChange(m Value, o *Observation) {
	tc := &o.Text
	tc.CharsAdded, _ = m.Get("characters_added").Int()
	tc.CharsDeleted, _ = m.Get("characters_deleted").Int()
	for _, r := range m.Get("affected_line_ranges").Elements() {
		s, ok1 := r.Get("start").Int()
		e, ok2 := r.Get("end").Int()
		if ok1 && ok2 {
			tc.Width = addWidth(tc.Width, s, e)
		}
	}
	tc.FileLines, tc.HasFileLines = o.Lines, o.HasLines
	a, okA := explicitCount(m.Get("lines_added"))
	d, okD := explicitCount(m.Get("lines_deleted"))
	if okA || okD {
		tc.ExplicitAdded, tc.ExplicitDeleted, tc.HasExplicit = a, d, true
	}
}

// explicitCount accepts a non-negative integer.
func explicitCount(v Value) (int64, bool) {
	if !v.IsInteger() {
		return 0, false
	}
	n, _ := v.Int()
	if n < 0 {
		return 0, false
	}
	return n, true
}
