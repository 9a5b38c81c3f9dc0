package telemetry

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Doc is a parsed JSON document kept as a flat, pre-order list of nodes that point back
// into the source bytes. Telemetry bodies are several MB with thousands of events;
// parsing them once into this form (and reusing the node buffer) lets the ingest path
// check syntax, validate, canonicalise and extract fields without building maps.
type Doc struct {
	src   []byte
	nodes []node
}

// Kind is the JSON type of a node.
type Kind uint8

const (
	KindNull Kind = iota
	KindFalse
	KindTrue
	KindNumber
	KindString
	KindArray
	KindObject
)

// node flags
const (
	flagEscaped   = 1 << iota // string value contains escapes
	flagKeyEsc                // member key contains escapes
	flagBadText               // string value is not storable text: invalid UTF-8, NUL, lone surrogate
	flagBadKey                // member key is not storable text
	flagHasMember             // node is an object member (key fields set)
)

type node struct {
	kind     Kind
	flags    uint8
	start    int32 // value span in src; strings include their quotes
	end      int32
	keyStart int32 // key span without quotes, for object members
	keyEnd   int32
	size     int32 // number of nodes in this subtree, itself included
}

// ErrSyntax is returned for text that is not JSON.
var ErrSyntax = errors.New("malformed JSON")

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

// Parse parses src into d, reusing d's buffers. src must stay unchanged while d is used.
func (d *Doc) Parse(src []byte) error {
	if len(src) > 1<<31-1 {
		return ErrSyntax
	}
	d.src = src
	d.nodes = d.nodes[:0]
	p := parser{src: src, doc: d}
	p.skipSpace()
	if err := p.value(0); err != nil {
		return err
	}
	p.skipSpace()
	if p.pos != len(src) {
		return ErrSyntax
	}
	return nil
}

// Root is the top-level value.
func (d *Doc) Root() Value { return Value{d: d, i: 0} }

// Value is one node of a Doc. The zero Value is "absent".
type Value struct {
	d *Doc
	i int32
}

// Exists reports whether v refers to a node.
func (v Value) Exists() bool { return v.d != nil }

func (v Value) n() *node { return &v.d.nodes[v.i] }

// Kind is v's JSON type; call only when v exists.
func (v Value) Kind() Kind { return v.n().kind }

// Raw is v's source text.
func (v Value) Raw() []byte { n := v.n(); return v.d.src[n.start:n.end] }

// Is reports whether v exists and has kind k.
func (v Value) Is(k Kind) bool { return v.d != nil && v.n().kind == k }

// Len is the number of elements or members of an array or object.
func (v Value) Len() int {
	c := 0
	for range v.children() {
		c++
	}
	return c
}

// children iterates over the direct children of an array or object.
func (v Value) children() func(yield func(Value) bool) {
	return func(yield func(Value) bool) {
		if v.d == nil {
			return
		}
		n := v.n()
		if n.kind != KindArray && n.kind != KindObject {
			return
		}
		end := v.i + n.size
		for c := v.i + 1; c < end; c += v.d.nodes[c].size {
			if !yield(Value{d: v.d, i: c}) {
				return
			}
		}
	}
}

// Elements iterates over an array's elements with their indexes.
func (v Value) Elements() func(yield func(int, Value) bool) {
	return func(yield func(int, Value) bool) {
		i := 0
		for c := range v.children() {
			if !yield(i, c) {
				return
			}
			i++
		}
	}
}

// Members iterates over an object's members in source order (duplicates included).
func (v Value) Members() func(yield func(Value) bool) { return v.children() }

// Key is the decoded key of an object member.
func (v Value) Key() string { return string(v.KeyBytes(nil)) }

// KeyBytes is Key without a copy when the key has no escapes; buf is used otherwise.
func (v Value) KeyBytes(buf []byte) []byte {
	n := v.n()
	raw := v.d.src[n.keyStart:n.keyEnd]
	if n.flags&flagKeyEsc == 0 {
		return raw
	}
	b, _ := unescape(buf[:0], raw)
	return b
}

// Get returns the member named k of an object (the last one when a key repeats, as
// encoding/json decodes it), or an absent Value.
func (v Value) Get(k string) Value {
	var out [1]Value
	v.fields([]string{k}, out[:])
	return out[0]
}

// fields finds the members named keys[i] in one pass over an object and stores them in
// out[i] (absent when missing; the last one when a key repeats). On a non-object every
// out[i] is absent.
func (v Value) fields(keys []string, out []Value) {
	for i := range out {
		out[i] = Value{}
	}
	if v.d == nil {
		return
	}
	n := &v.d.nodes[v.i]
	if n.kind != KindObject {
		return
	}
	end := v.i + n.size
	var buf [64]byte
	for c := v.i + 1; c < end; c += v.d.nodes[c].size {
		cn := &v.d.nodes[c]
		key := v.d.src[cn.keyStart:cn.keyEnd]
		if cn.flags&flagKeyEsc != 0 {
			key, _ = unescape(buf[:0], key)
		}
		for j, k := range keys {
			if string(key) == k {
				out[j] = Value{d: v.d, i: c}
				break
			}
		}
	}
}

