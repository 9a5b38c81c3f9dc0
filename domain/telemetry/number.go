package telemetry

import (
	"math"
	"strconv"
)

// decimal is a JSON number as sign, significant digits (no leading or trailing zeros)
// and a power of ten: value = ±digits × 10^exp. Equal values have equal decimals, which
// is what "numbers compared by value" needs (240, 240.0 and 2.4e2 are one number).
type decimal struct {
	neg    bool
	digits []byte
	exp    int64
}

// maxExp bounds exponents so that absurd ones cannot overflow the arithmetic.
const maxExp = 1 << 40

// parseDecimal decomposes a syntactically valid JSON number. digits is appended to buf.
func parseDecimal(raw []byte, buf []byte) decimal {
	d := decimal{digits: buf[:0]}
	i := 0
	if i < len(raw) && raw[i] == '-' {
		d.neg = true
		i++
	}
	var fracDigits int64
	inFrac := false
	for ; i < len(raw); i++ {
		c := raw[i]
		if c == '.' {
			inFrac = true
			continue
		}
		if c == 'e' || c == 'E' {
			break
		}
		if inFrac {
			fracDigits++
		}
		if c == '0' && len(d.digits) == 0 {
			continue // leading zero
		}
		d.digits = append(d.digits, c)
	}
	var e int64
	if i < len(raw) { // exponent
		i++
		eneg := false
		if raw[i] == '+' || raw[i] == '-' {
			eneg = raw[i] == '-'
			i++
		}
		for ; i < len(raw); i++ {
			if e < maxExp {
				e = e*10 + int64(raw[i]-'0')
			}
		}
		if eneg {
			e = -e
		}
	}
	e -= fracDigits
	for len(d.digits) > 0 && d.digits[len(d.digits)-1] == '0' {
		d.digits = d.digits[:len(d.digits)-1]
		e++
	}
	if len(d.digits) == 0 {
		return decimal{digits: d.digits} // zero, including -0
	}
	d.exp = e
	return d
}

// isInteger reports whether the number has no fractional part.
func (d decimal) isInteger() bool { return d.exp >= 0 }

// maxPlainDigits is the longest integer written out in digits in the canonical form.
const maxPlainDigits = 40

// appendCanonical writes the canonical text of the number (only used for hashing): an
// integer as plain digits (so a plain JSON integer is its own canonical form), anything
// else as digits, 'e' and a power of ten.
func (d decimal) appendCanonical(dst []byte) []byte {
	if len(d.digits) == 0 {
		return append(dst, '0')
	}
	if d.neg {
		dst = append(dst, '-')
	}
	dst = append(dst, d.digits...)
	if d.exp >= 0 && int64(len(d.digits))+d.exp <= maxPlainDigits {
		for range d.exp {
			dst = append(dst, '0')
		}
		return dst
	}
	dst = append(dst, 'e')
	return strconv.AppendInt(dst, d.exp, 10)
}

// isPlainInteger reports whether raw is an integer written as digits only (no fraction,
// no exponent) and not "-0": such text is already canonical.
func isPlainInteger(raw []byte) bool {
	if len(raw) > maxPlainDigits {
		return false
	}
	for _, c := range raw {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return string(raw) != "-0"
}

// Int returns the value of a number node as an int64, exactly within the int64 range
// and saturating outside it, truncating any fraction toward zero. ok is false for a
// non-number.
func (v Value) Int() (n int64, ok bool) {
	if !v.Is(KindNumber) {
		return 0, false
	}
	n, _ = v.IntPart()
	return n, true
}

// IsInteger reports whether v is a number without a fractional part.
func (v Value) IsInteger() bool {
	if !v.Is(KindNumber) {
		return false
	}
	_, whole := v.IntPart()
	return whole
}

// IntPart returns a number node's integer part (as Int does) and whether the number is
// an integer, reading its text once; call only on a number.
func (v Value) IntPart() (n int64, whole bool) {
	raw := v.Raw()
	// Fast path: a plain integer of at most 18 digits.
	if len(raw) <= 19 {
		s := raw
		if s[0] == '-' {
			s = s[1:]
		}
		plain := len(s) <= 18
		for _, c := range s {
			if c < '0' || c > '9' {
				plain = false
				break
			}
			n = n*10 + int64(c-'0')
		}
		if plain {
			if raw[0] == '-' {
				n = -n
			}
			return n, true
		}
	}
	var buf [32]byte
	d := parseDecimal(raw, buf[:0])
	digits := int64(len(d.digits)) + d.exp // digits before the decimal point
	switch {
	case digits <= 0:
		return 0, d.isInteger() // zero or |x| < 1
	case digits > 19:
		return saturated(d.neg), d.isInteger() // |x| ≥ 10^19 > 2^63
	}
	// At most 19 digits: below 10^19, which fits a uint64.
	var u uint64
	for i := range digits {
		u *= 10
		if i < int64(len(d.digits)) {
			u += uint64(d.digits[i] - '0')
		}
	}
	switch {
	case !d.neg && u > math.MaxInt64:
		return math.MaxInt64, d.isInteger()
	case d.neg && u >= 1<<63: // −2^63 itself, or beyond
		return math.MinInt64, d.isInteger()
	case d.neg:
		return -int64(u), d.isInteger()
	}
	return int64(u), d.isInteger()
}

func saturated(neg bool) int64 {
	if neg {
		return math.MinInt64
	}
	return math.MaxInt64
}
