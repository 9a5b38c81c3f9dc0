package telemetry

import (
	"bytes"
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
	// Workspace is file.workspace (the folder holding the file) when the event names
	// one, else the event's workspace; Language is file.language, or to.language of an
	// editor_switch.
	Workspace []byte
	Language  []byte
}

// ErrNotClientEvent is returned by Observe for payloads that are not stored client
// events.
var ErrNotClientEvent = errors.New("not a stored client event")

// Observer reads stored client events. It keeps scratch space between calls and is not
// safe for concurrent use.
//
// A stored payload was checked in full when it was ingested, and the log's json column
// only holds valid JSON, so the observer does not parse it into a tree: it walks the few
// members the read models use and skips every other value by finding where it ends. It
// decodes what it reads as Doc would (the last of repeated keys, Value.Int for numbers),
// and never reads out of bounds whatever the bytes.
type Observer struct {
	skim  skim
	token Doc    // one scalar at a time, decoded by Doc's own rules
	key   []byte // an unescaped key
	// The strings read so far, in the payload or (when escaped) in buf; the event's
	// workspace and its file's are kept apart because the file's wins when not empty.
	stamp, workspace, fileWorkspace         []byte
	stampOK, hasWorkspace, hasFileWorkspace bool
	// Scratch space for unescaped strings, one per string kept at once. The payload
	// itself is never written to.
	buf struct{ stamp, workspace, fileWorkspace, file, to, lang []byte }
}

// Observe reads a stored client event (the payload written by AppendRecorded) of log
// type eventType into o. Byte slices in o point into data or into the observer's
// scratch space and are valid until its next call.
func (r *Observer) Observe(eventType string, data []byte, o *Observation) error {
	*o = Observation{}
	s := &r.skim // a field, so that the closures below need not move it to the heap
	*s = skim{src: data}
	if !s.object() {
		return ErrNotClientEvent
	}
	event := false // an "event" member was read; a later one replaces it
	err := s.members(&r.key, func(key []byte) (bool, error) {
		if string(key) != "event" {
			return false, nil
		}
		*o, r.stampOK, r.hasWorkspace, r.hasFileWorkspace = Observation{}, false, false, false
		if event = s.object(); !event {
			return false, nil
		}
		return true, r.event(s, eventType, o)
	})
	if err != nil {
		return err
	}
	if !event || !r.stampOK {
		return ErrNotClientEvent
	}
	t, err := parseDateTime(r.stamp)
	if err != nil {
		return err
	}
	o.Time = t
	switch {
	case r.hasFileWorkspace && len(r.fileWorkspace) > 0:
		o.Workspace = r.fileWorkspace
	case r.hasWorkspace:
		o.Workspace = r.workspace
	}
	if eventType == TypeTextChanged {
		o.Text.FileLines, o.Text.HasFileLines = o.Lines, o.HasLines
	}
	return nil
}

// event reads the members of the event object s is in.
func (r *Observer) event(s *skim, eventType string, o *Observation) error {
	return s.members(&r.key, func(key []byte) (bool, error) {
		var readObject func(*skim, *Observation) error // the member's object, when it is one
		switch {
		case string(key) == "timestamp":
			raw, ok, err := s.stringValue()
			r.stamp, r.stampOK = unescapeInto(&r.buf.stamp, raw), ok
			return ok, err
		case string(key) == "workspace":
			raw, ok, err := s.stringValue()
			r.workspace, r.hasWorkspace = unescapeInto(&r.buf.workspace, raw), ok
			return ok, err
		case string(key) == "file" && (eventType == TypeTextChanged || eventType == TypeFileSaved):
			o.File, o.Lines, o.HasLines, o.Language, r.hasFileWorkspace = nil, 0, false, nil, false
			readObject = r.fileOf
		case string(key) == "metrics" && eventType == TypeTextChanged:
			o.Text = TextChange{}
			readObject = r.textChange
		case string(key) == "metrics" && eventType == TypeEditorSwitched:
			o.Rapid = false
			readObject = r.rapid
		case string(key) == "to" && eventType == TypeEditorSwitched:
			o.SwitchTo, o.Language = nil, nil
			readObject = r.switchTo
		}
		if readObject == nil || !s.object() {
			return false, nil
		}
		return true, readObject(s, o)
	})
}

