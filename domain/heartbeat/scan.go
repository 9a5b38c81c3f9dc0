package heartbeat

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// A small JSON scanner for the fast paths of Parse, Split and Decode. It finds where
// values end and checks their syntax as strictly as encoding/json does; anything it is
// unsure of makes the caller take the general path (encoding/json), so it never has to
// accept less or more than encoding/json would.

// maxDepth bounds nesting in skipped values (encoding/json allows 10000; real
// heartbeats nest once or twice). Deeper values take the general path.
const maxDepth = 64

// spaceEnd is the index of the first byte from i that is not JSON whitespace.
func spaceEnd(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// stringEnd reads the string starting at b[i] (a '"'): the index after its closing
// quote, or -1 when it is not a valid JSON string. plain reports that its bytes need
// neither unescaping nor escaping: what encoding/json decodes is the bytes between the
// quotes, and json.Marshal writes them back as they are (no escapes; none of <, > and &
// that it escapes for HTML; valid UTF-8 without U+2028 and U+2029).
func stringEnd(b []byte, i int) (end int, plain bool) {
	plain = true
	ascii := true
	start := i + 1
	for i++; ; i++ {
		for i < len(b) && stringByte[b[i]] == 0 {
			i++
		}
		if i >= len(b) {
			return -1, false
		}
		switch c := b[i]; {
		case c == '"':
			if !ascii && plain {
				plain = plainUTF8(b[start:i])
			}
			return i + 1, plain
		case c == '\\':
			plain = false
			i++
			if i >= len(b) {
				return -1, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return -1, false
				}
				i += 4
			default:
				return -1, false
			}
		case c < 0x20:
			return -1, false
		case c == '<' || c == '>' || c == '&':
			plain = false
		default: // c >= utf8.RuneSelf
			ascii = false
		}
	}
}

// stringByte marks the bytes stringEnd must look at: the quote, the backslash, control
// characters, what json.Marshal escapes for HTML, and non-ASCII.
var stringByte = func() (t [256]byte) {
	for c := range 256 {
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			t[c] = 1
		}
	}
	return t
}()

// plainUTF8 reports s is valid UTF-8 without the two line separators json.Marshal
// escapes.
func plainUTF8(s []byte) bool {
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += size
	}
	return true
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// numberEnd reads the number starting at b[i]: the index after it, or -1 when it does
// not follow JSON's grammar.
func numberEnd(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	// A number runs into the next token only through a delimiter.
	if i < len(b) && !isDelimiter(b[i]) {
		return -1
	}
	return i
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\n', '\r', '\t':
		return true
	}
	return false
}

// literalEnd reads true, false or null at b[i]: the index after it, or -1.
func literalEnd(b []byte, i int) int {
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
			end := i + len(lit)
			if end < len(b) && !isDelimiter(b[end]) {
				return -1
			}
			return end
		}
	}
	return -1
}

// valueEnd reads any JSON value starting at b[i] (no leading whitespace): the index
// after it, or -1 when it is not valid JSON or nests deeper than maxDepth.
func valueEnd(b []byte, i, depth int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		end, _ := stringEnd(b, i)
		return end
	case c == '-' || isDigit(c):
		return numberEnd(b, i)
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return -1
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		i = spaceEnd(b, i+1)
		if i < len(b) && b[i] == closing {
			return i + 1
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return -1
				}
				if i, _ = stringEnd(b, i); i < 0 {
					return -1
				}
				if i = spaceEnd(b, i); i >= len(b) || b[i] != ':' {
					return -1
				}
				i = spaceEnd(b, i+1)
			}
			if i = valueEnd(b, i, depth+1); i < 0 {
				return -1
			}
			i = spaceEnd(b, i)
			switch {
			case i < len(b) && b[i] == ',':
				i = spaceEnd(b, i+1)
			case i < len(b) && b[i] == closing:
				return i + 1
			default:
				return -1
			}
		}
	default:
		return literalEnd(b, i)
	}
}

// Split returns the elements of a JSON array, each as its bytes in body, for the
// heartbeats of a bulk request; false when body is not exactly one valid JSON array
// (surrounding whitespace aside). It agrees with json.Unmarshal into []json.RawMessage.
func Split(body []byte) ([]json.RawMessage, bool) {
	i := spaceEnd(body, 0)
	if i >= len(body) || body[i] != '[' {
		return nil, false
	}
	i = spaceEnd(body, i+1)
	items := make([]json.RawMessage, 0, len(body)/256+1)
	if i < len(body) && body[i] == ']' {
		return items, spaceEnd(body, i+1) == len(body)
	}
	for {
		end := valueEnd(body, i, 1)
		if end < 0 {
			return nil, false
		}
		items = append(items, body[i:end:end])
		i = spaceEnd(body, end)
		switch {
		case i < len(body) && body[i] == ',':
			i = spaceEnd(body, i+1)
		case i < len(body) && body[i] == ']':
			return items, spaceEnd(body, i+1) == len(body)
		default:
			return nil, false
		}
	}
}

// cutter makes the strings of a heartbeat with one allocation: each is given as a
// span of src, and all are copied out together by cut. A value set directly (set)
// replaces what is pending for the same field, so the last value given wins. Fields
// are named by index (stringField), not pointer, so that the heartbeat stays on the
// stack.
type cutter struct {
	src   []byte
	parts [12]struct {
		field      int8 // -1: replaced
		start, end int32
	}
	n int
}

// The string fields of a Heartbeat, for cutter.
const (
	fieldEntity = iota
	fieldType
	fieldCategory
	fieldProject
	fieldBranch
	fieldLanguage
	fieldUserAgent
	fieldEditor
	fieldOS
	fieldPlugin
	fieldMachine
)

func (h *Heartbeat) stringField(field int) *string {
	switch field {
	case fieldEntity:
		return &h.Entity
	case fieldType:
		return &h.Type
	case fieldCategory:
		return &h.Category
	case fieldProject:
		return &h.Project
	case fieldBranch:
		return &h.Branch
	case fieldLanguage:
		return &h.Language
	case fieldUserAgent:
		return &h.UserAgent
	case fieldEditor:
		return &h.Editor
	case fieldOS:
		return &h.OS
	case fieldPlugin:
		return &h.Plugin
	}
	return &h.Machine
}

// span makes field src[start:end] at the next cut.
func (c *cutter) span(h *Heartbeat, field, start, end int) {
	if c.n == len(c.parts) {
		c.cut(h)
	}
	c.parts[c.n].field, c.parts[c.n].start, c.parts[c.n].end = int8(field), int32(start), int32(end)
	c.n++
}

// set makes field v now.
func (c *cutter) set(h *Heartbeat, field int, v string) {
	for i := range c.parts[:c.n] {
		if int(c.parts[i].field) == field {
			c.parts[i].field = -1
		}
	}
	*h.stringField(field) = v
}

// cut sets the pending strings.
func (c *cutter) cut(h *Heartbeat) {
	size := 0
	for _, p := range c.parts[:c.n] {
		if p.field >= 0 {
			size += int(p.end - p.start)
		}
	}
	var b strings.Builder
	b.Grow(size)
	for _, p := range c.parts[:c.n] {
		if p.field >= 0 {
			b.Write(c.src[p.start:p.end])
		}
	}
	all, at := b.String(), 0
	for _, p := range c.parts[:c.n] {
		if p.field >= 0 {
			n := int(p.end - p.start)
			*h.stringField(int(p.field)) = all[at : at+n]
			at += n
		}
	}
	c.n = 0
}
