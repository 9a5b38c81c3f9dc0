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

// Limits are what the contract allows of a telemetry payload (4.1–4.4), as checks of
// the parsed document. The HTTP adapter compiles them from the schemas of openapi.yaml
// at start-up, so the payload is described in one place only. Each check answers true
// only when it is sure the value is valid; false leaves the decision, and the error
// details, to the adapter's schema validator. The zero Limits is never sure.
type Limits struct {
	Envelope func(root Value) bool                  // the payload envelope (4.1)
	Event    func(clientType string, ev Value) bool // an event, by the schema of its type (4.2–4.4)
}

// QuickCheck checks one event without the schema validator and, when it is surely
// valid, reads what the ingest needs from it. ok=false: the schema validator decides.
// Event runs only on an identified event, so it may take the formats of session_id and
// timestamp as proven.
func (l Limits) QuickCheck(ev Value) (c Checked, ok bool) {
	c, err := Identify(ev)
	return c, err == nil && l.Event != nil && l.Event(c.ClientType, ev)
}

// QuickCheckEnvelope is QuickCheck for the payload envelope.
func (l Limits) QuickCheckEnvelope(root Value) bool {
	return l.Envelope != nil && l.Envelope(root)
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
