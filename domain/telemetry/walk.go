package telemetry

import (
	"fmt"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
)

// EachSessionEvent calls fn, in log order, for each telemetry event of a batch read from
// the log: SessionStarted and the client events of `session-<uuid>` streams, with the
// session id and, for client events, the user id of the metadata (the nil id for
// SessionStarted, whose owner is in its data). Other events are skipped. The stream and
// user ids are parsed once per run of equal values, since a batch is mostly long runs
// of one session's events.
func EachSessionEvent(events []eventlog.Envelope, fn func(e *eventlog.Envelope, session, user ids.ID) error) error {
	var streamID, userText string
	var session, user ids.ID
	for i := range events {
		e := &events[i]
		if e.Type != TypeSessionStarted && !IsClientEvent(e.Type) {
			continue
		}
		if e.StreamID != streamID {
			id, ok := SessionFromStream(e.StreamID)
			if !ok {
				continue // another area's event that happens to share a type name
			}
			session, streamID = id, e.StreamID
		}
		if e.Type == TypeSessionStarted {
			if err := fn(e, session, ids.Nil); err != nil {
				return err
			}
			continue
		}
		if e.Metadata.UserID != userText {
			u, err := ids.Parse(e.Metadata.UserID)
			if err != nil {
				return fmt.Errorf("event %s: user id: %w", e.ID, err)
			}
			user, userText = u, e.Metadata.UserID
		}
		if err := fn(e, session, user); err != nil {
			return err
		}
	}
	return nil
}
