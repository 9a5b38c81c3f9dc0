package accounts

import (
	"encoding/json"
	"time"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
)

// Event types of a user's stream. They record that something happened to an account,
// never a credential: no email, password, token plaintext, hash or prefix.
const (
	TypeUserRegistered  = "UserRegistered"
	TypeAPITokenIssued  = "ApiTokenIssued"
	TypeAPITokenRevoked = "ApiTokenRevoked"
	TypeUserErased      = "UserErased"
)

// SchemaVersion is the version of every account event's payload.
const SchemaVersion = 1

// Event is an account fact.
type Event interface {
	EventType() string
	subject() ids.ID // what the fact is about; with the type it identifies the fact
	user() ids.ID
}

// UserRegistered: an account was created (by password registration or first OAuth
// sign-in).
type UserRegistered struct {
	UserID       ids.ID    `json:"user_id"`
	Provider     Provider  `json:"provider"`
	RegisteredAt time.Time `json:"registered_at"`
}

// TokenSource says how an API token was issued.
type TokenSource string

const (
	TokenSourceAPI     TokenSource = "api"     // POST /auth/tokens
	TokenSourcePairing TokenSource = "pairing" // a pairing approval
)

// APITokenIssued: an API token was issued to a user.
type APITokenIssued struct {
	TokenID  ids.ID      `json:"token_id"`
	UserID   ids.ID      `json:"user_id"`
	Source   TokenSource `json:"source"`
	IssuedAt time.Time   `json:"issued_at"`
}

// APITokenRevoked: a user revoked one of their API tokens.
type APITokenRevoked struct {
	TokenID   ids.ID    `json:"token_id"`
	UserID    ids.ID    `json:"user_id"`
	RevokedAt time.Time `json:"revoked_at"`
}

// UserErased: a user's data was erased (their data key destroyed, their read-model rows
// deleted). It carries nothing personal and stays readable: it is the record that the
// erasure happened.
type UserErased struct {
	UserID   ids.ID    `json:"user_id"`
	ErasedAt time.Time `json:"erased_at"`
}

func (UserRegistered) EventType() string  { return TypeUserRegistered }
func (UserErased) EventType() string      { return TypeUserErased }
func (e UserErased) subject() ids.ID      { return e.UserID }
func (e UserErased) user() ids.ID         { return e.UserID }
func (APITokenIssued) EventType() string  { return TypeAPITokenIssued }
func (APITokenRevoked) EventType() string { return TypeAPITokenRevoked }
func (e UserRegistered) subject() ids.ID  { return e.UserID }
func (e APITokenIssued) subject() ids.ID  { return e.TokenID }
func (e APITokenRevoked) subject() ids.ID { return e.TokenID }
func (e UserRegistered) user() ids.ID     { return e.UserID }
func (e APITokenIssued) user() ids.ID     { return e.UserID }
func (e APITokenRevoked) user() ids.ID    { return e.UserID }

// StreamID is a user's stream in the event log.
func StreamID(userID ids.ID) string { return "user-" + userID.String() }

var eventNamespace = ids.MustParse("0b7e2a64-51c3-4d8f-8e2a-9f41c6d3a815")

// Encode turns an event into the log's form. Its id is derived from (type, subject):
// each fact happens once, so a retried append dedupes.
func Encode(e Event) (eventlog.EventData, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return eventlog.EventData{}, err
	}
	return eventlog.EventData{
		ID:            ids.FromContent(eventNamespace, []byte(e.EventType()+"/"+e.subject().String())),
		Type:          e.EventType(),
		SchemaVersion: SchemaVersion,
		Data:          data,
		Metadata:      eventlog.Metadata{UserID: e.user().String()},
	}, nil
}
