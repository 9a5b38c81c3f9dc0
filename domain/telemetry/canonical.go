package telemetry

import (
	"bytes"
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
	key   []byte // decoded key: in the source, or in keys when it had escapes
	node  int32
	plain bool // the key had no escapes, so it needs none
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
		if raw := v.Raw(); isPlainInteger(raw) {
			c.out = append(c.out, raw...)
			break
		}
		d := parseDecimal(v.Raw(), c.num)
		c.num = d.digits
		c.out = d.appendCanonical(c.out)
	case KindString:
		c.writeString(v, false)
	case KindArray:
		c.out = append(c.out, '[')
		end := v.i + n.size
		for e := v.i + 1; e < end; e += v.d.nodes[e].size {
			if e != v.i+1 {
				c.out = append(c.out, ',')
			}
			c.write(Value{d: v.d, i: e}, false)
		}
		c.out = append(c.out, ']')
	case KindObject:
		base := len(c.members)
		keyBase := len(c.keys)
		end := v.i + n.size
		for m := v.i + 1; m < end; m += v.d.nodes[m].size {
			mn := &v.d.nodes[m]
			key := v.d.src[mn.keyStart:mn.keyEnd]
			if mn.flags&flagKeyEsc != 0 {
				off := len(c.keys)
				c.keys, _ = unescape(c.keys, key)
				key = c.keys[off:len(c.keys):len(c.keys)]
			}
			c.members = append(c.members, member{key: key, node: m, plain: mn.flags&flagKeyEsc == 0})
		}
		ms := c.members[base:]
		// Insertion sort: objects are small, and it is stable, so of a repeated key
		// the last occurrence stays last.
		for i := 1; i < len(ms); i++ {
			for j := i; j > 0 && bytes.Compare(ms[j-1].key, ms[j].key) > 0; j-- {
				ms[j-1], ms[j] = ms[j], ms[j-1]
			}
		}
		c.out = append(c.out, '{')
		first := true
		for i := range ms {
			m := ms[i]
			// Of a repeated key only the last occurrence counts.
			if i+1 < len(ms) && bytes.Equal(m.key, ms[i+1].key) {
				continue
			}
			if !first {
				c.out = append(c.out, ',')
			}
			first = false
			c.out = appendCanonicalString(c.out, m.key, m.plain)
			c.out = append(c.out, ':')
			child := Value{d: v.d, i: m.node}
			if lowerSessionID && child.n().kind == KindString && string(m.key) == "session_id" {
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
		// Without escapes the text is canonical already: control characters and
		// quotes cannot appear unescaped.
		c.out = append(c.out, v.d.src[n.start:n.end]...)
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
	c.out = appendCanonicalString(c.out, s, false)
	c.keys = c.keys[:start]
}

// appendCanonicalString quotes decoded text, escaping only what JSON requires. plain
// says s is known to need no escaping.
func appendCanonicalString(dst, s []byte, plain bool) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	if plain {
		dst = append(dst, s...)
		return append(dst, '"')
	}
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
