package httpapi

import (
	"cmp"
	"encoding/json"
	"math"
	"math/big"
	"strings"
	"unicode/utf8"
)

// checker answers only "valid or not" for a converted request schema, without building
// error trees. Telemetry validates up to 5000 events per request, and the general
// validator allocates heavily per value; the checker accepts a valid event in a fraction
// of the time. The general validator stays the authority: it runs whenever the checker
// says "invalid" (to produce the details) and for every schema the checker cannot
// express. compileChecker returns nil for schemas that use keywords it does not know, so
// a future keyword in openapi.yaml can never be silently skipped.
type checker func(v any) bool

// annotation keywords carry no assertion.
var annotations = map[string]bool{
	"description": true, "title": true, "default": true, "examples": true, "$comment": true,
	"readOnly": true, "writeOnly": true, "deprecated": true,
}

func compileChecker(schema any) checker {
	obj, ok := schema.(map[string]any)
	if !ok {
		return nil // boolean schemas are not used by the request schemas
	}
	var checks []checker
	for key, val := range obj {
		if annotations[key] {
			continue
		}
		c := compileKeyword(key, val, obj)
		if c == nil {
			return nil
		}
		checks = append(checks, c)
	}
	return func(v any) bool {
		for _, c := range checks {
			if !c(v) {
				return false
			}
		}
		return true
	}
}

func compileKeyword(key string, val any, schema map[string]any) checker {
	switch key {
	case "type":
		return compileType(val)
	case "required":
		names, ok := stringList(val)
		if !ok {
			return nil
		}
		return func(v any) bool {
			obj, isObj := v.(map[string]any)
			if !isObj {
				return true
			}
			for _, n := range names {
				if _, present := obj[n]; !present {
					return false
				}
			}
			return true
		}
	case "properties":
		props, ok := val.(map[string]any)
		if !ok {
			return nil
		}
		type property struct {
			name  string
			check checker
		}
		compiled := make([]property, 0, len(props))
		for name, sub := range props {
			c := compileChecker(sub)
			if c == nil {
				return nil
			}
			compiled = append(compiled, property{name, c})
		}
		return func(v any) bool {
			obj, isObj := v.(map[string]any)
			if !isObj {
				return true
			}
			for _, p := range compiled {
				if pv, present := obj[p.name]; present && !p.check(pv) {
					return false
				}
			}
			return true
		}
	case "items":
		c := compileChecker(val)
		if c == nil {
			return nil
		}
		return func(v any) bool {
			arr, isArr := v.([]any)
			if !isArr {
				return true
			}
			for _, item := range arr {
				if !c(item) {
					return false
				}
			}
			return true
		}
	case "minItems", "maxItems":
		limit, ok := intValue(val)
		if !ok {
			return nil
		}
		return func(v any) bool {
			arr, isArr := v.([]any)
			if !isArr {
				return true
			}
			if key == "minItems" {
				return len(arr) >= limit
			}
			return len(arr) <= limit
		}
	case "minimum", "maximum":
		return compileBound(key, val)
	case "minLength", "maxLength":
		limit, ok := intValue(val)
		if !ok {
			return nil
		}
		return func(v any) bool {
			s, isStr := v.(string)
			if !isStr {
				return true
			}
			n := utf8.RuneCountInString(s)
			if key == "minLength" {
				return n >= limit
			}
			return n <= limit
		}
	case "enum":
		allowed, ok := val.([]any)
		if !ok {
			return nil
		}
		for _, a := range allowed {
			switch a.(type) {
			case string, bool, nil:
			default:
				return nil // numbers and structures would need JSON equality
			}
		}
		return func(v any) bool {
			for _, a := range allowed {
				if v == a {
					return true
				}
			}
			return false
		}
	case "format":
		name, _ := val.(string)
		var validate func(any) error
		switch name {
		case "date-time":
			validate = validateDateTime
		case "uuid":
			validate = validateUUID
		case "email":
			validate = validateEmail
		default:
			return nil
		}
		return func(v any) bool { return validate(v) == nil }
	}
	return nil
}

// compileBound checks minimum or maximum. The bounds of openapi.yaml are integers, so
// the usual plain integer is compared without big.Rat.
func compileBound(key string, val any) checker {
	n, ok := val.(json.Number)
	if !ok {
		return nil
	}
	limit, err := n.Int64()
	if err != nil {
		return nil
	}
	exact := new(big.Rat).SetInt64(limit)
	holds := func(c int) bool {
		if key == "minimum" {
			return c >= 0
		}
		return c <= 0
	}
	return func(v any) bool {
		var r *big.Rat
		switch n := v.(type) {
		case json.Number:
			if i, plain := plainInt64(string(n)); plain {
				return holds(cmp.Compare(i, limit))
			}
			r, _ = new(big.Rat).SetString(string(n))
		case float64:
			r = new(big.Rat).SetFloat64(n)
		default:
			return true // not a number: the keyword does not apply
		}
		// A number big.Rat cannot hold is left to the general validator.
		return r != nil && holds(r.Cmp(exact))
	}
}

// plainInt64 reads an integer of at most 18 digits written without fraction or exponent.
func plainInt64(s string) (int64, bool) {
	digits := strings.TrimPrefix(s, "-")
	if len(digits) == 0 || len(digits) > 18 {
		return 0, false
	}
	var i int64
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return 0, false
		}
		i = i*10 + int64(c-'0')
	}
	if len(digits) < len(s) {
		i = -i
	}
	return i, true
}

func compileType(val any) checker {
	var names []string
	switch t := val.(type) {
	case string:
		names = []string{t}
	default:
		var ok bool
		if names, ok = stringList(val); !ok {
			return nil
		}
	}
	var preds []func(any) bool
	for _, n := range names {
		p := typePredicate(n)
		if p == nil {
			return nil
		}
		preds = append(preds, p)
	}
	return func(v any) bool {
		for _, p := range preds {
			if p(v) {
				return true
			}
		}
		return false
	}
}

func typePredicate(name string) func(any) bool {
	switch name {
	case "object":
		return func(v any) bool { _, ok := v.(map[string]any); return ok }
	case "array":
		return func(v any) bool { _, ok := v.([]any); return ok }
	case "string":
		return func(v any) bool { _, ok := v.(string); return ok }
	case "boolean":
		return func(v any) bool { _, ok := v.(bool); return ok }
	case "null":
		return func(v any) bool { return v == nil }
	case "number":
		return isNumber
	case "integer":
		return isInteger
	}
	return nil
}

func isNumber(v any) bool {
	switch n := v.(type) {
	case json.Number:
		return true
	case float64:
		return !math.IsNaN(n) && !math.IsInf(n, 0)
	}
	return false
}

// isInteger: a number without a fractional part, so 240 and 240.0 (and 2.4e2) count.
func isInteger(v any) bool {
	switch n := v.(type) {
	case json.Number:
		if _, plain := plainInt64(string(n)); plain {
			return true // the common case, without big.Rat
		}
		r, ok := new(big.Rat).SetString(string(n))
		return ok && r.IsInt()
	case float64:
		return !math.IsInf(n, 0) && n == math.Trunc(n)
	}
	return false
}

func stringList(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(list))
	for i, item := range list {
		s, ok := item.(string)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

func intValue(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return int(i), err == nil
}
