package httpapi

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/devflow/backend/domain/telemetry"
)

// fastCheck is a converted request schema compiled to answer one question about a
// value of the parsed body (telemetry.Value): is it surely valid? The ingest checks up
// to 5000 events per request; the schema validator needs each one decoded into maps and
// builds error trees, while the fast check reads the parsed body in place without
// allocating. The schema validator stays the authority: it runs whenever the fast check
// says false, for the verdict and the details. A keyword the fast check does not know
// makes its schema answer false, so a keyword added to openapi.yaml is never skipped.
// A nil *fastCheck is the schema that accepts everything.
type fastCheck struct {
	unknown string // the first keyword the check does not know ("" when none)
	never   bool   // false for every value: the false schema, or an unknown keyword

	types   typeSet
	enum    bool             // the value must be one of enumStr and enumKind
	enumStr []string         // allowed strings
	enumLit []telemetry.Kind // allowed true, false, null

	minLength, maxLength int    // in code points; -1: no bound
	format               string // one of formats; "": none

	minimum, maximum *int64

	items              *fastCheck
	minItems, maxItems int // maxItems -1: no bound

	props      []property
	required   uint64     // bit i: props[i] is required
	additional *fastCheck // members not in props; nil: any
}

type property struct {
	name  string
	check *fastCheck
}

// typeSet is a set of JSON Schema types; the empty set allows every type.
type typeSet uint8

const (
	typeNull typeSet = 1 << iota
	typeBoolean
	typeNumber
	typeInteger
	typeString
	typeArray
	typeObject
)

var typeNames = map[string]typeSet{
	"null": typeNull, "boolean": typeBoolean, "number": typeNumber, "integer": typeInteger,
	"string": typeString, "array": typeArray, "object": typeObject,
}

// annotations carry no assertion.
var annotations = map[string]bool{
	"description": true, "title": true, "default": true, "examples": true, "$comment": true,
	"readOnly": true, "writeOnly": true, "deprecated": true,
}

// maxBound keeps bounds where an int64 compares them exactly with any JSON number
// (Value.Int saturates beyond int64).
const maxBound = 1 << 62

// compileFast compiles a converted schema (JSON with json.Number numbers). It returns
// nil for a schema that accepts every value.
func compileFast(schema any) *fastCheck {
	if b, isBool := schema.(bool); isBool {
		if b {
			return nil
		}
		return &fastCheck{never: true}
	}
	obj, ok := schema.(map[string]any)
	if !ok {
		return refused("a schema that is not an object")
	}
	c := &fastCheck{minLength: -1, maxLength: -1, maxItems: -1}
	constrained := false
	for _, key := range slices.Sorted(maps.Keys(obj)) {
		if annotations[key] {
			continue
		}
		constrained = true
		if !c.compileKeyword(key, obj[key]) {
			return refused(key)
		}
	}
	if !constrained {
		return nil
	}
	return c
}

func refused(keyword string) *fastCheck {
	return &fastCheck{unknown: keyword, never: true}
}

// compileKeyword adds one keyword to c, or reports that it cannot.
func (c *fastCheck) compileKeyword(key string, val any) bool {
	switch key {
	case "type":
		names, ok := val.([]any)
		if !ok {
			names = []any{val}
		}
		for _, n := range names {
			s, _ := n.(string)
			t, known := typeNames[s]
			if !known {
				return false
			}
			c.types |= t
		}
		return true
	case "enum":
		list, ok := val.([]any)
		if !ok {
			return false
		}
		c.enum = true
		for _, v := range list {
			switch v := v.(type) {
			case string:
				c.enumStr = append(c.enumStr, v)
			case bool:
				c.enumLit = append(c.enumLit, boolKind(v))
			case nil:
				c.enumLit = append(c.enumLit, telemetry.KindNull)
			default:
				return false // numbers and structures would need JSON equality
			}
		}
		return true
	case "format":
		c.format, _ = val.(string)
		return slices.Contains(formats, c.format)
	case "minLength", "maxLength", "minItems", "maxItems":
		n, ok := bound(val)
		switch key {
		case "minLength":
			c.minLength = int(n)
		case "maxLength":
			c.maxLength = int(n)
		case "minItems":
			c.minItems = int(n)
		default:
			c.maxItems = int(n)
		}
		return ok && n >= 0
	case "minimum":
		n, ok := bound(val)
		c.minimum = &n
		return ok
	case "maximum":
		n, ok := bound(val)
		c.maximum = &n
		return ok
	case "items":
		c.items = compileFast(val)
		return true
	case "additionalProperties":
		c.additional = compileFast(val)
		return true
	case "properties":
		props, ok := val.(map[string]any)
		if !ok {
			return false
		}
		for _, name := range slices.Sorted(maps.Keys(props)) {
			c.property(name).check = compileFast(props[name])
		}
		return len(c.props) <= 64
	case "required":
		names, ok := val.([]any)
		if !ok {
			return false
		}
		for _, n := range names {
			name, ok := n.(string)
			if !ok {
				return false
			}
			c.property(name)
			c.required |= 1 << c.find([]byte(name))
		}
		return len(c.props) <= 64
	}
	return false
}