func (r *Observer) fileOf(s *skim, o *Observation) error {
	return s.members(&r.key, func(key []byte) (bool, error) {
		switch string(key) {
		case "path":
			raw, ok, err := s.stringValue()
			o.File = nil
			if ok {
				o.File = unescapeInto(&r.buf.file, raw)
			}
			return ok, err
		case "workspace":
			raw, ok, err := s.stringValue()
			r.fileWorkspace, r.hasFileWorkspace = unescapeInto(&r.buf.fileWorkspace, raw), ok
			return ok, err
		case "language":
			return r.language(s, o)
		case "lines":
			v, err := r.scalar(s)
			o.Lines, o.HasLines = 0, false
			if v.Is(KindNumber) {
				o.Lines, _ = v.Int()
				o.HasLines = true
			}
			return true, err
		}
		return false, nil
	})
}

func (r *Observer) textChange(s *skim, o *Observation) error {
	tc := &o.Text
	var added, deleted int64
	var hasAdded, hasDeleted bool
	err := s.members(&r.key, func(key []byte) (bool, error) {
		switch string(key) {
		case "characters_added", "characters_deleted", "lines_added", "lines_deleted":
			v, err := r.scalar(s)
			n, _ := v.Int()
			switch string(key) {
			case "characters_added":
				tc.CharsAdded = n
			case "characters_deleted":
				tc.CharsDeleted = n
			case "lines_added":
				added, hasAdded = explicitCount(v)
			case "lines_deleted":
				deleted, hasDeleted = explicitCount(v)
			}
			return true, err
		case "affected_line_ranges":
			tc.Width = 0
			if !s.at('[') {
				return false, nil
			}
			return true, r.lineRanges(s, tc)
		}
		return false, nil
	})
	if hasAdded || hasDeleted {
		tc.ExplicitAdded, tc.ExplicitDeleted, tc.HasExplicit = added, deleted, true
	}
	return err
}

// lineRanges adds the width of every {start, end} range of the array s is at.
func (r *Observer) lineRanges(s *skim, tc *TextChange) error {
	s.pos++ // '['
	for {
		more, err := s.element()
		if err != nil || !more {
			return err
		}
		if !s.object() {
			if err := s.skip(); err != nil {
				return err
			}
			continue
		}
		var start, end int64
		var hasStart, hasEnd bool
		err = s.members(&r.key, func(key []byte) (bool, error) {
			if string(key) != "start" && string(key) != "end" {
				return false, nil
			}
			v, err := r.scalar(s)
			n, isNumber := v.Int()
			if string(key) == "start" {
				start, hasStart = n, isNumber
			} else {
				end, hasEnd = n, isNumber
			}
			return true, err
		})
		if err != nil {
			return err
		}
		if hasStart && hasEnd {
			tc.Width = addWidth(tc.Width, start, end)
		}
	}
}

func (r *Observer) rapid(s *skim, o *Observation) error {
	return s.members(&r.key, func(key []byte) (bool, error) {
		if string(key) == "is_rapid_context_switching" {
			o.Rapid = s.at('t')
		}
		return false, nil
	})
}

func (r *Observer) switchTo(s *skim, o *Observation) error {
	return s.members(&r.key, func(key []byte) (bool, error) {
		switch string(key) {
		case "file":
			raw, ok, err := s.stringValue()
			o.SwitchTo = nil
			if to := unescapeInto(&r.buf.to, raw); ok && len(to) > 0 {
				o.SwitchTo = to
			}
			return ok, err
		case "language":
			return r.language(s, o)
		}
		return false, nil
	})
}

// language reads file.language or to.language.
func (r *Observer) language(s *skim, o *Observation) (bool, error) {
	raw, ok, err := s.stringValue()
	o.Language = nil
	if ok {
		o.Language = unescapeInto(&r.buf.lang, raw)
	}
	return ok, err
}

// scalar reads the value s is at and, when it is a scalar, decodes it with Doc's rules
// (containers come back as an absent Value).
func (r *Observer) scalar(s *skim) (Value, error) {
	s.space()
	start := s.pos
	if err := s.skip(); err != nil {
		return Value{}, err
	}
	if s.src[start] == '{' || s.src[start] == '[' {
		return Value{}, nil
	}
	if err := r.token.Parse(s.src[start:s.pos]); err != nil {
		return Value{}, err
	}
	return r.token.Root(), nil
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

// unescapeInto is the decoded string body raw: raw itself, or its decoded copy in *buf
// when it has escapes.
func unescapeInto(buf *[]byte, raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw
	}
	*buf, _ = unescape((*buf)[:0], raw)
	return *buf
}

