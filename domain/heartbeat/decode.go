package heartbeat

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// The names encoding/json would match (case-insensitively) in a stored payload and in
// its heartbeat; a key that matches one only case-insensitively takes the general way.
var (
	recordedNames  = []string{"heartbeat", "user_agent", "editor", "os", "plugin", "machine"}
	heartbeatNames = []string{"entity", "type", "category", "project", "branch", "language", "is_write",
		"lines", "line_additions", "line_deletions", "time"}
)

// decodePlain is Decode for the payloads Parse writes (and any JSON like them), its
// strings cut from one allocation. false when the
// payload holds what only encoding/json should judge (a key matching a field in
// another letter case, a repeated key of the payload, a field of an unexpected type,
// invalid JSON); decodeAny then gives the answer, or the error.
func decodePlain(data []byte) (Heartbeat, bool) {
	var h Heartbeat
	strs := cutter{src: data}
	// str makes field the string data[start:end] (quotes included).
	str := func(field, start, end int, plain bool) bool {
		if plain {
			strs.span(&h, field, start+1, end-1)
			return true
		}
		var s string
		ok := json.Unmarshal(data[start:end], &s) == nil
		strs.set(&h, field, s)
		return ok
	}
	var t []byte
	heartbeat := func(key []byte, start, end int, kind byte, plain bool) bool {
		i := heartbeatField(key)
		if i < 0 {
			return !foldsToAny(key, heartbeatNames)
		}
		if kind == 'n' {
			return true // encoding/json leaves the field as it was
		}
		field := 0
		switch heartbeatNames[i] {
		case "is_write":
			h.IsWrite = kind == 't'
			return kind == 't' || kind == 'f'
		case "lines":
			return intValue(data[start:end], kind, &h.Lines)
		case "line_additions":
			return intValue(data[start:end], kind, &h.LineAdditions)
		case "line_deletions":
			return intValue(data[start:end], kind, &h.LineDeletions)
		case "time":
			t = data[start:end]
			return kind == '0'
		case "entity":
			field = fieldEntity
		case "type":
			field = fieldType
		case "category":
			field = fieldCategory
		case "project":
			field = fieldProject
		case "branch":
			field = fieldBranch
		case "language":
			field = fieldLanguage
		}
		return kind == '"' && str(field, start, end, plain)
	}
	seen := 0
	end, ok := eachMember(data, spaceEnd(data, 0), func(key []byte, start, end int, kind byte, plain bool) bool {
		i := nameIndex(key, recordedNames)
		if i < 0 {
			return !foldsToAny(key, recordedNames)
		}
		if seen&(1<<i) != 0 {
			return false
		}
		seen |= 1 << i
		if i == 0 {
			return kind == '{' // its members went to heartbeat
		}
		return kind == '"' && str(fieldUserAgent+i-1, start, end, plain)
	}, "heartbeat", heartbeat)
	if !ok || spaceEnd(data, end) != len(data) || seen&1 == 0 {
		return h, false
	}
	if !ok || t == nil {
		return h, false
	}
	var err error
	if h.Time, err = unixSeconds(json.Number(t)); err != nil {
		return h, false
	}
	strs.cut(&h)
	if h.Category == "" {
		h.Category = DefaultCategory
	}
	return h, true
}

// intValue reads a number into an int64 as encoding/json does (whole numbers only).
func intValue(v []byte, kind byte, dst *int64) bool {
	n, err := strconv.ParseInt(string(v), 10, 64)
	*dst = n
	return kind == '0' && err == nil
}

// memberFunc takes a member of a JSON object: its key, where its value starts and ends,
// the value's kind ('"', '0', 't', 'f', 'n', '[' or '{') and, for a string, whether it
// is plain; false stops the reading.
type memberFunc func(key []byte, start, end int, kind byte, plain bool) bool

// eachMember reads the JSON object at b[i] and calls f with each member in order; keys
// must need no unescaping. An object value under innerKey is read (rather than only
// skipped) with eachMember and inner, before f sees it. It returns where the object
// ends; false at the first false, or when b[i:] does not start with such an object.
func eachMember(b []byte, i int, f memberFunc, innerKey string, inner memberFunc) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	if i = spaceEnd(b, i+1); i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		keyEnd, _ := stringEnd(b, i)
		if keyEnd < 0 || bytes.IndexByte(b[i:keyEnd], '\\') >= 0 || !utf8.Valid(b[i+1:keyEnd-1]) {
			return 0, false
		}
		key := b[i+1 : keyEnd-1]
		if i = spaceEnd(b, keyEnd); i >= len(b) || b[i] != ':' {
			return 0, false
		}
		i = spaceEnd(b, i+1)
		end, kind, plain := scalarEnd(b, i)
		if end < 0 {
			if i >= len(b) || b[i] != '[' && b[i] != '{' {
				return 0, false
			}
			kind = b[i]
			if kind == '{' && inner != nil && string(key) == innerKey {
				end, _ = eachMember(b, i, inner, "", nil)
			} else {
				end = valueEnd(b, i, 1)
			}
			if end <= 0 {
				return 0, false
			}
		}
		if !f(key, i, end, kind, plain) {
			return 0, false
		}
		i = spaceEnd(b, end)
		switch {
		case i < len(b) && b[i] == ',':
			i = spaceEnd(b, i+1)
		case i < len(b) && b[i] == '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// heartbeatField is nameIndex(key, heartbeatNames), by a switch: the payloads' inner
// keys are many, and comparing each with every name costs.
func heartbeatField(key []byte) int {
	switch string(key) {
	case "entity":
		return 0
	case "type":
		return 1
	case "category":
		return 2
	case "project":
		return 3
	case "branch":
		return 4
	case "language":
		return 5
	case "is_write":
		return 6
	case "lines":
		return 7
	case "line_additions":
		return 8
	case "line_deletions":
		return 9
	case "time":
		return 10
	}
	return -1
}

// nameIndex is the index of key in names, or -1.
func nameIndex(key []byte, names []string) int {
	for i, n := range names {
		if string(key) == n {
			return i
		}
	}
	return -1
}

// foldsToAny reports that encoding/json would match key to one of names (all lower
// case ASCII) though it is none of them: only a key with an upper case or non-ASCII
// letter can.
func foldsToAny(key []byte, names []string) bool {
	for _, c := range key {
		if 'A' <= c && c <= 'Z' || c >= 0x80 {
			for _, n := range names {
				if bytes.EqualFold(key, []byte(n)) {
					return true
				}
			}
			return false
		}
	}
	return false
}
