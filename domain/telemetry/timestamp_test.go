package telemetry

import (
	"errors"
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	ok := map[string]string{
		"2026-05-12T10:00:00.000Z":       "2026-05-12T10:00:00Z",
		"2026-05-12 10:00:00+07:00":      "2026-05-12T03:00:00Z",
		"2026-05-12t10:00:00z":           "2026-05-12T10:00:00Z",
		"2026-11-27T23:59:59.999Z":       "2026-11-27T23:59:59.999Z",
		"2026-11-28T00:00:00Z":           "2026-11-28T00:00:00Z",
		"2026-11-28T00:30:00+01:00":      "2026-11-27T23:30:00Z",
		"2026-11-27T20:00:00-05:00":      "2026-11-28T01:00:00Z",
		"2024-02-29T12:00:00.123456789Z": "2024-02-29T12:00:00.123456789Z",
		"2016-12-31T23:59:60Z":           "2016-12-31T23:59:59.999999999Z",
		"2017-01-01T00:59:60+01:00":      "2016-12-31T23:59:59.999999999Z",
		"1970-01-01T00:00:00Z":           "1970-01-01T00:00:00Z",
		"1969-12-31T23:30:00-01:00":      "1970-01-01T00:30:00Z",
		"9999-12-31T23:59:59.999999999Z": "9999-12-31T23:59:59.999999999Z",
		"9999-12-31T23:59:60Z":           "9999-12-31T23:59:59.999999999Z",
	}
	for in, want := range ok {
		got, err := ParseTimestamp([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got.Format(time.RFC3339Nano) != want {
			t.Errorf("%s = %s, want %s", in, got.Format(time.RFC3339Nano), want)
		}
	}
	bad := []string{
		"2026-05-12T10:00:00", "2026-02-31T10:00:00Z", "2025-02-29T10:00:00Z", "2026-13-01T10:00:00Z",
		"2026-05-12T24:00:00Z", "2026-05-12T10:60:00Z", "2026-05-12T10:00:00.Z", "2026-05-12X10:00:00Z",
		"2026-05-12T10:00:00+0700", "2026-05-12T10:00:00+24:00", "2026-05-12T10:00:60Z", "26-05-12T10:00:00Z",
		"2026-05-12T10:00:00ZZ", "", "not a date",
	}
	for _, in := range bad {
		if _, err := ParseTimestamp([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// The years 1970–9999 are checked in UTC, after the offset is applied.
func TestParseTimestamp_OutsideTheYears1970To9999UTC(t *testing.T) {
	for _, in := range []string{
		"1969-12-31T23:59:59.999999999Z", "1970-01-01T00:30:00+01:00", "0000-01-01T00:00:00+01:00", "0000-01-01T00:00:00Z",
		"9999-12-31T23:59:59-23:59", "9999-12-31T23:30:00-01:00",
	} {
		if _, err := ParseTimestamp([]byte(in)); !errors.Is(err, ErrTimestampRange) {
			t.Errorf("%s: %v, want ErrTimestampRange", in, err)
		}
	}
	// An event stored before the range was enforced keeps its time in the read models.
	var r ClientDecoder
	if o, err := r.Decode(TypeFileSaved, SchemaVersion, []byte(`{"event":{"timestamp":"1960-05-01T00:00:00Z"}}`)); err != nil ||
		o.Time.Format(time.RFC3339) != "1960-05-01T00:00:00Z" {
		t.Fatalf("stored 1960 event observed at %v, %v", o.Time, err)
	}
}

// BenchmarkParseTimestamp sets the parser beside time.Parse on the form the extension
// sends (toISOString), the one form both accept.
func BenchmarkParseTimestamp(b *testing.B) {
	s := []byte("2026-11-27T10:14:01.512Z")
	b.Run("ParseTimestamp", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseTimestamp(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("time.Parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := time.Parse(time.RFC3339, string(s)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
