// Package pairing is the device-code sign-in of the editor extension as an aggregate:
// the extension starts a pairing, a signed-in user approves it by its user code (which
// issues an API token), and the extension's exchange collects that token exactly once.
//
// The facts (started, approved, token delivered, expired) are events. Two pieces of
// working state travel with the aggregate but never enter an event (decision D18): the
// plaintext of the issued token, held only until it is delivered or the pairing
// expires, and the time of the last processed exchange, which rate-limits polling.
package pairing

import (
	"errors"
	"fmt"
	"time"

	"github.com/devflow/backend/domain/ids"
)

// Fixed rules of the contract (section 6).
const (
	// TTL is how long a pairing lives after it is started.
	TTL = 600 * time.Second
	// ExchangeInterval is the minimum time between two processed exchanges.
	ExchangeInterval = time.Second
	// PurgeAfter is how long an expired pairing is kept before it is purged.
	PurgeAfter = time.Hour
	// CleanupInterval is how often expired pairings are cleaned up.
	CleanupInterval = 5 * time.Minute
)

// Status is the stored state of a pairing. "Expired" is not stored: it follows from
// the clock (see Pairing.Expired).
type Status string

const (
	StatusPending  Status = "pending"
	StatusApproved Status = "approved"
	StatusConsumed Status = "consumed"
)

// Outcome is what an exchange tells the extension.
type Outcome string

const (
	OutcomePending  Outcome = "pending"
	OutcomeApproved Outcome = "approved" // the token is delivered with it, once
	OutcomeConsumed Outcome = "consumed"
	OutcomeExpired  Outcome = "expired"
)

// Named errors of the decisions.
var (
	ErrExpired     = errors.New("pairing expired")
	ErrAlreadyUsed = errors.New("pairing already used")
	ErrRateLimited = errors.New("too many requests")
	ErrNotFound    = errors.New("pairing not found")
)

// Pairing is the aggregate. Build it with Start, Fold or Restore.
type Pairing struct {
	id             ids.ID
	code           UserCode
	status         Status
	createdAt      time.Time
	expiresAt      time.Time
	userID         ids.ID
	tokenID        ids.ID
	expiryRecorded bool
	version        int64 // last stream revision applied; -1 before the first event

	// Working state, never in an event.
	tokenPlaintext string
	lastExchangeAt time.Time

	changes []Event
}

// Start opens a pending pairing that expires TTL after now.
func Start(id ids.ID, code UserCode, now time.Time) *Pairing {
	p := &Pairing{version: -1}
	p.record(Started{PairingID: id, UserCode: code, CreatedAt: now.UTC(), ExpiresAt: now.UTC().Add(TTL)})
	return p
}

// Fold rebuilds a pairing from its stream. Working state starts empty.
func Fold(events []Event) (*Pairing, error) {
	if len(events) == 0 {
		return nil, ErrNotFound
	}
	if _, ok := events[0].(Started); !ok {
		return nil, fmt.Errorf("pairing stream starts with %s", events[0].EventType())
	}
	p := &Pairing{version: -1}
	for _, e := range events {
		p.apply(e)
		p.version++
	}
	return p, nil
}

// Snapshot is a pairing's full state, as kept in the pairing state table so that a
// decision does not need to read the stream.
type Snapshot struct {
	ID             ids.ID
	UserCode       UserCode
	Status         Status
	CreatedAt      time.Time
	ExpiresAt      time.Time
	UserID         ids.ID // nil until approved
	TokenID        ids.ID // nil until approved
	ExpiryRecorded bool   // PairingExpired was recorded
	Version        int64  // last stream revision, counting recorded changes
	TokenPlaintext string // transient; empty when none is held
	LastExchangeAt time.Time
}

// Restore rebuilds a pairing from its snapshot.
func Restore(s Snapshot) *Pairing {
	return &Pairing{
		id: s.ID, code: s.UserCode, status: s.Status, createdAt: s.CreatedAt, expiresAt: s.ExpiresAt,
		userID: s.UserID, tokenID: s.TokenID, expiryRecorded: s.ExpiryRecorded, version: s.Version,
		tokenPlaintext: s.TokenPlaintext, lastExchangeAt: s.LastExchangeAt,
	}
}

