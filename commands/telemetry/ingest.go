package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
)

// Mode is what happens to invalid events (TELEMETRY_INVALID_EVENTS, decision D15).
type Mode int

const (
	// Quarantine sets invalid events aside and accepts the rest of the batch.
	Quarantine Mode = iota
	// Reject fails the whole batch with 400 when any event is invalid.
	Reject
)

// Limits of the 202 body's "rejected" list (3.15).
const (
	maxRejectedListed  = 100
	maxErrorsPerListed = 10
)

// maxConflictRetries bounds how often an ingest re-checks ownership after losing a
// race to create a session.
const maxConflictRetries = 5

// ErrMalformed is a body that is not JSON.
var ErrMalformed = errors.New("malformed JSON")

// ValidationError is an envelope that fails its schema, or (reject mode) a batch with
// invalid events. Details are rooted at the payload.
type ValidationError struct{ Details []Detail }

func (e *ValidationError) Error() string {
	return fmt.Sprintf("telemetry payload invalid (%d errors)", len(e.Details))
}

// Caller is who sends a batch, known once the request is authenticated.
type Caller struct {
	User ids.ID
	// UserVerified says the user row is known to exist (an API token's user: the
	// authenticator rejects tokens of users that no longer exist, contract 2.4), which
	// saves the check.
	UserVerified bool
	RequestID    string
	ReceivedAt   time.Time // defaults to the handler's clock
}

// Rejection lists one invalid event in the 202 body.
type Rejection struct {
	Index  int      `json:"index"`
	Errors []Detail `json:"errors"`
}

// Result is what a committed ingest reports (3.15).
type Result struct {
	Accepted      int // valid events, duplicates included
	Duplicates    int // valid events already stored or repeated in the request
	RejectedCount int // invalid events, all quarantined
	Rejected      []Rejection
	// Position is the log position of the last event written (zero if none was),
	// for callers that want to wait for projections.
	Position eventlog.Position
}

// IngestHandler is the telemetry ingest use case.
type IngestHandler struct {
	store     Store
	validator Validator
	limits    telemetry.Limits // the validator's, for the quick check
	mode      Mode
	now       func() time.Time
	owners    idCache // session → its owner
	// lastSession is the session each user's last batch here went to: the
	// extension sends one session's events for half an hour and more, so it is
	// where the next batch most likely goes.
	lastSession idCache
	// scratch holds reusable buffers (parsed document, canonical forms, stored
	// payloads). A bounded free list rather than a sync.Pool: the pool is emptied by
	// every GC, and ingest makes garbage fast enough that its multi-MB buffers would be
	// reallocated on most requests.
	scratch chan *scratch
}

// maxIdleScratch bounds the buffers kept between requests (each is a few MB for a full
// 5000-event batch).
const maxIdleScratch = 2

// NewIngestHandler builds the handler; now defaults to time.Now.
func NewIngestHandler(store Store, validator Validator, mode Mode, now func() time.Time) *IngestHandler {
	if store == nil || validator == nil {
		panic("telemetry: nil dependency")
	}
	if now == nil {
		now = time.Now
	}
	return &IngestHandler{store: store, validator: validator, limits: validator.Limits(), mode: mode, now: now,
		owners: idCache{m: map[ids.ID]ids.ID{}}, lastSession: idCache{m: map[ids.ID]ids.ID{}},
		scratch: make(chan *scratch, maxIdleScratch)}
}

// span is a range of a part's buffer.
type span struct{ start, end int }

// validEvent is a valid event on its way to the log.
type validEvent struct {
	ev      telemetry.Value
	session ids.ID
	at      time.Time
	typ     string
}

// invalidEvent is an invalid event on its way to the quarantine.
type invalidEvent struct {
	index     int
	raw       []byte
	details   []Detail
	canonical span // in part.canonical
}

// part is a contiguous run of a batch's events, checked (and, when the batch is not
// streamed, identified) on a core of its own when the batch is large.
type part struct {
	canon     telemetry.Canonicalizer
	stored    []byte // stored payloads
	canonical []byte // canonical forms of invalid events
	hashBuf   []byte
	valid     []validEvent
	invalid   []invalidEvent
	rejected  []Detail // reject mode: every invalid event's errors
	err       error
	// Set by identify, one per valid event.
	ids   []ids.ID
	datas [][]byte
}