// identified drops the format checks of an event's members that telemetry.Identify has
// parsed, with the parsers checkFormat uses, by the time the event's check runs
// (the ingest identifies first): an ingest parses each event's UUID and
// date-time once.
func (c *fastCheck) identified() *fastCheck {
	if c == nil || c.never {
		return c
	}
	for name, format := range map[string]string{telemetry.FieldSessionID: "uuid", telemetry.FieldTimestamp: "date-time"} {
		if i := c.find([]byte(name)); i >= 0 && c.props[i].check != nil && c.props[i].check.format == format {
			c.props[i].check.format = ""
		}
	}
	return c
}

// property returns the property named name, adding it when new.
func (c *fastCheck) property(name string) *property {
	if i := c.find([]byte(name)); i >= 0 {
		return &c.props[i]
	}
	c.props = append(c.props, property{name: name})
	return &c.props[len(c.props)-1]
}

func (c *fastCheck) find(name []byte) int {
	for i := range c.props {
		// The first byte first: most names differ there, and it spares a call.
		if p := c.props[i].name; len(p) == len(name) && len(p) > 0 && p[0] == name[0] && p == string(name) {
			return i
		}
	}
	return -1
}

// bound reads an integer keyword value within ±maxBound.
func bound(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil && -maxBound < i && i < maxBound
}

// valid reports whether v is surely valid.
func (c *fastCheck) valid(v telemetry.Value) bool {
	switch {
	case c == nil:
		return true
	case c.never:
		return false
	}
	switch v.Kind() {
	case telemetry.KindString:
		return c.types.has(typeString) && c.validString(v)
	case telemetry.KindNumber:
		return c.validNumber(v)
	case telemetry.KindArray:
		return c.types.has(typeArray) && !c.enum && c.validArray(v)
	case telemetry.KindObject:
		return c.types.has(typeObject) && !c.enum && c.validObject(v)
	case telemetry.KindNull:
		return c.types.has(typeNull) && (!c.enum || slices.Contains(c.enumLit, telemetry.KindNull))
	}
	return c.types.has(typeBoolean) && (!c.enum || slices.Contains(c.enumLit, v.Kind()))
}

// has reports whether the set allows type t; the empty set allows every type.
func (s typeSet) has(t typeSet) bool { return s == 0 || s&t != 0 }

func boolKind(b bool) telemetry.Kind {
	if b {
		return telemetry.KindTrue
	}
	return telemetry.KindFalse
}

func (c *fastCheck) validString(v telemetry.Value) bool {
	if !c.enum && c.format == "" && c.minLength <= 0 && (c.maxLength < 0 || len(v.Raw())-2 <= c.maxLength) {
		return true // a code point takes at least one byte of the quoted text
	}
	var buf [128]byte
	s := v.StrBytes(buf[:0])
	if c.minLength > 0 || c.maxLength >= 0 {
		n := utf8.RuneCount(s)
		if n < c.minLength || (c.maxLength >= 0 && n > c.maxLength) {
			return false
		}
	}
	if c.enum && !slices.ContainsFunc(c.enumStr, func(e string) bool { return e == string(s) }) {
		return false
	}
	return c.format == "" || checkFormat(c.format, s) == nil
}

func (c *fastCheck) validNumber(v telemetry.Value) bool {
	n, whole := v.IntPart()
	if c.enum || !(c.types.has(typeNumber) || c.types&typeInteger != 0 && whole) {
		return false
	}
	neg := v.Raw()[0] == '-'
	return (c.minimum == nil || compareInt(n, whole, neg, *c.minimum) >= 0) &&
		(c.maximum == nil || compareInt(n, whole, neg, *c.maximum) <= 0)
}

// compareInt compares a number x with an integer bound exactly, from x's integer part
// t: an integer through t itself (saturated beyond int64, so still on the right side of
// a bound under maxBound), a fraction through t < x < t+1, or t−1 < x < t when negative.
func compareInt(t int64, whole, neg bool, bound int64) int {
	switch {
	case whole:
		return cmp.Compare(t, bound)
	case !neg: // above the bound when t ≥ bound, else below
		if t >= bound {
			return 1
		}
		return -1
	case t <= bound:
		return -1
	}
	return 1
}

func (c *fastCheck) validArray(v telemetry.Value) bool {
	n := 0
	for _, e := range v.Elements() {
		if c.items == nil && c.maxItems < 0 && n >= c.minItems {
			return true // nothing left to learn from the rest
		}
		if !c.items.valid(e) {
			return false
		}
		n++
	}
	return n >= c.minItems && (c.maxItems < 0 || n <= c.maxItems)
}

// validObject checks every member with the schema of its name (a repeated name has each
// of its values checked, though only the last counts: stricter, never looser).
func (c *fastCheck) validObject(v telemetry.Value) bool {
	var seen uint64
	var buf [64]byte
	for m := range v.Members() {
		i := c.find(m.KeyBytes(buf[:0]))
		if i < 0 {
			if !c.additional.valid(m) {
				return false
			}
			continue
		}
		if !c.props[i].check.valid(m) {
			return false
		}
		seen |= 1 << i
	}
	return seen&c.required == c.required
}