// StrBytes is the decoded text of a string node: its source bytes when the string has no
// escapes, else decoded into buf.
func (v Value) StrBytes(buf []byte) []byte {
	n := v.n()
	raw := v.d.src[n.start+1 : n.end-1]
	if n.flags&flagEscaped == 0 {
		return raw
	}
	b, _ := unescape(buf[:0], raw)
	return b
}

// Storable reports whether every string and key in v's subtree is text PostgreSQL can
// store in jsonb (valid UTF-8, no NUL, no unpaired surrogate). If not, it returns the
// first offending node.
func (v Value) Storable() (bad Value, ok bool) {
	n := v.n()
	for i := v.i; i < v.i+n.size; i++ {
		if v.d.nodes[i].flags&(flagBadText|flagBadKey) != 0 {
			return Value{d: v.d, i: i}, false
		}
	}
	return Value{}, true
}

// Pointer is the JSON Pointer of v relative to ancestor (which must contain v).
func (v Value) Pointer(ancestor Value) string {
	var segs []string
	target := v.i
	cur := ancestor
	for cur.i != target {
		n := cur.n()
		idx := 0
		next := int32(-1)
		end := cur.i + n.size
		for c := cur.i + 1; c < end; c += v.d.nodes[c].size {
			if target >= c && target < c+v.d.nodes[c].size {
				next = c
				break
			}
			idx++
		}
		if next < 0 {
			return ""
		}
		child := Value{d: v.d, i: next}
		if n.kind == KindObject {
			segs = append(segs, pointerEscaper.Replace(child.Key()))
		} else {
			segs = append(segs, strconv.Itoa(idx))
		}
		cur = child
	}
	if len(segs) == 0 {
		return ""
	}
	return "/" + strings.Join(segs, "/")
}

// pointerEscaper escapes a JSON Pointer token (RFC 6901).
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

type parser struct {
	src []byte
	pos int
	doc *Doc
}

// open consumes a container's opening bracket and reports whether close follows at
// once (an empty object or array).
func (p *parser) open(close byte) (empty bool) {
	p.pos++
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == close {
		p.pos++
		return true
	}
	return false
}

// next consumes what follows a member or element: a comma (more follow) or the
// container's close.
func (p *parser) next(close byte) (more bool, err error) {
	p.skipSpace()
	if p.pos >= len(p.src) {
		return false, ErrSyntax
	}
	switch p.src[p.pos] {
	case ',':
		p.pos++
		p.skipSpace()
		return true, nil
	case close:
		p.pos++
		return false, nil
	}
	return false, ErrSyntax
}

func (p *parser) skipSpace() { p.pos = spaceEnd(p.src, p.pos) }

// spaceEnd is where the JSON whitespace starting at src[pos] ends.
func spaceEnd(src []byte, pos int) int {
	for pos < len(src) {
		switch src[pos] {
		case ' ', '\t', '\n', '\r':
			pos++
		default:
			return pos
		}
	}
	return pos
}

// value parses one value at p.pos (no leading space) and appends its nodes.
func (p *parser) value(depth int) error {
	if p.pos >= len(p.src) {
		return ErrSyntax
	}
	idx := len(p.doc.nodes)
	p.doc.nodes = append(p.doc.nodes, node{start: int32(p.pos), size: 1})
	c := p.src[p.pos]
	switch {
	case c == '{':
		if depth >= maxDepth {
			return ErrSyntax
		}
		p.doc.nodes[idx].kind = KindObject
		if p.open('}') {
			break
		}
		for {
			if p.pos >= len(p.src) || p.src[p.pos] != '"' {
				return ErrSyntax
			}
			keyStart := p.pos + 1
			flags, err := p.str()
			if err != nil {
				return err
			}
			keyEnd := p.pos - 1
			p.skipSpace()
			if p.pos >= len(p.src) || p.src[p.pos] != ':' {
				return ErrSyntax
			}
			p.pos++
			p.skipSpace()
			member := len(p.doc.nodes)
			if err := p.value(depth + 1); err != nil {
				return err
			}
			m := &p.doc.nodes[member]
			m.keyStart, m.keyEnd = int32(keyStart), int32(keyEnd)
			m.flags |= flagHasMember
			if flags&flagEscaped != 0 {
				m.flags |= flagKeyEsc
			}
			if flags&flagBadText != 0 {
				m.flags |= flagBadKey
			}
			if more, err := p.next('}'); err != nil {
				return err
			} else if !more {
				break
			}
		}
	case c == '[':
		if depth >= maxDepth {
			return ErrSyntax
		}
		p.doc.nodes[idx].kind = KindArray
		if p.open(']') {
			break
		}
		for {
			if err := p.value(depth + 1); err != nil {
				return err
			}
			if more, err := p.next(']'); err != nil {
				return err
			} else if !more {
				break
			}
		}
	case c == '"':
		p.doc.nodes[idx].kind = KindString
		flags, err := p.str()
		if err != nil {
			return err
		}
		p.doc.nodes[idx].flags = flags
	case c == '-' || (c >= '0' && c <= '9'):
		p.doc.nodes[idx].kind = KindNumber
		if err := p.number(); err != nil {
			return err
		}
	case c == 't':
		p.doc.nodes[idx].kind = KindTrue
		if err := p.literal("true"); err != nil {
			return err
		}
	case c == 'f':
		p.doc.nodes[idx].kind = KindFalse
		if err := p.literal("false"); err != nil {
			return err
		}
	case c == 'n':
		p.doc.nodes[idx].kind = KindNull
		if err := p.literal("null"); err != nil {
			return err
		}
	default:
		return ErrSyntax
	}
	n := &p.doc.nodes[idx]
	n.end = int32(p.pos)
	n.size = int32(len(p.doc.nodes) - idx)
	return nil
}

