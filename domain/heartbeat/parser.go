package heartbeat

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
)

// Parser parses the heartbeats of one request: one user, one client, one clock. It
// keeps what they share (the user agent's parts, the payload's tail) and its scratch
// space from one heartbeat to the next, and cuts the payloads out of blocks it
// allocates a few at a time. It is not safe for concurrent use.
//
// A heartbeat as plugins send it (a flat object of strings, numbers, booleans and
// arrays of those, keys without escapes, each key once) is read by a scanner that
// writes the canonical form json.Marshal would write; anything else, and every
// heartbeat that turns out invalid, goes the general way (encoding/json), which also
// words the error. Both ways give the same heartbeat, id and payload, byte for byte.
type Parser struct {
	user     ids.ID
	userText string
	client   Client
	now      time.Time
	maxAge   time.Duration

	// The last user agent seen, and what follows the heartbeat in its payloads.
	agent      string
	agentOK    bool
	agentParts [3]string // editor, OS, plugin
	tail       []byte

	members []member
	content []byte
	block   []byte
}

// member is one key of a heartbeat object and its value, as offsets in the source (no
// pointers: members are moved about while sorting).
type member struct {
	keyStart, keyEnd int32
	start, end       int32
	kind             byte // '"' string, '0' number, 't' true, 'f' false, 'n' null, '[' array
	plain            bool // a string whose bytes are its value (stringEnd)
}

func (m *member) key(raw []byte) []byte { return raw[m.keyStart:m.keyEnd] }

// payloadBlock is the room payloads are cut from: a block serves a few dozen.
const payloadBlock = 32 << 10

// NewParser returns a parser for heartbeats sent by user from c; heartbeats older than
// maxAge before now are rejected.
func NewParser(user ids.ID, c Client, now time.Time, maxAge time.Duration) *Parser {
	return &Parser{user: user, userText: user.String(), client: c, now: now, maxAge: maxAge}
}

// Parse validates one heartbeat object and returns it with the event to append.
func (p *Parser) Parse(raw []byte) (Heartbeat, eventlog.EventData, error) {
	if h, ev, ok := p.parsePlain(raw); ok {
		return h, ev, nil
	}
	return p.parseAny(raw)
}

// parsePlain is Parse for a valid heartbeat as plugins send it; false for anything
// else.
func (p *Parser) parsePlain(raw []byte) (Heartbeat, eventlog.EventData, bool) {
	if !p.scanObject(raw) {
		return Heartbeat{}, eventlog.EventData{}, false
	}
	ms := p.members
	// Insertion sort: a heartbeat has a dozen keys or so.
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && bytes.Compare(ms[j-1].key(raw), ms[j].key(raw)) > 0; j-- {
			ms[j-1], ms[j] = ms[j], ms[j-1]
		}
	}
	for i := 1; i < len(ms); i++ {
		if bytes.Equal(ms[i-1].key(raw), ms[i].key(raw)) {
			return Heartbeat{}, eventlog.EventData{}, false // the last one counts: the general way knows
		}
	}

	// The payload, {"heartbeat":<canonical>,"user_agent":…}, is written straight into
	// the block; the canonical form is hashed where it lies.
	agent := p.client.UserAgent
	for i := range ms {
		if m := &ms[i]; string(m.key(raw)) == "user_agent" && m.kind == '"' {
			if s, ok := stringValue(raw, m); ok && s != "" {
				agent = s
			} else if !ok {
				return Heartbeat{}, eventlog.EventData{}, false
			}
		}
	}
	if !p.useAgent(agent) {
		return Heartbeat{}, eventlog.EventData{}, false
	}
	const head = `{"heartbeat":`
	need := len(head) + len(raw) + len(p.tail)
	if cap(p.block)-len(p.block) < need+len(raw) { // re-encoded strings may grow: leave slack
		p.block = make([]byte, 0, max(payloadBlock, 2*need+len(raw)))
	}
	base := len(p.block)
	buf := append(p.block, head...)
	canonStart := len(buf)
	buf = append(buf, '{')
	for i := range ms {
		m := &ms[i]
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(append(append(buf, '"'), m.key(raw)...), '"', ':')
		var ok bool
		if buf, ok = appendCanonical(buf, raw, m); !ok {
			return Heartbeat{}, eventlog.EventData{}, false
		}
	}
	buf = append(buf, '}')
	canonEnd := len(buf)
	buf = append(buf, p.tail...)
	data := buf[base:len(buf):len(buf)]
	canonical := buf[canonStart:canonEnd]

	h, ok := p.fields(raw)
	if !ok {
		return Heartbeat{}, eventlog.EventData{}, false
	}
	p.block = buf // only now is the room taken
	h.UserAgent, h.Machine = agent, p.client.Machine
	h.Editor, h.OS, h.Plugin = p.agentParts[0], p.agentParts[1], p.agentParts[2]
	h.ID = p.id(canonical)
	return h, eventlog.EventData{
		ID: h.ID, Type: TypeRecorded, SchemaVersion: SchemaVersion, Data: data,
		Metadata: eventlog.Metadata{UserID: p.userText, Client: h.Plugin},
	}, true
}