// skim walks JSON text that is known to be valid, without checking it: it only finds
// where values end. Every read is bounds-checked, so any bytes are safe to walk.
type skim struct {
	src []byte
	pos int
}

func (s *skim) space() { s.pos = spaceEnd(s.src, s.pos) }

// at reports whether the next value starts with c.
func (s *skim) at(c byte) bool {
	s.space()
	return s.pos < len(s.src) && s.src[s.pos] == c
}

// object enters the object that is the next value; false (nothing read) when the next
// value is not an object.
func (s *skim) object() bool {
	if !s.at('{') {
		return false
	}
	s.pos++
	return true
}

// member moves to the value of the next member of the object s is in and returns its
// key (unescaped into buf when it has escapes); ok is false after the last member.
func (s *skim) member(buf *[]byte) (key []byte, ok bool, err error) {
	s.space()
	if s.pos < len(s.src) && s.src[s.pos] == ',' {
		s.pos++
		s.space()
	}
	if s.pos >= len(s.src) {
		return nil, false, ErrSyntax
	}
	if s.src[s.pos] == '}' {
		s.pos++
		return nil, false, nil
	}
	if s.src[s.pos] != '"' {
		return nil, false, ErrSyntax
	}
	raw, err := s.str()
	if err != nil {
		return nil, false, err
	}
	if !s.at(':') {
		return nil, false, ErrSyntax
	}
	s.pos++
	if bytes.IndexByte(raw, '\\') >= 0 {
		*buf, _ = unescape((*buf)[:0], raw)
		raw = *buf
	}
	return raw, true, nil
}

// members calls read with the key of each member of the object s is in, with s at the
// member's value; read reports whether it read the value (otherwise it is skipped).
func (s *skim) members(buf *[]byte, read func(key []byte) (bool, error)) error {
	for {
		key, ok, err := s.member(buf)
		if err != nil || !ok {
			return err
		}
		done, err := read(key)
		if err != nil {
			return err
		}
		if !done {
			if err := s.skip(); err != nil {
				return err
			}
		}
	}
}

// stringValue reads the value s is at when it is a string (ok), and returns its body,
// escapes kept.
func (s *skim) stringValue() (body []byte, ok bool, err error) {
	if !s.at('"') {
		return nil, false, nil
	}
	body, err = s.str()
	return body, err == nil, err
}

// element moves to the next element of the array s is in; false after the last one.
func (s *skim) element() (bool, error) {
	s.space()
	if s.pos < len(s.src) && s.src[s.pos] == ',' {
		s.pos++
		s.space()
	}
	if s.pos >= len(s.src) {
		return false, ErrSyntax
	}
	if s.src[s.pos] == ']' {
		s.pos++
		return false, nil
	}
	return true, nil
}

// str reads the string s is at and returns its body, escapes kept.
func (s *skim) str() ([]byte, error) {
	start := s.pos + 1
	i := start
	for {
		q := bytes.IndexByte(s.src[i:], '"')
		if q < 0 {
			return nil, ErrSyntax
		}
		i += q
		backslashes := 0
		for j := i - 1; j >= start && s.src[j] == '\\'; j-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			s.pos = i + 1
			return s.src[start:i], nil
		}
		i++
	}
}

// skip moves past the value s is at.
func (s *skim) skip() error {
	s.space()
	if s.pos >= len(s.src) {
		return ErrSyntax
	}
	switch s.src[s.pos] {
	case '"':
		_, err := s.str()
		return err
	case '{', '[':
		depth := 0
		for s.pos < len(s.src) {
			switch s.src[s.pos] {
			case '"':
				if _, err := s.str(); err != nil {
					return err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.pos++
					return nil
				}
			}
			s.pos++
		}
		return ErrSyntax
	}
	start := s.pos // a number or a literal
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if s.pos == start {
				return ErrSyntax
			}
			return nil
		}
		s.pos++
	}
	if s.pos == start {
		return ErrSyntax
	}
	return nil
}
