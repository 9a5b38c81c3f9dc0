package projections

import (
	"fmt"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/recommendation"
	"github.com/devflow/backend/domain/telemetry"
)

// Event is a log event as projections receive it: its envelope and its payload, decoded
// once per read of the log and shared by every projection that handles its type.
// Projections must not keep an Event (or its payload) after Apply returns.
type Event struct {
	*eventlog.Envelope
	// User is the metadata's user id (nil when the event has none); Session is the
	// session of a telemetry stream ("session-<uuid>"; nil for other streams).
	User, Session ids.ID
	// Payload is the typed payload: *telemetry.SessionStarted, *telemetry.ClientEvent,
	// *recommendation.Issued, *recommendation.Ended, *heartbeat.Heartbeat or
	// *accounts.TimeZoneChanged; nil for a type without a decoder
	// (its projection reads Data).
	Payload any
}

// TypeErased is the type an erased event (eventlog.Envelope.Erased: its user's data key
// was destroyed) is handed on with. No projection handles it, so every projection, live
// or rebuilding or replaying, passes such an event by: not applied, not parked.
const TypeErased = "$erased"

// decodeError is an event that cannot be decoded: no retry will change it, so the
// projections that handle its type park it.
type decodeError struct{ err error }

func (e decodeError) Error() string { return "decode: " + e.err.Error() }
func (e decodeError) Unwrap() error { return e.err }

// decoder is the one place that turns stored payloads into the domain's typed events,
// by event type and schema version (the domain's Decode functions upcast old shapes).
// It is not safe for concurrent use.
type decoder struct {
	client     telemetry.ClientDecoder
	userText   string // the last metadata user id parsed, and its value
	user       ids.ID
	userErr    error
	streamID   string // the last stream id parsed, and its session
	session    ids.ID
	sessionErr bool
}

// decode decodes the events of envs whose type is in types (all of them when types is
// nil). The result holds one Event per envelope, in order; failed[i] is set for an
// event that could not be decoded.
func (d *decoder) decode(envs []eventlog.Envelope, types map[string]bool) (events []Event, failed map[int]error) {
	d.client.Forget()
	events = make([]Event, len(envs))
	var clients []telemetry.ClientEvent // one allocation per batch for the client events
	for i := range envs {
		env := &envs[i]
		events[i].Envelope = env
		if types != nil && !types[env.Type] {
			continue
		}
		err := d.decodeOne(&events[i], &clients, len(envs))
		if err != nil {
			if failed == nil {
				failed = map[int]error{}
			}
			failed[i] = decodeError{fmt.Errorf("event %s (%s): %w", env.ID, env.Type, err)}
		}
	}
	return events, failed
}

func (d *decoder) decodeOne(e *Event, clients *[]telemetry.ClientEvent, batchLen int) error {
	env := e.Envelope
	if env.Erased {
		erased := *env
		erased.Type = TypeErased
		e.Envelope = &erased
		return nil
	}
	if env.Metadata.UserID != "" && env.Metadata.UserID != d.userText {
		d.userText = env.Metadata.UserID
		d.user, d.userErr = ids.Parse(env.Metadata.UserID)
	}
	if env.Metadata.UserID != "" && d.userErr == nil {
		e.User = d.user
	}
	if env.StreamID != d.streamID {
		id, ok := telemetry.SessionFromStream(env.StreamID)
		d.streamID, d.session, d.sessionErr = env.StreamID, id, !ok
	}
	if !d.sessionErr {
		e.Session = d.session
	}
	if (telemetry.IsClientEvent(env.Type) || env.Type == heartbeat.TypeRecorded) && e.User.IsNil() {
		return fmt.Errorf("metadata user id %q is not a user id", env.Metadata.UserID)
	}
	switch {
	case env.Type == telemetry.TypeSessionStarted:
		p, err := telemetry.DecodeSessionStarted(env.SchemaVersion, env.Data)
		if err != nil {
			return err
		}
		e.Payload = &p
	case telemetry.IsClientEvent(env.Type):
		p, err := d.client.Decode(env.Type, env.SchemaVersion, env.Data)
		if err != nil {
			return err
		}
		if *clients == nil {
			*clients = make([]telemetry.ClientEvent, 0, batchLen) // never grows: pointers stay valid
		}
		*clients = append(*clients, p)
		e.Payload = &(*clients)[len(*clients)-1]
	case env.Type == heartbeat.TypeRecorded:
		p, err := heartbeat.Decode(env.SchemaVersion, env.Data)
		if err != nil {
			return err
		}
		p.ID = env.ID
		e.Payload = &p
	case env.Type == accounts.TypeTimeZoneChanged:
		p, err := accounts.DecodeTimeZoneChanged(env.SchemaVersion, env.Data)
		if err != nil {
			return err
		}
		e.Payload = &p
	case env.Type == recommendation.EventIssued:
		p, err := recommendation.DecodeIssued(env.SchemaVersion, env.Data)
		if err != nil {
			return err
		}
		e.Payload = &p
	default:
		if _, ok := recommendation.ActionOf(env.Type); ok {
			p, err := recommendation.DecodeEnded(env.Type, env.SchemaVersion, env.Data)
			if err != nil {
				return err
			}
			e.Payload = &p
		}
	}
	return nil
}

// Decode decodes envelopes for p as the engine does, for tests and tools that apply a
// projection by hand: the events p does not handle are dropped. It fails on the first
// event that cannot be decoded.
func Decode(p Projection, envs []eventlog.Envelope) ([]Event, error) {
	var d decoder
	types := handled(p)
	events, failed := d.decode(envs, types)
	var out []Event
	for i, e := range events {
		if err := failed[i]; err != nil {
			return nil, err
		}
		if types[e.Type] {
			out = append(out, e)
		}
	}
	return out, nil
}
