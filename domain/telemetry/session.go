package telemetry

import (
	"time"

	"github.com/devflow/backend/domain/ids"
)

// Session is the ownership aggregate of one telemetry session (decision D17): the first
// accepted event of an unknown session id makes the caller its owner, and from then on
// only the owner may add events. Ownership never changes, so a folded Session can be
// cached for as long as the process lives.
type Session struct {
	id        ids.ID
	owner     ids.ID
	startTime time.Time
	started   bool
}

// NewSession is a session nobody has sent events for yet.
func NewSession(id ids.ID) *Session { return &Session{id: id} }

// FoldSession rebuilds a session from its first event.
func FoldSession(id ids.ID, first SessionStarted) *Session {
	s := NewSession(id)
	s.apply(first)
	return s
}

func (s *Session) apply(e SessionStarted) {
	s.owner, s.startTime, s.started = e.Owner, e.StartTime, true
}

// ID is the session id.
func (s *Session) ID() ids.ID { return s.id }

// Started reports whether the session exists (has its SessionStarted event).
func (s *Session) Started() bool { return s.started }

// Owner is the user who created the session (nil before it started).
func (s *Session) Owner() ids.ID { return s.owner }

// StartTime is fixed by the batch that created the session.
func (s *Session) StartTime() time.Time { return s.startTime }

// Accept decides whether user may add events whose earliest timestamp is earliest.
// For a new session it returns the SessionStarted event that creates it (the caller
// appends it first in the stream, expecting no stream); for an existing session of
// the same user it returns nil; another user's session is ErrSessionOwnedByAnotherUser.
func (s *Session) Accept(user ids.ID, earliest time.Time) (*SessionStarted, error) {
	if s.started {
		if s.owner != user {
			return nil, ErrSessionOwnedByAnotherUser
		}
		return nil, nil
	}
	e := SessionStarted{Owner: user, StartTime: earliest.UTC(), Source: SourceExtension}
	s.apply(e)
	return &e, nil
}
