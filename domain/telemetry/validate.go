package telemetry

import (
	"time"
	"unicode/utf8"

	"github.com/devflow/backend/domain/ids"
)

// Checked is what the ingest needs from a valid event besides its JSON.
type Checked struct {
	ClientType string    // one of the six client types
	SessionID  ids.ID    // session_id (any letter case in the JSON)
	Time       time.Time // timestamp
}

// Limits are the bounds openapi.yaml puts on telemetry values (its Telemetry* schemas
// and the most affected_line_ranges), as QuickCheck enforces them. infra reads them
// from the schema at start-up, so the numbers are written in one place only.
type Limits struct {
	Path, Name                  int    // longest path and name, in code points
	LineRanges                  int    // most affected_line_ranges of one text_change
	Count                       Bounds // counts of lines, changes and files
	Size                        Bounds // characters and bytes
	LineNumber                  Bounds
	DurationMs, DurationSeconds Bounds
}

// Bounds is an inclusive range of numbers.
type Bounds struct{ Min, Max int64 }

// QuickCheck is a fast, allocation-free validity check of one client event against the
// event schemas of the contract (4.2–4.4) and their bounds. It answers true only when
// it is sure the event is valid; anything unusual (an invalid event, a number written
// with an exponent, escapes in a checked string) answers false and the caller falls
// back to the generic JSON-schema validator, which also produces the error details. The
// fast path therefore never has to reproduce error messages, only validity; a test
// compares it with the schemas of openapi.yaml.
func (l *Limits) QuickCheck(ev Value) (Checked, bool) {
	var c Checked
	if !ev.Is(KindObject) {
		return c, false
	}
	var f [len(eventKeys)]Value
	ev.fields(eventKeys[:], f[:])
	t := f[0]
	if !t.Is(KindString) || t.n().flags&flagEscaped != 0 {
		return c, false
	}
	c.ClientType = knownClientType(t.StrBytes(nil))
	if c.ClientType == "" || !l.name(f[2]) {
		return c, false
	}
	var ok bool
	if c.Time, ok = timestampOf(f[1]); !ok {
		return c, false
	}
	if c.SessionID, ok = uuidOf(f[3]); !ok {
		return c, false
	}
	switch c.ClientType {
	case ClientFileSave:
		ok = l.isFileMeta(f[4])
	case ClientTextChange:
		ok = l.isFileMeta(f[4]) && l.isTextMetrics(f[5])
	case ClientEditorSwitch:
		ok = l.isSwitchMetrics(f[5]) && l.isSwitchEnd(f[6]) && l.isSwitchEnd(f[7])
	case ClientDebugSessionStart:
		var d [3]Value
		f[8].fields([]string{"name", "type", "launch_configuration_name"}, d[:])
		ok = f[8].Is(KindObject) && l.name(d[0]) && l.name(d[1]) && optional(d[2], l.name)
	case ClientTerminalOpen:
		var d [2]Value
		f[9].fields([]string{"name", "shell_type"}, d[:])
		ok = f[9].Is(KindObject) && l.name(d[0]) && optional(d[1], l.path)
	case ClientGitActivity:
		var d [2]Value
		f[10].fields([]string{"changed_files_count", "branch"}, d[:])
		ok = f[10].Is(KindObject) && l.Count.holdsInteger(d[0]) && optional(d[1], l.path)
	}
	return c, ok
}

var eventKeys = [...]string{"type", "timestamp", "workspace", "session_id", "file", "metrics", "from", "to", "debug", "terminal", "git"}

// Identify reads type, session_id and timestamp of an event the schema validator found
// valid (the slow path of QuickCheck).
func Identify(ev Value) (Checked, error) {
	var c Checked
	c.ClientType = knownClientType([]byte(ev.Get("type").Str()))
	var buf [64]byte
	id, ok := ParseUUID(ev.Get("session_id").StrBytes(buf[:0]))
	if c.ClientType == "" || !ok {
		return c, ErrNotClientEvent
	}
	t, err := ParseTimestamp(ev.Get("timestamp").StrBytes(buf[:0]))
	if err != nil {
		return c, err
	}
	c.SessionID, c.Time = id, t
	return c, nil
}

func plainString(v Value) bool { return v.Is(KindString) }

func (l *Limits) path(v Value) bool { return shortString(v, l.Path) }

func (l *Limits) name(v Value) bool { return shortString(v, l.Name) }

// shortString accepts a string of at most max code points; one with escapes that might
// be longer is left to the schema validator.
func shortString(v Value, max int) bool {
	if !v.Is(KindString) {
		return false
	}
	text := v.Raw()
	text = text[1 : len(text)-1]
	if len(text) <= max { // every code point takes a byte at least
		return true
	}
	return v.n().flags&flagEscaped == 0 && utf8.RuneCount(text) <= max
}

// optional accepts a missing value or one check accepts.
func optional(v Value, check func(Value) bool) bool { return !v.Exists() || check(v) }