// reset empties the part's buffers for a run of events from bodyBytes of body, with
// room for their stored payloads.
func (p *part) reset(bodyBytes, events int) {
	if need := bodyBytes + events*64; cap(p.stored) < need {
		p.stored = make([]byte, 0, need)
	}
	p.stored, p.canonical = p.stored[:0], p.canonical[:0]
}

// prepare derives a valid event's id from the caller and its canonical form, and
// writes its stored payload.
func (p *part) prepare(ev telemetry.Value, user ids.ID, machineTimestamp []byte) (ids.ID, []byte) {
	var id ids.ID
	id, p.hashBuf = telemetry.EventID(user, p.canon.Canonical(ev, true), p.hashBuf)
	start := len(p.stored)
	p.stored = telemetry.AppendRecorded(p.stored, machineTimestamp, ev.Raw())
	return id, p.stored[start:len(p.stored):len(p.stored)]
}

type scratch struct {
	doc    telemetry.Doc
	events []telemetry.Value
	parts  []*part
	seen   map[ids.ID]struct{}
}

// minEventsPerPart keeps small batches on one goroutine: below it, handing work over
// costs about what it saves.
const minEventsPerPart = 64

// requestBody is a request body on its way through the ingest. It holds buffers until
// release.
type requestBody struct {
	h    *IngestHandler
	s    *scratch
	body []byte
	// Set by parse.
	parsed           bool
	machineTimestamp []byte // the envelope's, part of every stored payload
	// Set by check.
	parts    []*part
	rejected []Rejection
	valid    int
	invalid  int
}

// release returns the buffers; b is unusable afterwards.
func (b *requestBody) release() {
	if b.s == nil {
		return
	}
	s := b.s
	b.s, b.parts = nil, nil
	s.events = s.events[:0]
	clear(s.seen)
	select {
	case b.h.scratch <- s:
	default:
	}
}

// Handle checks, stores and reports one batch. Errors: ErrMalformed and
// *ValidationError (400), accounts.ErrUserNotFound (404),
// telemetry.ErrSessionOwnedByAnotherUser (409); anything else is a failure.
func (h *IngestHandler) Handle(ctx context.Context, caller Caller, body []byte) (Result, error) {
	if caller.ReceivedAt.IsZero() {
		caller.ReceivedAt = h.now()
	}
	b := &requestBody{h: h, body: body}
	select {
	case b.s = <-h.scratch:
	default:
		b.s = &scratch{seen: map[ids.ID]struct{}{}}
	}
	defer b.release()
	if res, ok, err := h.stream(ctx, caller, b); ok || err != nil {
		return res, err
	}
	if err := b.parse(); err != nil {
		return Result{}, err
	}
	if err := b.check(); err != nil {
		return Result{}, err
	}
	batches, res, quarantine := b.identify(caller)
	return h.commit(ctx, caller, batches, res, quarantine)
}

// parse parses the body and validates the envelope, once. Errors: ErrMalformed, and
// *ValidationError for a bad envelope.
func (b *requestBody) parse() error {
	if b.parsed {
		return nil
	}
	s := b.s
	if err := s.doc.Parse(b.body); err != nil {
		return ErrMalformed
	}
	root := s.doc.Root()
	if !telemetry.QuickCheckEnvelope(root) {
		if details := b.h.validator.Envelope(envelopeDoc(root)); len(details) > 0 {
			return &ValidationError{Details: details}
		}
	}
	for _, ev := range root.Get("events").Elements() {
		s.events = append(s.events, ev)
	}
	b.machineTimestamp = root.Get("machine_timestamp").Raw()
	b.parsed = true
	return nil
}

// check checks every event, in contiguous parts on as many cores as the batch is
// worth. In reject mode any invalid event is a *ValidationError.
func (b *requestBody) check() error {
	s := b.s
	n := max(1, min(runtime.GOMAXPROCS(0), len(s.events)/minEventsPerPart))
	for len(s.parts) < n {
		s.parts = append(s.parts, &part{})
	}
	b.parts = s.parts[:n]
	each(b.parts, func(i int, p *part) {
		first, last := i*len(s.events)/n, (i+1)*len(s.events)/n
		p.check(b.h, s.events[first:last], first, len(b.body)/n)
	})

	var all []Detail // reject mode
	for _, p := range b.parts {
		if p.err != nil {
			return p.err
		}
		all = append(all, p.rejected...)
		b.valid += len(p.valid)
		b.invalid += len(p.invalid)
		for _, inv := range p.invalid {
			if len(b.rejected) == maxRejectedListed {
				break
			}
			listed := inv.details
			if len(listed) > maxErrorsPerListed {
				listed = listed[:maxErrorsPerListed]
			}
			b.rejected = append(b.rejected, Rejection{Index: inv.index, Errors: listed})
		}
	}
	if len(all) > 0 {
		return &ValidationError{Details: all}
	}
	return nil
}