// scanObject reads raw (one JSON object, whitespace around it aside) into p.members;
// false when it is anything else or holds what parsePlain leaves to the general way.
func (p *Parser) scanObject(raw []byte) bool {
	p.members = p.members[:0]
	if len(raw) > math.MaxInt32 {
		return false // members keep 32-bit offsets
	}
	i := spaceEnd(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = spaceEnd(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return false // no entity
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return false
		}
		keyEnd, plain := stringEnd(raw, i)
		if keyEnd < 0 || !plain {
			return false
		}
		keyStart := i + 1
		if i = spaceEnd(raw, keyEnd); i >= len(raw) || raw[i] != ':' {
			return false
		}
		i = spaceEnd(raw, i+1)
		end, kind, plain := scalarEnd(raw, i)
		if end < 0 {
			if i >= len(raw) || raw[i] != '[' {
				return false // an object, or not JSON
			}
			if end = flatArrayEnd(raw, i); end < 0 {
				return false
			}
			kind = '['
		}
		p.members = append(p.members, member{keyStart: int32(keyStart), keyEnd: int32(keyEnd - 1),
			start: int32(i), end: int32(end), kind: kind, plain: plain})
		i = spaceEnd(raw, end)
		switch {
		case i < len(raw) && raw[i] == ',':
			i = spaceEnd(raw, i+1)
		case i < len(raw) && raw[i] == '}':
			return spaceEnd(raw, i+1) == len(raw)
		default:
			return false
		}
	}
}

// scalarEnd reads a string, number or literal at raw[i]: where it ends (-1 if it is
// none of those), its kind and, for a string, whether it is plain.
func scalarEnd(raw []byte, i int) (end int, kind byte, plain bool) {
	if i >= len(raw) {
		return -1, 0, false
	}
	switch c := raw[i]; {
	case c == '"':
		end, plain = stringEnd(raw, i)
		return end, '"', plain
	case c == '-' || isDigit(c):
		return numberEnd(raw, i), '0', false
	case c == 't' || c == 'f' || c == 'n':
		return literalEnd(raw, i), c, false
	}
	return -1, 0, false
}

// flatArrayEnd reads an array of strings, numbers and literals at raw[i]: where it
// ends, or -1.
func flatArrayEnd(raw []byte, i int) int {
	i = spaceEnd(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return i + 1
	}
	for {
		end, _, _ := scalarEnd(raw, i)
		if end < 0 {
			return -1
		}
		i = spaceEnd(raw, end)
		switch {
		case i < len(raw) && raw[i] == ',':
			i = spaceEnd(raw, i+1)
		case i < len(raw) && raw[i] == ']':
			return i + 1
		default:
			return -1
		}
	}
}

// appendCanonical appends m's value as json.Marshal writes what encoding/json decodes
// from it (numbers as sent, as json.Number keeps them).
func appendCanonical(buf, raw []byte, m *member) ([]byte, bool) {
	v := raw[m.start:m.end]
	switch m.kind {
	case '"':
		return appendCanonicalString(buf, v, m.plain)
	case '[':
		buf = append(buf, '[')
		first := true
		for i := spaceEnd(v, 1); v[i] != ']'; {
			end, kind, plain := scalarEnd(v, i)
			if !first {
				buf = append(buf, ',')
			}
			first = false
			if kind == '"' {
				var ok bool
				if buf, ok = appendCanonicalString(buf, v[i:end], plain); !ok {
					return buf, false
				}
			} else {
				buf = append(buf, v[i:end]...)
			}
			if i = spaceEnd(v, end); v[i] == ',' {
				i = spaceEnd(v, i+1)
			}
		}
		return append(buf, ']'), true
	}
	return append(buf, v...), true
}

// appendCanonicalString appends the JSON string s (quotes included) as json.Marshal
// writes its decoded value.
func appendCanonicalString(buf, s []byte, plain bool) ([]byte, bool) {
	if plain {
		return append(buf, s...), true
	}
	var v string
	if json.Unmarshal(s, &v) != nil {
		return buf, false
	}
	enc, err := json.Marshal(v)
	return append(buf, enc...), err == nil
}

// stringValue decodes the string member m of raw.
func stringValue(raw []byte, m *member) (string, bool) {
	if m.plain {
		return string(raw[m.start+1 : m.end-1]), true
	}
	var v string
	return v, json.Unmarshal(raw[m.start:m.end], &v) == nil
}

