package pairing

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
)

// Event types of the pairing stream. Their names and JSON shapes are a public format.
// None of them carries the token plaintext or hash.
const (
	TypeStarted        = "PairingStarted"
	TypeApproved       = "PairingApproved"
	TypeTokenDelivered = "PairingTokenDelivered"
	TypeExpired        = "PairingExpired"
)

// SchemaVersion is the version of every pairing event's payload.
const SchemaVersion = 1

// Event is a pairing fact.
type Event interface{ EventType() string }

// Started: the extension opened a pairing.
type Started struct {
	PairingID ids.ID    `json:"pairing_id"`
	UserCode  UserCode  `json:"user_code"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Approved: a user approved the pairing and API token TokenID was issued to them.
type Approved struct {
	PairingID  ids.ID    `json:"pairing_id"`
	UserID     ids.ID    `json:"user_id"`
	TokenID    ids.ID    `json:"token_id"`
	ApprovedAt time.Time `json:"approved_at"`
}

// TokenDelivered: the extension's exchange collected the token.
type TokenDelivered struct {
	PairingID   ids.ID    `json:"pairing_id"`
	TokenID     ids.ID    `json:"token_id"`
	DeliveredAt time.Time `json:"delivered_at"`
}

// Expired: the pairing expired in Status (pending or approved) without delivering a
// token; any held plaintext was erased.
type Expired struct {
	PairingID ids.ID    `json:"pairing_id"`
	Status    Status    `json:"status"`
	ExpiredAt time.Time `json:"expired_at"`
}

func (Started) EventType() string        { return TypeStarted }
func (Approved) EventType() string       { return TypeApproved }
func (TokenDelivered) EventType() string { return TypeTokenDelivered }
func (Expired) EventType() string        { return TypeExpired }

// StreamID is the pairing's stream in the event log.
func StreamID(id ids.ID) string { return "pairing-" + id.String() }

// eventNamespace seeds content-derived event ids: each event type happens at most once
// per pairing, so (stream, type) identifies the fact and a retried append dedupes.
var eventNamespace = ids.MustParse("6c1f4a9e-3b8d-4f0e-9a57-2d0c8e41b7a3")

// Encode turns an event of pairing id into the log's form.
func Encode(id ids.ID, e Event) (eventlog.EventData, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return eventlog.EventData{}, err
	}
	return eventlog.EventData{
		ID:            ids.FromContent(eventNamespace, []byte(StreamID(id)+"/"+e.EventType())),
		Type:          e.EventType(),
		SchemaVersion: SchemaVersion,
		Data:          data,
	}, nil
}

// Decode reads a stored pairing event.
func Decode(env eventlog.Envelope) (Event, error) {
	var e Event
	switch env.Type {
	case TypeStarted:
		e = &Started{}
	case TypeApproved:
		e = &Approved{}
	case TypeTokenDelivered:
		e = &TokenDelivered{}
	case TypeExpired:
		e = &Expired{}
	default:
		return nil, fmt.Errorf("unknown pairing event %q", env.Type)
	}
	if err := json.Unmarshal(env.Data, e); err != nil {
		return nil, fmt.Errorf("decode %s: %w", env.Type, err)
	}
	switch v := e.(type) {
	case *Started:
		return *v, nil
	case *Approved:
		return *v, nil
	case *TokenDelivered:
		return *v, nil
	default:
		return *(v.(*Expired)), nil
	}
}
