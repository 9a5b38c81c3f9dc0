package telemetry

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
)

// The parse-and-check half of the ingest: the body parsed once into a reused document,
// every event checked (the quick check, or the schema validator when it cannot tell),
// large batches in parts on several cores, valid events identified by content and
// grouped by session, invalid ones turned into quarantine records.

// Limits of the 202 body's "rejected" list (3.15).
const (
	maxRejectedListed  = 100
	maxErrorsPerListed = 10
)

// minEventsPerPart keeps small batches on one goroutine: below it, handing work over
// costs about what it saves.
const minEventsPerPart = 64

// batch is a request body parsed, checked and identified. It holds pooled buffers
// (the events' stored payloads among them) until release.
type batch struct {
	h          *IngestHandler
	s          *scratch
	sessions   []*sessionBatch
	quarantine []QuarantineRecord
	rejected   []Rejection
	parts      []*part // the scratch's parts this batch uses
	// Set by parse.
	machineTimestamp []byte // the envelope's, part of every stored payload
	// Counts of the batch's events.
	valid, invalid, repeats int
}

// sessionBatch is one session's part of a request.
type sessionBatch struct {
	id       ids.ID
	earliest time.Time
	events   []eventlog.EventData
}

// scratch holds the reusable buffers of one batch: parsed document, canonical forms,
// stored payloads (a few MB for a full 5000-event batch).
type scratch struct {
	doc    telemetry.Doc
	events []telemetry.Value
	parts  []*part
	seen   map[ids.ID]struct{}
}

var scratches = sync.Pool{New: func() any { return &scratch{seen: map[ids.ID]struct{}{}} }}

// check parses the body, checks the envelope and every event, and identifies the
// valid events. Errors: ErrMalformed, *ValidationError.
func (h *IngestHandler) check(caller Caller, body []byte) (*batch, error) {
	b := &batch{h: h, s: scratches.Get().(*scratch)}
	if err := b.parse(body); err != nil {
		b.release()
		return nil, err
	}
	if err := b.checkEvents(len(body)); err != nil {
		b.release()
		return nil, err
	}
	b.identify(caller)
	return b, nil
}

// release returns the buffers; b is unusable afterwards.
func (b *batch) release() {
	s := b.s
	b.s, b.parts, b.sessions = nil, nil, nil
	s.events = s.events[:0]
	clear(s.seen)
	scratches.Put(s)
}

// result is what the committed batch reports, given the store's results of appends.
func (b *batch) result(appends []eventlog.Append, results []eventlog.AppendResult) Result {
	res := Result{Accepted: b.valid, Duplicates: b.repeats, RejectedCount: b.invalid, Rejected: b.rejected}
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
	return res
}

// parse parses the body and validates the envelope. Errors: ErrMalformed, and
// *ValidationError for a bad envelope.
func (b *batch) parse(body []byte) error {
	s := b.s
	if err := s.doc.Parse(body); err != nil {
		return ErrMalformed
	}
	root := s.doc.Root()
	if !b.h.validator.QuickEnvelope(root) {
		if details := b.h.validator.Envelope(root); len(details) > 0 {
			return &ValidationError{Details: details}
		}
	}
	for _, ev := range root.Get("events").Elements() {
		s.events = append(s.events, ev)
	}
	b.machineTimestamp = root.Get("machine_timestamp").Raw()
	return nil
}

// checkEvents checks every event, in contiguous parts on as many cores as the batch is
// worth. In reject mode any invalid event is a *ValidationError.
func (b *batch) checkEvents(bodyBytes int) error {
	s := b.s
	n := max(1, min(runtime.GOMAXPROCS(0), len(s.events)/minEventsPerPart))
	for len(s.parts) < n {
		s.parts = append(s.parts, &part{})
	}
	b.parts = s.parts[:n]
	each(b.parts, func(i int, p *part) {
		first, last := i*len(s.events)/n, (i+1)*len(s.events)/n
		p.check(b.h, s.events[first:last], first, bodyBytes/n)
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

// part is a contiguous run of a batch's events, checked and identified on a core of
// its own when the batch is large.
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

// prepare derives a valid event's id from the caller and its canonical form, and
// writes its stored payload.
func (p *part) prepare(ev telemetry.Value, user ids.ID, machineTimestamp []byte) (ids.ID, []byte) {
	var id ids.ID
	id, p.hashBuf = telemetry.EventID(user, p.canon.Canonical(ev, true), p.hashBuf)
	start := len(p.stored)
	p.stored = telemetry.AppendRecorded(p.stored, machineTimestamp, ev.Raw())
	return id, p.stored[start:len(p.stored):len(p.stored)]
}

// check checks events, the first of which is the batch's event number first, from
// bodyBytes of the body.
func (p *part) check(h *IngestHandler, events []telemetry.Value, first int, bodyBytes int) {
	p.valid, p.invalid, p.rejected, p.err = p.valid[:0], p.invalid[:0], p.rejected[:0], nil
	if need := bodyBytes + len(events)*64; cap(p.stored) < need {
		p.stored = make([]byte, 0, need) // room for the stored payloads
	}
	p.stored, p.canonical = p.stored[:0], p.canonical[:0]
	for j, ev := range events {
		i := first + j
		checked, err := telemetry.Identify(ev)
		var details []Detail
		if err != nil || !h.validator.QuickEvent(checked.ClientType, ev) {
			if details = h.validator.Event(ev, i); len(details) == 0 && err != nil {
				p.err = fmt.Errorf("event %d: valid by schema but unreadable: %w", i, err)
				return
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

// identify gives the valid events ids derived from the caller and their content, drops
// repeats, groups the events by session and builds the quarantine records.
func (b *batch) identify(caller Caller) {
	each(b.parts, func(_ int, p *part) {
		p.ids, p.datas = p.ids[:0], p.datas[:0]
		for _, v := range p.valid {
			id, data := p.prepare(v.ev, caller.User, b.machineTimestamp)
			p.ids = append(p.ids, id)
			p.datas = append(p.datas, data)
		}
	})

	metadata := caller.metadata()
	index := map[ids.ID]*sessionBatch{}
	left := b.valid
	for _, p := range b.parts {
		for _, inv := range p.invalid {
			b.quarantine = append(b.quarantine, QuarantineRecord{
				ID:     telemetry.QuarantineID(caller.User, p.canonical[inv.canonical.start:inv.canonical.end]),
				UserID: caller.User, ReceivedAt: caller.ReceivedAt, Index: inv.index,
				Raw: bytes.Clone(inv.raw), Errors: inv.details,
			})
		}
		for k, v := range p.valid {
			left--
			id := p.ids[k]
			if _, repeated := b.s.seen[id]; repeated {
				// Stored once, counted as a duplicate.
				b.repeats++
				continue
			}
			b.s.seen[id] = struct{}{}
			sb := index[v.session]
			if sb == nil {
				// Room for the rest of the batch: usually one session sends it all.
				sb = &sessionBatch{id: v.session, earliest: v.at, events: make([]eventlog.EventData, 0, left+1)}
				index[v.session] = sb
				b.sessions = append(b.sessions, sb)
			}
			if v.at.Before(sb.earliest) {
				sb.earliest = v.at
			}
			sb.events = append(sb.events, eventlog.EventData{
				ID: id, Type: v.typ, SchemaVersion: telemetry.SchemaVersion, Data: p.datas[k], Metadata: metadata,
			})
		}
	}
}
