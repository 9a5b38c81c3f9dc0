package telemetry

import (
	"bytes"
	"errors"
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
	// Workspace is file.workspace (the folder holding the file) when the event names
	// one, else the event's workspace; Language is file.language, or to.language of an
	// editor_switch.
	Workspace string
	Language  string
}

// ErrNotClientEvent is returned by Decode for payloads that are not stored client
// events.
var ErrNotClientEvent = errors.New("not a stored client event")

// ClientDecoder decodes stored client events. It keeps scratch space and the strings
// (paths, workspaces, languages) it has seen, so a batch's repeated ones share one
// string; it is not safe for concurrent use.
//
// A stored payload was checked in full when it was ingested, and the log's json column
// only holds valid JSON, so the decoder does not parse it into a tree: it walks the few
// members the read models use and skips every other value by finding where it ends. It
// decodes what it reads as Doc would (the last of repeated keys, Value.Int for numbers),
// never writes to the payload, and never reads out of bounds whatever the bytes.
type ClientDecoder struct {
	skim  skim
	token Doc    // one scalar at a time, decoded by Doc's own rules
	key   []byte // an unescaped key
	buf   []byte // an unescaped string on its way to seen
	seen  map[string]string
	o     ClientEvent // the event being read (a field: the closures below share it)
	// What the event member read so far: its timestamp, and its workspace and its
	// file's apart, because the file's wins when not empty.
	stamp                                   time.Time
	stampErr                                error
	workspace, fileWorkspace                string
	stampOK, hasWorkspace, hasFileWorkspace bool
}

// Decode reads the payload of a stored client event of log type eventType and schema
// version schemaVersion (the payload written by AppendRecorded).
func (r *ClientDecoder) Decode(eventType string, schemaVersion int, data []byte) (ClientEvent, error) {
	if schemaVersion != SchemaVersion {
		return ClientEvent{}, fmt.Errorf("%s v%d: %w", eventType, schemaVersion, ErrUnknownSchemaVersion)
	}
	o := &r.o
	s := &r.skim // fields, so that the closures below need not move them to the heap
	*s = skim{src: data}
	if !s.object() {
		return ClientEvent{}, ErrNotClientEvent
	}
	event := false // an "event" member was read; a later one replaces it
	err := s.members(&r.key, func(key []byte) (bool, error) {
		if string(key) != "event" {
			return false, nil
		}
		*o, r.stampOK, r.hasWorkspace, r.hasFileWorkspace = ClientEvent{}, false, false, false
		if event = s.object(); !event {
			return false, nil
		}
		return true, r.event(s, eventType, o)
	})
	switch {
	case err != nil:
		return ClientEvent{}, err
	case !event || !r.stampOK:
		return ClientEvent{}, ErrNotClientEvent
	case r.stampErr != nil:
		return ClientEvent{}, r.stampErr
	}
	o.Type, o.Time = eventType, r.stamp
	switch {
	case r.hasFileWorkspace && r.fileWorkspace != "":
		o.Workspace = r.fileWorkspace
	case r.hasWorkspace:
		o.Workspace = r.workspace
	}
	if eventType == TypeTextChanged {
		o.Text.FileLines, o.Text.HasFileLines = o.Lines, o.HasLines
	}
	return *o, nil
}

// Forget drops the remembered strings (call it between batches to bound memory).
func (r *ClientDecoder) Forget() { clear(r.seen) }

// event reads the members of the event object s is in.
func (r *ClientDecoder) event(s *skim, eventType string, o *ClientEvent) error {
	return s.members(&r.key, func(key []byte) (bool, error) {
		var readObject func(*skim, *ClientEvent) error // the member's object, when it is one
		switch {
		case string(key) == "timestamp":
			raw, ok, err := s.stringValue()
			if r.stampOK = ok; ok {
				r.stamp, r.stampErr = parseDateTime(r.unescape(raw))
			}
			return ok, err
		case string(key) == "workspace":
			raw, ok, err := s.stringValue()
			r.workspace, r.hasWorkspace = r.str(raw), ok
			return ok, err
		case string(key) == "file" && (eventType == TypeTextChanged || eventType == TypeFileSaved):
			o.File, o.Lines, o.HasLines, o.Language, r.hasFileWorkspace = "", 0, false, "", false
			readObject = r.fileOf
		case string(key) == "metrics" && eventType == TypeTextChanged:
			o.Text = TextChange{}
			readObject = r.textChange
		case string(key) == "metrics" && eventType == TypeEditorSwitched:
			o.Rapid = false
			readObject = r.rapid
		case string(key) == "to" && eventType == TypeEditorSwitched:
			o.SwitchTo, o.Language = "", ""
			readObject = r.switchTo
		}
		if readObject == nil || !s.object() {
			return false, nil
		}
		return true, readObject(s, o)
	})
}

func (r *ClientDecoder) fileOf(s *skim, o *ClientEvent) error {
	return s.members(&r.key, func(key []byte) (bool, error) {
		switch string(key) {
		case "path":
			raw, ok, err := s.stringValue()
			o.File = r.str(raw)
			return ok, err
		case "workspace":
			raw, ok, err := s.stringValue()
			r.fileWorkspace, r.hasFileWorkspace = r.str(raw), ok
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

func (r *ClientDecoder) textChange(s *skim, o *ClientEvent) error {
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
func (r *ClientDecoder) lineRanges(s *skim, tc *TextChange) error {
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

func (r *ClientDecoder) rapid(s *skim, o *ClientEvent) error {
	return s.members(&r.key, func(key []byte) (bool, error) {
		if string(key) == "is_rapid_context_switching" {
			o.Rapid = s.at('t')
		}
		return false, nil
	})
}

func (r *ClientDecoder) switchTo(s *skim, o *ClientEvent) error {
	return s.members(&r.key, func(key []byte) (bool, error) {
		switch string(key) {
		case "file":
			raw, ok, err := s.stringValue()
			o.SwitchTo = r.str(raw)
			return ok, err
		case "language":
			return r.language(s, o)
		}
		return false, nil
	})
}

// language reads file.language or to.language.
func (r *ClientDecoder) language(s *skim, o *ClientEvent) (bool, error) {
	raw, ok, err := s.stringValue()
	o.Language = r.str(raw)
	return ok, err
}

// scalar reads the value s is at and, when it is a scalar, decodes it with Doc's rules
// (containers come back as an absent Value).
func (r *ClientDecoder) scalar(s *skim) (Value, error) {
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

// unescape is the decoded string body raw: raw itself, or its decoded copy in r.buf
// when it has escapes.
func (r *ClientDecoder) unescape(raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw
	}
	r.buf, _ = unescape(r.buf[:0], raw)
	return r.buf
}

// str is the decoded string body raw as a string, the one copy of it the decoder keeps.
func (r *ClientDecoder) str(raw []byte) string {
	b := r.unescape(raw)
	if len(b) == 0 {
		return ""
	}
	if s, ok := r.seen[string(b)]; ok {
		return s
	}
	if r.seen == nil {
		r.seen = map[string]string{}
	}
	s := string(b)
	r.seen[s] = s
	return s
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
