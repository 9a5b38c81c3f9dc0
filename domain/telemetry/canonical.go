package telemetry

import (
	"bytes"
	"slices"
)

// Canonicalizer writes the canonical form of JSON values (decision D16): object keys
// sorted by their decoded bytes (a repeated key keeps its last value, as decoders do),
// no whitespace, strings by their decoded value, numbers by value. Two events that
// differ only in key order, whitespace, string escaping or number spelling (240 vs
// 240.0) have the same canonical form and therefore the same event id. The form is only
// hashed, never stored.
//
// A Canonicalizer reuses its buffers; it is not safe for concurrent use.
type Canonicalizer struct {
	out     []byte
	members []member
	keys    []byte
	num     []byte
}

type member struct {
	keyOff, keyLen int32
	node           int32
	seq            int32
}

// Canonical returns the canonical form of v. The result is valid until the next call.
// lowerSessionID lower-cases a top-level "session_id" string, because session ids are
// compared case-insensitively (4.2).
func (c *Canonicalizer) Canonical(v Value, lowerSessionID bool) []byte {
	c.out = c.out[:0]
	c.keys = c.keys[:0]
	c.members = c.members[:0]
	c.write(v, lowerSessionID)
	return c.out
}

func (c *Canonicalizer) write(v Value, lowerSessionID bool) {
	n := v.n()
	switch n.kind {
	case KindNull:
		c.out = append(c.out, "null"...)
	case KindTrue:
		c.out = append(c.out, "true"...)
	case KindFalse:
		c.out = append(c.out, "false"...)
	case KindNumber:
		d := parseDecimal(v.Raw(), c.num)
		c.num = d.digits
		c.out = d.appendCanonical(c.out)
	case KindString:
		c.writeString(v, false)
	case KindArray:
		c.out = append(c.out, '[')
		first := true
		for e := range v.children() {
			if !first {
				c.out = append(c.out, ',')
			}
			first = false
			c.write(e, false)
		}
		c.out = append(c.out, ']')
	case KindObject:
		base := len(c.members)
		keyBase := len(c.keys)
		seq := int32(0)
		for m := range v.children() {
			mn := m.n()
			off := len(c.keys)
			raw := v.d.src[mn.keyStart:mn.keyEnd]
			if mn.flags&flagKeyEsc != 0 {
				c.keys, _ = unescape(c.keys, raw)
			} else {
				c.keys = append(c.keys, raw...)
			}
			c.members = append(c.members, member{keyOff: int32(off), keyLen: int32(len(c.keys) - off), node: m.i, seq: seq})
			seq++
		}
		ms := c.members[base:]
		keys := c.keys
		key := func(m member) []byte { return keys[m.keyOff : m.keyOff+m.keyLen] }
		slices.SortFunc(ms, func(a, b member) int {
			if r := bytes.Compare(key(a), key(b)); r != 0 {
				return r
			}
			return int(a.seq - b.seq)
		})
		c.out = append(c.out, '{')
		first := true
		for i := 0; i < len(ms); i++ {
			m := c.members[base+i]
			// Of a repeated key only the last occurrence counts.
			if i+1 < len(ms) && bytes.Equal(key(m), key(c.members[base+i+1])) {
				continue
			}
			if !first {
				c.out = append(c.out, ',')
			}
			first = false
			c.out = appendCanonicalString(c.out, c.keys[m.keyOff:m.keyOff+m.keyLen])
			c.out = append(c.out, ':')
			child := Value{d: v.d, i: m.node}
			if lowerSessionID && child.n().kind == KindString && string(c.keys[m.keyOff:m.keyOff+m.keyLen]) == "session_id" {
				c.writeString(child, true)
			} else {
				c.write(child, false)
			}
		}
		c.out = append(c.out, '}')
		c.members = c.members[:base]
		c.keys = c.keys[:keyBase]
	}
}

func (c *Canonicalizer) writeString(v Value, lower bool) {
	n := v.n()
	raw := v.d.src[n.start+1 : n.end-1]
	if n.flags&flagEscaped == 0 && !lower {
		c.out = appendCanonicalString(c.out, raw)
		return
	}
	start := len(c.keys)
	c.keys, _ = unescape(c.keys, raw)
	s := c.keys[start:]
	if lower {
		for i, b := range s {
			if b >= 'A' && b <= 'Z' {
				s[i] = b + 'a' - 'A'
			}
		}
	}
	c.out = appendCanonicalString(c.out, s)
	c.keys = c.keys[:start]
}

// appendCanonicalString quotes decoded text, escaping only what JSON requires.
func appendCanonicalString(dst, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for _, b := range s {
		switch {
		case b == '"' || b == '\\':
			dst = append(dst, '\\', b)
		case b < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
		default:
			dst = append(dst, b)
		}
	}
	return append(dst, '"')
}