// each runs fn for every part, the first on this goroutine and the others on their
// own, and waits for all.
func each(parts []*part, fn func(i int, p *part)) {
	var wg sync.WaitGroup
	for i, p := range parts[1:] {
		wg.Go(func() { fn(i+1, p) })
	}
	fn(0, parts[0])
	wg.Wait()
}

// check checks events, the first of which is the batch's event number first.
func (p *part) check(h *IngestHandler, events []telemetry.Value, first int, bodyBytes int) {
	p.valid, p.invalid, p.rejected, p.err = p.valid[:0], p.invalid[:0], p.rejected[:0], nil
	p.reset(bodyBytes, len(events))
	for j, ev := range events {
		i := first + j
		checked, ok := h.limits.QuickCheck(ev)
		var details []Detail
		if !ok {
			if details = h.validator.Event(decode(ev.Raw()), i); len(details) == 0 {
				var err error
				if checked, err = telemetry.Identify(ev); err != nil {
					p.err = fmt.Errorf("event %d: valid by schema but unreadable: %w", i, err)
					return
				}
			}
		}
		if len(details) == 0 {
			if bad, ok := ev.Storable(); !ok {
				details = []Detail{{
					InstancePath: "/events/" + strconv.Itoa(i) + bad.Pointer(ev), SchemaPath: "#", Keyword: "encoding",
					Params: map[string]any{}, Message: "must be valid Unicode text without NUL characters",
				}}
			}
		}
		if len(details) > 0 && h.mode == Reject {
			p.rejected = append(p.rejected, details...)
			continue
		}
		if len(details) > 0 {
			start := len(p.canonical)
			p.canonical = append(p.canonical, p.canon.Canonical(ev, true)...)
			p.invalid = append(p.invalid, invalidEvent{index: i, raw: ev.Raw(), details: details, canonical: span{start, len(p.canonical)}})
			continue
		}
		p.valid = append(p.valid, validEvent{ev: ev, session: checked.SessionID, at: checked.Time, typ: telemetry.EventType(checked.ClientType)})
	}
}

// errNotStreamable stops a streamed batch that needs the checked path.
var errNotStreamable = errors.New("telemetry: batch not streamable")

// stream stores a batch whose events all pass the quick check and belong to the
// session of the caller's last batch (the caller's own, since that batch committed
// there), while parsing, checking and identifying it: the
// store takes the stream's lock while the body is parsed, and works on the first
// events while the last are being checked. This is the extension's usual request. A
// body that is not valid JSON or whose envelope is invalid is that error. An event that
// needs the full validator or is not storable, an event of another session, a stream
// whose version the store does not know, or an event stored already stops it with
// nothing stored (ok=false): the batch then takes the checked path.
func (h *IngestHandler) stream(ctx context.Context, caller Caller, b *requestBody) (Result, bool, error) {
	if !caller.UserVerified {
		return Result{}, false, nil
	}
	session, ok := h.lastSession.get(caller.User)
	if !ok {
		return Result{}, false, nil
	}
	if len(b.s.parts) == 0 {
		b.s.parts = append(b.s.parts, &part{})
	}
	p := b.s.parts[0]
	var res Result
	metadata := eventlog.Metadata{UserID: caller.User.String(), ReceivedAt: caller.ReceivedAt, RequestID: caller.RequestID}
	produce := func(yield func(eventlog.EventData, error) bool) {
		if err := b.parse(); err != nil {
			yield(eventlog.EventData{}, err)
			return
		}
		events := b.s.events
		if len(events) == 0 {
			yield(eventlog.EventData{}, errNotStreamable)
			return
		}
		p.reset(len(b.body), len(events))
		for _, ev := range events {
			c, ok := h.limits.QuickCheck(ev)
			if !ok || c.SessionID != session || !storable(ev) {
				yield(eventlog.EventData{}, errNotStreamable)
				return
			}
			res.Accepted++
			id, data := p.prepare(ev, caller.User, b.machineTimestamp)
			if b.repeated(id) {
				res.Duplicates++
				continue
			}
			e := eventlog.EventData{ID: id, Type: telemetry.EventType(c.ClientType), SchemaVersion: telemetry.SchemaVersion, Data: data, Metadata: metadata}
			if !yield(e, nil) {
				return
			}
		}
	}
	r, ok, err := h.store.CommitProduced(ctx, telemetry.StreamID(session), eventlog.Any(), produce)
	if errors.Is(err, errNotStreamable) || (err == nil && !ok) {
		clear(b.s.seen)
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, err
	}
	res.Position = r.Position
	return res, true, nil
}