// Snapshot returns the current state, including changes not yet committed.
func (p *Pairing) Snapshot() Snapshot {
	return Snapshot{
		ID: p.id, UserCode: p.code, Status: p.status, CreatedAt: p.createdAt, ExpiresAt: p.expiresAt,
		UserID: p.userID, TokenID: p.tokenID, ExpiryRecorded: p.expiryRecorded, Version: p.version + int64(len(p.changes)),
		TokenPlaintext: p.tokenPlaintext, LastExchangeAt: p.lastExchangeAt,
	}
}

func (p *Pairing) ID() ids.ID           { return p.id }
func (p *Pairing) UserCode() UserCode   { return p.code }
func (p *Pairing) Status() Status       { return p.status }
func (p *Pairing) ExpiresAt() time.Time { return p.expiresAt }
func (p *Pairing) UserID() ids.ID       { return p.userID }
func (p *Pairing) TokenID() ids.ID      { return p.tokenID }

// Version is the stream revision the pairing was loaded at (-1: no stream yet); new
// events append after it.
func (p *Pairing) Version() int64 { return p.version }

// Changes are the events recorded since the pairing was loaded.
func (p *Pairing) Changes() []Event { return p.changes }

// Expired reports whether the pairing has expired at now. Expiry is final.
func (p *Pairing) Expired(now time.Time) bool { return !now.Before(p.expiresAt) }

// Approve marks a pending pairing approved by userID, which was issued the API token
// tokenID with the given plaintext; the plaintext is held until the exchange.
func (p *Pairing) Approve(userID, tokenID ids.ID, tokenPlaintext string, now time.Time) error {
	if p.Expired(now) {
		return ErrExpired
	}
	if p.status != StatusPending {
		return ErrAlreadyUsed
	}
	p.record(Approved{PairingID: p.id, UserID: userID, TokenID: tokenID, ApprovedAt: now.UTC()})
	p.tokenPlaintext = tokenPlaintext
	return nil
}

// Exchange answers one poll of the extension. At most one exchange per
// ExchangeInterval is processed; a faster one gets ErrRateLimited and does not move
// the window. An approved pairing delivers its token here exactly once: the pairing
// becomes consumed and the plaintext is erased.
func (p *Pairing) Exchange(now time.Time) (Outcome, string, error) {
	if !p.lastExchangeAt.IsZero() && now.Sub(p.lastExchangeAt) < ExchangeInterval {
		return "", "", ErrRateLimited
	}
	p.lastExchangeAt = now.UTC()
	if p.Expired(now) {
		return OutcomeExpired, "", nil
	}
	switch p.status {
	case StatusPending:
		return OutcomePending, "", nil
	case StatusApproved:
		token := p.tokenPlaintext
		p.record(TokenDelivered{PairingID: p.id, TokenID: p.tokenID, DeliveredAt: now.UTC()})
		return OutcomeApproved, token, nil
	default:
		return OutcomeConsumed, "", nil
	}
}

// Expire records that an expired pairing ended without delivering a token, and erases
// any plaintext it still holds. It does nothing (and returns false) for a pairing that
// has not expired, was consumed, or whose expiry is already recorded.
func (p *Pairing) Expire(now time.Time) bool {
	if !p.Expired(now) || p.status == StatusConsumed || p.expiryRecorded {
		return false
	}
	p.record(Expired{PairingID: p.id, Status: p.status, ExpiredAt: p.expiresAt})
	return true
}

// Purgeable reports whether the pairing expired long enough ago to be deleted.
func (p *Pairing) Purgeable(now time.Time) bool {
	return !now.Before(p.expiresAt.Add(PurgeAfter))
}

// TokenName is the name of the API token issued by an approval on the given day.
func TokenName(now time.Time) string {
	return "VSCode (paired " + now.UTC().Format("2006-01-02") + ")"
}

func (p *Pairing) record(e Event) {
	p.apply(e)
	p.changes = append(p.changes, e)
}

func (p *Pairing) apply(e Event) {
	switch e := e.(type) {
	case Started:
		p.id, p.code, p.status = e.PairingID, e.UserCode, StatusPending
		p.createdAt, p.expiresAt = e.CreatedAt, e.ExpiresAt
	case Approved:
		p.status, p.userID, p.tokenID = StatusApproved, e.UserID, e.TokenID
	case TokenDelivered:
		p.status = StatusConsumed
		p.tokenPlaintext = ""
	case Expired:
		p.expiryRecorded = true
		p.tokenPlaintext = ""
	}
}