func (p *parser) literal(lit string) error {
	if len(p.src)-p.pos < len(lit) || string(p.src[p.pos:p.pos+len(lit)]) != lit {
		return ErrSyntax
	}
	p.pos += len(lit)
	return nil
}

func (p *parser) number() error {
	s, i := p.src, p.pos
	if i < len(s) && s[i] == '-' {
		i++
	}
	// An integer part without leading zeros, then an optional fraction and exponent,
	// each with at least one digit.
	ok := true
	if i < len(s) && s[i] == '0' {
		i++
	} else if i, ok = digitRun(s, i); !ok {
		return ErrSyntax
	}
	if i < len(s) && s[i] == '.' {
		if i, ok = digitRun(s, i+1); !ok {
			return ErrSyntax
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i, ok = digitRun(s, i); !ok {
			return ErrSyntax
		}
	}
	p.pos = i
	return nil
}

// digitRun is where the decimal digits starting at s[i] end, and whether there is one.
func digitRun(s []byte, i int) (end int, ok bool) {
	end = i
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	return end, end > i
}

// str scans a string starting at the opening quote and reports whether it has escapes
// and whether its text is storable.
func (p *parser) str() (uint8, error) {
	s := p.src
	i := p.pos + 1
	var flags uint8
	for {
		// Fast scan over plain ASCII.
		for i < len(s) {
			c := s[i]
			if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				break
			}
			i++
		}
		if i >= len(s) {
			return 0, ErrSyntax
		}
		c := s[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return flags, nil
		case c < 0x20:
			return 0, ErrSyntax
		case c == '\\':
			flags |= flagEscaped
			if i+1 >= len(s) {
				return 0, ErrSyntax
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, n, lone, ok := escapedRune(s, i)
				if !ok {
					return 0, ErrSyntax
				}
				if r == 0 || lone {
					flags |= flagBadText
				}
				i += n
			default:
				return 0, ErrSyntax
			}
		default: // non-ASCII
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				flags |= flagBadText
			}
			i += size
		}
	}
}

// escapedRune reads the \uXXXX escape at s[i], a surrogate pair as one rune, and
// returns the rune and the escape's length. A surrogate that is not half of a pair
// (lone) reads as U+FFFD, as encoding/json decodes it; ok is false when s[i:] is not
// an escape.
func escapedRune(s []byte, i int) (r rune, n int, lone, ok bool) {
	if r, ok = hex4(s, i+2); !ok {
		return 0, 0, false, false
	}
	if !utf16.IsSurrogate(r) {
		return r, 6, false, true
	}
	if r < 0xdc00 && i+7 < len(s) && s[i+6] == '\\' && s[i+7] == 'u' {
		if r2, ok := hex4(s, i+8); ok && r2 >= 0xdc00 && r2 <= 0xdfff {
			return utf16.DecodeRune(r, r2), 12, false, true
		}
	}
	return utf8.RuneError, 6, true, true
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// unescape appends the decoded form of a string body (without quotes) to dst. Lone
// surrogates become U+FFFD, as encoding/json decodes them.
func unescape(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return dst, false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			dst = append(dst, raw[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n, _, ok := escapedRune(raw, i)
			if !ok {
				return dst, false
			}
			dst = utf8.AppendRune(dst, r)
			i += n
			continue
		default:
			return dst, false
		}
		i += 2
	}
	return dst, true
}