// fields reads the heartbeat's fields from its members, as read does; false when one
// is missing or invalid (the general way then says which). The strings take one
// allocation.
func (p *Parser) fields(raw []byte) (Heartbeat, bool) {
	var h Heartbeat
	strs := cutter{src: raw}
	str := func(field int, m *member, maxLen int) bool {
		switch {
		case m.kind == 'n':
			return true
		case m.kind != '"':
			return false
		case !m.plain:
			v, ok := stringValue(raw, m)
			strs.set(&h, field, v)
			return ok && utf8.RuneCountInString(v) <= maxLen && !strings.ContainsRune(v, 0)
		}
		strs.span(&h, field, int(m.start)+1, int(m.end)-1)
		return utf8.RuneCount(raw[m.start+1:m.end-1]) <= maxLen // no NUL: it would be escaped
	}
	var hasTime bool
	for i := range p.members {
		m := &p.members[i]
		ok := true
		switch string(m.key(raw)) {
		case "entity":
			ok = str(fieldEntity, m, maxEntityLen)
		case "type":
			ok = str(fieldType, m, maxNameLen)
		case "category":
			ok = str(fieldCategory, m, maxNameLen)
		case "project":
			ok = str(fieldProject, m, maxNameLen)
		case "branch":
			ok = str(fieldBranch, m, maxNameLen)
		case "language":
			ok = str(fieldLanguage, m, maxNameLen)
		case "lines":
			h.Lines, ok = count(raw, m)
		case "line_additions":
			h.LineAdditions, ok = count(raw, m)
		case "line_deletions":
			h.LineDeletions, ok = count(raw, m)
		case "lineno", "cursorpos", "project_root_count":
			_, ok = count(raw, m)
		case "is_write":
			h.IsWrite, ok = m.kind == 't', m.kind == 't' || m.kind == 'f' || m.kind == 'n'
		case "dependencies":
			ok = m.kind == 'n' || m.kind == '[' && onlyStrings(raw[m.start:m.end])
		case "time":
			if m.kind != '0' {
				return h, false
			}
			t, err := unixSeconds(json.Number(raw[m.start:m.end]))
			ok, hasTime, h.Time = err == nil, true, t
		}
		if !ok {
			return h, false
		}
	}
	strs.cut(&h)
	switch h.Type {
	case EntityFile, EntityApp, EntityDomain, EntityURL:
	default:
		return h, false
	}
	if h.Entity == "" || !hasTime || h.Time.Before(p.now.Add(-p.maxAge)) || h.Time.After(p.now.Add(maxFuture)) {
		return h, false
	}
	if h.Category == "" {
		h.Category = DefaultCategory
	}
	return h, true
}

// count reads a count as countField does: a whole number from 0 to maxCount, or null.
func count(raw []byte, m *member) (int64, bool) {
	if m.kind == 'n' {
		return 0, true
	}
	if m.kind != '0' {
		return 0, false
	}
	v := raw[m.start:m.end]
	if len(v) <= 8 { // the common case, without a string for strconv
		n := int64(0)
		for _, c := range v {
			if !isDigit(c) {
				n = -1
				break
			}
			n = 10*n + int64(c-'0')
		}
		if n >= 0 && (len(v) == 1 || v[0] != '0') {
			return n, n <= maxCount
		}
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil && n >= 0 && n <= maxCount
}

// onlyStrings reports an array (as flatArrayEnd read it) holds only strings.
func onlyStrings(v []byte) bool {
	for i := spaceEnd(v, 1); v[i] != ']'; {
		if v[i] != '"' {
			return false
		}
		end, _ := stringEnd(v, i)
		if i = spaceEnd(v, end); v[i] == ',' {
			i = spaceEnd(v, i+1)
		}
	}
	return true
}

// useAgent makes agent the user agent of the payloads to come: its parts, its length
// check, and the payload's tail; false when the machine name or agent is too long.
func (p *Parser) useAgent(agent string) bool {
	if p.tail != nil && agent == p.agent {
		return p.agentOK
	}
	p.agent = agent
	editor, os, plugin := ParseUserAgent(agent)
	p.agentParts = [3]string{editor, os, plugin}
	p.agentOK = utf8.RuneCountInString(p.client.Machine) <= maxNameLen && utf8.RuneCountInString(agent) <= maxEntityLen
	// json.Marshal of recorded writes the fields in this order, after the heartbeat.
	tail, err := json.Marshal(struct {
		UserAgent string `json:"user_agent"`
		Editor    string `json:"editor"`
		OS        string `json:"os"`
		Plugin    string `json:"plugin"`
		Machine   string `json:"machine"`
	}{agent, editor, os, plugin, p.client.Machine})
	if err != nil {
		p.agentOK = false
	}
	p.tail = append(append(p.tail[:0], ','), tail[1:]...)
	return p.agentOK
}

// id derives the heartbeat's id from the user, the machine and the canonical form.
func (p *Parser) id(canonical []byte) ids.ID {
	p.content = append(append(append(append(p.content[:0], p.user[:]...), p.client.Machine...), 0), canonical...)
	return ids.FromContent(eventNamespace, p.content)
}