func storable(ev telemetry.Value) bool {
	_, ok := ev.Storable()
	return ok
}

// repeated reports whether the request had an event with this id already, and
// remembers it: a repeat is stored once and counted as a duplicate.
func (b *requestBody) repeated(id ids.ID) bool {
	if _, ok := b.s.seen[id]; ok {
		return true
	}
	b.s.seen[id] = struct{}{}
	return false
}

// identify gives the events ids derived from the caller and their content, drops
// repeats, groups the events by session and builds the quarantine records.
func (b *requestBody) identify(caller Caller) ([]*sessionBatch, Result, []QuarantineRecord) {
	each(b.parts, func(_ int, p *part) {
		p.ids, p.datas = p.ids[:0], p.datas[:0]
		for _, v := range p.valid {
			id, data := p.prepare(v.ev, caller.User, b.machineTimestamp)
			p.ids = append(p.ids, id)
			p.datas = append(p.datas, data)
		}
	})

	res := Result{RejectedCount: b.invalid, Rejected: b.rejected}
	var quarantine []QuarantineRecord
	metadata := eventlog.Metadata{UserID: caller.User.String(), ReceivedAt: caller.ReceivedAt, RequestID: caller.RequestID}
	var batches []*sessionBatch
	index := map[ids.ID]*sessionBatch{}
	for _, p := range b.parts {
		for _, inv := range p.invalid {
			quarantine = append(quarantine, QuarantineRecord{
				ID:     telemetry.QuarantineID(caller.User, p.canonical[inv.canonical.start:inv.canonical.end]),
				UserID: caller.User, ReceivedAt: caller.ReceivedAt, Index: inv.index,
				Raw: bytes.Clone(inv.raw), Errors: inv.details,
			})
		}
		for k, v := range p.valid {
			res.Accepted++
			id := p.ids[k]
			if b.repeated(id) {
				res.Duplicates++
				continue
			}
			sb := index[v.session]
			if sb == nil {
				// Room for the rest of the batch: usually one session sends it all.
				sb = &sessionBatch{id: v.session, earliest: v.at, events: make([]eventlog.EventData, 0, b.valid-res.Accepted+1)}
				index[v.session] = sb
				batches = append(batches, sb)
			}
			if v.at.Before(sb.earliest) {
				sb.earliest = v.at
			}
			sb.events = append(sb.events, eventlog.EventData{
				ID: id, Type: v.typ, SchemaVersion: telemetry.SchemaVersion, Data: p.datas[k], Metadata: metadata,
			})
		}
	}
	return batches, res, quarantine
}

// sessionBatch is one session's part of a request.
type sessionBatch struct {
	id       ids.ID
	earliest time.Time
	events   []eventlog.EventData
}

// commit enforces ownership and commits, re-checking ownership when it lost a race to
// create a session.
func (h *IngestHandler) commit(ctx context.Context, caller Caller, batches []*sessionBatch, res Result, quarantine []QuarantineRecord) (Result, error) {
	for attempt := 0; ; attempt++ {
		appends, created, err := h.decide(ctx, caller, batches)
		if err != nil {
			return Result{}, err
		}
		results, err := h.store.Commit(ctx, caller.User, caller.UserVerified, appends, quarantine)
		var conflict *eventlog.ConflictError
		if errors.As(err, &conflict) && attempt < maxConflictRetries {
			// Another request created one of our sessions first: forget what we
			// assumed and decide again (409 if it was another user).
			for _, b := range batches {
				h.owners.forget(b.id)
			}
			continue
		}
		if err != nil {
			return Result{}, err
		}
		for _, id := range created {
			h.owners.put(id, caller.User)
		}
		if len(batches) > 0 {
			h.lastSession.put(caller.User, batches[len(batches)-1].id)
		}
		for i, a := range appends {
			r := results[i]
			res.Duplicates += r.Duplicates
			if a.Expected.Kind == eventlog.ExpectNoStream && r.Appended == 0 {
				// Everything was stored already, the SessionStarted included (an
				// identical request won the race); it is not a client event.
				res.Duplicates--
			}
			if res.Position.Less(r.Position) {
				res.Position = r.Position
			}
		}
		return res, nil
	}
}

