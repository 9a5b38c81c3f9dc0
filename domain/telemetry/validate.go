package telemetry

import (
	"time"

	"github.com/devflow/backend/domain/ids"
)

// Checked is what the ingest needs from a valid event besides its JSON.
type Checked struct {
	ClientType string    // one of the six client types
	SessionID  ids.ID    // session_id (any letter case in the JSON)
	Time       time.Time // timestamp
}

// The members Identify parses besides type: session_id as a UUID (ids.ParseBytes) and
// timestamp as a date-time (ParseTimestamp).
const (
	FieldSessionID = "session_id"
	FieldTimestamp = "timestamp"
)

// Identify reads type, session_id and timestamp of an event the schemas found valid.
func Identify(ev Value) (Checked, error) {
	var f [3]Value
	ev.fields([]string{"type", FieldSessionID, FieldTimestamp}, f[:])
	var buf [64]byte
	c := Checked{ClientType: knownClientType(f[0].text(buf[:0]))}
	if c.ClientType == "" {
		return c, ErrNotClientEvent
	}
	var err error
	if c.SessionID, err = ids.ParseBytes(f[1].text(buf[:0])); err != nil {
		return c, err
	}
	c.Time, err = ParseTimestamp(f[2].text(buf[:0]))
	return c, err
}

// text is the decoded text of a string node, nil for anything else.
func (v Value) text(buf []byte) []byte {
	if !v.Is(KindString) {
		return nil
	}
	return v.StrBytes(buf)
}

// knownClientType returns the constant for one of the six client types, "" otherwise
// (without allocating).
func knownClientType(b []byte) string {
	for _, t := range clientTypes {
		if string(b) == t[0] {
			return t[0]
		}
	}
	return ""
}