// plainInteger accepts integers written without fraction or exponent; others are left
// to the schema validator.
func plainInteger(v Value) bool {
	if !v.Is(KindNumber) {
		return false
	}
	for _, c := range v.Raw() {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

func plainNumber(v Value) bool {
	if !v.Is(KindNumber) {
		return false
	}
	for _, c := range v.Raw() {
		if c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// holdsInteger is plainInteger within b.
func (b Bounds) holdsInteger(v Value) bool {
	if !plainInteger(v) {
		return false
	}
	n, _ := v.Int() // saturated beyond int64, so outside b too
	return b.Min <= n && n <= b.Max
}

// holdsNumber is plainNumber within b.
func (b Bounds) holdsNumber(v Value) bool {
	if !plainNumber(v) {
		return false
	}
	n, _ := v.Int() // truncated toward zero: a fraction lies strictly between n−1 and n+1
	if v.IsInteger() {
		return b.Min <= n && n <= b.Max
	}
	return b.Min < n && n < b.Max
}

func isBool(v Value) bool { return v.Is(KindTrue) || v.Is(KindFalse) }

func timestampOf(v Value) (time.Time, bool) {
	if !v.Is(KindString) || v.n().flags&flagEscaped != 0 {
		return time.Time{}, false
	}
	raw := v.Raw()
	t, err := ParseTimestamp(raw[1 : len(raw)-1])
	return t, err == nil
}

func uuidOf(v Value) (ids.ID, bool) {
	if !v.Is(KindString) || v.n().flags&flagEscaped != 0 {
		return ids.Nil, false
	}
	raw := v.Raw()
	return ParseUUID(raw[1 : len(raw)-1])
}

// ParseUUID parses the contract's uuid format (8-4-4-4-12 hex digits, any case)
// without allocating.
func ParseUUID(s []byte) (ids.ID, bool) {
	var id ids.ID
	if len(s) != 36 {
		return id, false
	}
	j := 0
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return ids.Nil, false
			}
			continue
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return ids.Nil, false
		}
		id[j] = hi<<4 | lo
		j++
		i++
	}
	return id, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

var fileKeys = [...]string{"path", "name", "absolute_path", "extension", "language", "workspace", "lines", "size_bytes"}

func (l *Limits) isFileMeta(f Value) bool {
	if !f.Is(KindObject) {
		return false
	}
	var v [len(fileKeys)]Value
	f.fields(fileKeys[:], v[:])
	return l.path(v[0]) && optional(v[1], l.name) && optional(v[2], l.path) && optional(v[3], l.name) &&
		optional(v[4], l.name) && optional(v[5], l.name) && optional(v[6], l.Count.holdsInteger) && optional(v[7], l.Size.holdsInteger)
}

var textMetricKeys = [...]string{"characters_added", "characters_deleted", "change_count", "edit_duration_ms",
	"is_large_paste", "is_possible_rewrite", "is_possible_undo_cycle", "affected_line_ranges", "lines_added", "lines_deleted"}

func (l *Limits) isTextMetrics(m Value) bool {
	if !m.Is(KindObject) {
		return false
	}
	var v [len(textMetricKeys)]Value
	m.fields(textMetricKeys[:], v[:])
	if !(l.Size.holdsInteger(v[0]) && l.Size.holdsInteger(v[1]) && l.Count.holdsInteger(v[2]) && l.DurationMs.holdsInteger(v[3]) &&
		isBool(v[4]) && isBool(v[5]) && isBool(v[6]) && optional(v[8], l.Count.holdsInteger) && optional(v[9], l.Count.holdsInteger)) {
		return false
	}
	r := v[7]
	if !r.Exists() {
		return true
	}
	if !r.Is(KindArray) {
		return false
	}
	for i, e := range r.Elements() {
		var se [2]Value
		e.fields([]string{"start", "end"}, se[:])
		if i == l.LineRanges || !e.Is(KindObject) || !l.LineNumber.holdsInteger(se[0]) || !l.LineNumber.holdsInteger(se[1]) {
			return false
		}
	}
	return true
}

func (l *Limits) isSwitchMetrics(m Value) bool {
	var v [3]Value
	m.fields([]string{"switch_interval_seconds", "is_cross_module_switch", "is_rapid_context_switching"}, v[:])
	return m.Is(KindObject) && l.DurationSeconds.holdsNumber(v[0]) && isBool(v[1]) && isBool(v[2])
}

func (l *Limits) isSwitchEnd(e Value) bool {
	if !e.Exists() {
		return true
	}
	var v [3]Value
	e.fields([]string{"file", "language", "module"}, v[:])
	return e.Is(KindObject) && optional(v[0], l.path) && optional(v[1], l.name) && optional(v[2], l.path)
}

// knownClientType returns the constant for one of the six client types, "" otherwise
// (without allocating).
func knownClientType(b []byte) string {
	switch string(b) {
	case ClientTextChange:
		return ClientTextChange
	case ClientFileSave:
		return ClientFileSave
	case ClientEditorSwitch:
		return ClientEditorSwitch
	case ClientDebugSessionStart:
		return ClientDebugSessionStart
	case ClientTerminalOpen:
		return ClientTerminalOpen
	case ClientGitActivity:
		return ClientGitActivity
	}
	return ""
}

var envelopeKeys = [...]string{"workspace", "machine_timestamp", "session", "events"}

var sessionKeys = [...]string{"active_minutes", "idle_minutes", "total_events_collected", "save_frequency", "editor_switch_frequency"}

// QuickCheckEnvelope is QuickCheck for the payload envelope (4.1): true only when it is
// sure the envelope is valid; otherwise the schema validator decides and explains.
func QuickCheckEnvelope(root Value) bool {
	if !root.Is(KindObject) {
		return false
	}
	var f [len(envelopeKeys)]Value
	root.fields(envelopeKeys[:], f[:])
	if !plainString(f[0]) || !f[2].Is(KindObject) || !f[3].Is(KindArray) || f[3].n().size < 2 {
		return false
	}
	if _, ok := timestampOf(f[1]); !ok {
		return false
	}
	var s [len(sessionKeys)]Value
	f[2].fields(sessionKeys[:], s[:])
	return plainNumber(s[0]) && plainNumber(s[1]) && plainInteger(s[2]) && plainNumber(s[3]) && plainNumber(s[4])
}
