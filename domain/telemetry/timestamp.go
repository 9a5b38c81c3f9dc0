package telemetry

import (
	"errors"
	"time"
)

// Errors of ParseTimestamp.
var (
	// ErrTimestamp is text that is not a contract date-time (4.5).
	ErrTimestamp = errors.New("not a date-time")
	// ErrTimestampRange is a date-time outside the years 1970–9999 in UTC.
	ErrTimestampRange = errors.New("date-time outside the years 1970–9999 UTC")
)

// The contract's date-times lie in the years 1970–9999 once converted to UTC: no
// editor's clock is earlier, and a later instant has no four-digit year to be written
// with (nor a JSON form in Go).
var (
	firstInstant = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	pastLast     = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ParseTimestamp parses a contract date-time (4.5): YYYY-MM-DD, then T, t or a space,
// HH:MM:SS, optional fractional seconds, and a mandatory zone Z, z or ±HH:MM. The date
// must exist, and the instant lie in the years 1970–9999 in UTC. A leap second (:60,
// allowed by RFC 3339 at 23:59 UTC) is read as the last instant of its minute so it
// stays in its own UTC day. It is the service's one parser of date-times: the schemas'
// date-time format, their fast check and the ingest use it.
//
// time.Parse(time.RFC3339, …) is no shorter once made to fit: it refuses the space and
// the lower-case t and z and leap seconds, and, when its strict path fails, its general
// layout parser accepts what RFC 3339 does not (a comma before the fraction, a one-digit
// hour, a +24:00 offset). It is not faster either (BenchmarkParseTimestamp).
func ParseTimestamp(s []byte) (time.Time, error) {
	t, err := parseDateTime(s)
	if err == nil && (t.Before(firstInstant) || !t.Before(pastLast)) {
		return time.Time{}, ErrTimestampRange
	}
	return t, err
}

// parseDateTime is ParseTimestamp without the range of years, for the events stored
// before the range was enforced: their time is still their time.
func parseDateTime(s []byte) (time.Time, error) {
	if len(s) < 20 {
		return time.Time{}, ErrTimestamp
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || s[4] != '-' || s[7] != '-' ||
		(s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, ErrTimestamp
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, ErrTimestamp
	}
	rest := s[19:]
	nanos := 0
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		scale := 100000000
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			nanos += int(rest[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == 1 {
			return time.Time{}, ErrTimestamp
		}
		rest = rest[i:]
	}
	offset := 0
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, ErrTimestamp
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, ErrTimestamp
	}
	leap := sec == 60
	if leap {
		sec = 59
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nanos, time.UTC)
	if t.Day() != day { // time.Date moved a day the month does not have (Feb 30) into the next
		return time.Time{}, ErrTimestamp
	}
	t = t.Add(-time.Duration(offset) * time.Second)
	if leap {
		// RFC 3339 allows a leap second only at the end of a UTC day.
		if t.Hour() != 23 || t.Minute() != 59 {
			return time.Time{}, ErrTimestamp
		}
		t = t.Truncate(time.Second).Add(time.Second - time.Nanosecond)
	}
	return t, nil
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