// decide applies the ownership rule to every session of the request and builds one
// append per session: for a new session its SessionStarted first, expecting no stream
// (so a concurrent creator makes it a conflict), then the events.
func (h *IngestHandler) decide(ctx context.Context, caller Caller, batches []*sessionBatch) ([]eventlog.Append, []ids.ID, error) {
	appends := make([]eventlog.Append, 0, len(batches))
	var created []ids.ID
	for _, b := range batches {
		session, err := h.session(ctx, b.id)
		if err != nil {
			return nil, nil, err
		}
		started, err := session.Accept(caller.User, b.earliest)
		if errors.Is(err, telemetry.ErrSessionOwnedByAnotherUser) && !caller.UserVerified {
			// 404 comes before 409 (3.15): a deleted user learns that first.
			exists, uerr := h.store.UserExists(ctx, caller.User)
			if uerr != nil {
				return nil, nil, uerr
			}
			if !exists {
				return nil, nil, accounts.ErrUserNotFound
			}
			return nil, nil, err
		}
		if err != nil {
			return nil, nil, err
		}
		a := eventlog.Append{StreamID: telemetry.StreamID(b.id), Expected: eventlog.Any(), Events: b.events}
		if started != nil {
			data, err := json.Marshal(started)
			if err != nil {
				return nil, nil, err
			}
			a.Expected = eventlog.NoStream()
			a.Events = append(make([]eventlog.EventData, 0, len(b.events)+1), eventlog.EventData{
				ID: telemetry.SessionStartedID(b.id, caller.User), Type: telemetry.TypeSessionStarted,
				SchemaVersion: telemetry.SessionStartedVersion, Data: data,
				Metadata: eventlog.Metadata{UserID: caller.User.String(), ReceivedAt: caller.ReceivedAt, RequestID: caller.RequestID},
			})
			a.Events = append(a.Events, b.events...)
			created = append(created, b.id)
		}
		appends = append(appends, a)
	}
	return appends, created, nil
}

// session returns the ownership aggregate, from the cache when the owner is known.
// Owners never change, so a cached owner is always right; unknown sessions are always
// looked up, because another user may create them at any moment.
func (h *IngestHandler) session(ctx context.Context, id ids.ID) (*telemetry.Session, error) {
	if owner, ok := h.owners.get(id); ok {
		return telemetry.FoldSession(id, telemetry.SessionStarted{Owner: owner}), nil
	}
	s, err := h.store.Session(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.Started() {
		h.owners.put(id, s.Owner())
	}
	return s, nil
}

// idCache maps ids to ids: sessions to their owners, users to their last sessions. It
// is bounded by starting over when full.
type idCache struct {
	mu sync.RWMutex
	m  map[ids.ID]ids.ID
}

const maxCachedIDs = 1 << 16

func (c *idCache) get(id ids.ID) (ids.ID, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	o, ok := c.m[id]
	return o, ok
}

func (c *idCache) put(id, to ids.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedIDs {
		clear(c.m)
	}
	c.m[id] = to
}

func (c *idCache) forget(id ids.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// envelopeDoc is the part of the payload the envelope schema looks at, decoded: the
// events array stands in as placeholders of the same length (the envelope does not
// validate items), so a 4 MB batch is never decoded into maps.
func envelopeDoc(root telemetry.Value) any {
	if !root.Is(telemetry.KindObject) {
		return placeholder(root)
	}
	doc := map[string]any{}
	for _, k := range []string{"workspace", "machine_timestamp", "session"} {
		if v := root.Get(k); v.Exists() {
			doc[k] = decode(v.Raw())
		}
	}
	if ev := root.Get("events"); ev.Is(telemetry.KindArray) {
		doc["events"] = make([]any, ev.Len())
	} else if ev.Exists() {
		doc["events"] = placeholder(ev)
	}
	return doc
}

// placeholder is a value of v's JSON type, for checks that only look at the type.
func placeholder(v telemetry.Value) any {
	switch v.Kind() {
	case telemetry.KindObject:
		return map[string]any{}
	case telemetry.KindArray:
		return []any{}
	case telemetry.KindString:
		return ""
	case telemetry.KindNumber:
		return json.Number("0")
	case telemetry.KindTrue, telemetry.KindFalse:
		return false
	}
	return nil
}

// decode decodes syntactically valid JSON like the request-schema validator expects
// (json.Number numbers).
func decode(raw []byte) any {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil && err != io.EOF {
		return nil
	}
	return v
}
