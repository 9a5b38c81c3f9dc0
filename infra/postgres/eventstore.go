package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/datakeys"
)

// appendChannel is the LISTEN/NOTIFY channel an append signals on commit (named in
// complete_append too, migration 00005).
const appendChannel = "devflow_events"

// EventStore is the PostgreSQL event log.
//
// Gap safety: positions come from a sequence, so a transaction can take position 10,
// another take 11 and commit first. Readers therefore order by (transaction id,
// position) and only read rows whose transaction id is below the oldest transaction
// still running (pg_snapshot_xmin): every row they could still miss belongs to a
// transaction at or above that horizon, which sorts after everything already read.
//
// Appends: an append whose streams' versions are known without asking (a new stream,
// an exact expectation, or a version this store committed itself) is written in one
// round trip, its expected-version check made by lock_streams in the same
// transaction. Any other append, and one whose assumption turned out stale (another
// replica wrote the stream), locks its streams first and reads their versions: two
// round trips.
type EventStore struct {
	pool     *pgxpool.Pool
	versions versionCache
	payloads PayloadCipher // nil: payloads are stored as they are

	mu       sync.Mutex
	wake     chan struct{} // closed and replaced on every notification
	listener context.CancelFunc
}

// NewEventStore returns the event log on pool.
func NewEventStore(pool *pgxpool.Pool) *EventStore {
	return &EventStore{pool: pool, versions: newVersionCache(), wake: make(chan struct{})}
}

var _ eventlog.Store = (*EventStore)(nil)

// PayloadCipher encrypts event payloads on their way into the log and decrypts them on
// their way out (datakeys.Keyring: crypto-shredding). Every row the store writes goes
// through it and every envelope it reads, so all readers see plaintext (or an erased
// event) and no writer can bypass it. A payload it seals comes back in the binary sealed
// form (datakeys.IsBinary), which the store keeps in the sealed column; reading, the
// store hands it that column's bytes in Data, which it may decrypt in place.
type PayloadCipher interface {
	SealAll(ctx context.Context, appends []eventlog.Append) ([]eventlog.Append, error)
	OpenAll(ctx context.Context, events []eventlog.Envelope) error
}

// EncryptWith makes the store encrypt and decrypt payloads with c; call it before the
// store is used.
func (s *EventStore) EncryptWith(c PayloadCipher) *EventStore {
	s.payloads = c
	return s
}

// seal returns appends with their payloads as stored.
func (s *EventStore) seal(ctx context.Context, appends []eventlog.Append) ([]eventlog.Append, error) {
	if s.payloads == nil {
		return appends, nil
	}
	return s.payloads.SealAll(ctx, appends)
}

// open decrypts the payloads of events read back.
func (s *EventStore) open(ctx context.Context, events []eventlog.Envelope) error {
	if s.payloads == nil {
		return nil
	}
	return s.payloads.OpenAll(ctx, events)
}

// Append writes all streams' events in one transaction.
func (s *EventStore) Append(ctx context.Context, appends ...eventlog.Append) ([]eventlog.AppendResult, error) {
	return s.AppendWith(ctx, nil, appends...)
}

// AppendWith appends in a transaction of its own, together with the statements extra
// queues (a state change that must commit with the events, e.g. quarantine rows).
func (s *EventStore) AppendWith(ctx context.Context, extra func(*pgx.Batch), appends ...eventlog.Append) ([]eventlog.AppendResult, error) {
	if err := checkStreamIDs(appends); err != nil {
		return nil, err
	}
	appends, err := s.seal(ctx, appends)
	if err != nil {
		return nil, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	defer conn.Release()

	// Stored duplicates are rare (a client resending after a lost reply), so they are
	// left to the unique index to find; only then is the append redone with a probe
	// for each id.
	probe := false
	if p := s.assume(appends); p != nil && extra == nil {
		pos, err := write(ctx, conn.Conn(), p.locks, rowsOf(p.rows), false)
		if err == nil {
			return s.committed(p, pos), nil
		}
		for _, l := range p.locks {
			s.versions.forget(l.stream)
		}
		if !isStaleVersion(err) && !isDuplicateEventID(err) {
			return nil, err
		}
		probe = isDuplicateEventID(err)
	}
	rollback := func() {
		// Ends the transaction if it is still open; a broken connection is dropped by
		// the pool on release.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = conn.Exec(rctx, "ROLLBACK")
		cancel()
	}
	p, pos, err := s.appendLocked(ctx, conn, true, probe, extra, appends)
	if !probe && (isDuplicateEventID(err) || errors.Is(err, eventlog.ErrWrongExpectedVersion)) {
		// A stored id, or a version mismatch that may be the retry of an append that
		// did commit: look the ids up.
		rollback()
		p, pos, err = s.appendLocked(ctx, conn, true, true, extra, appends)
	}
	if err != nil {
		rollback()
		return nil, err
	}
	return s.committed(p, pos), nil
}

func isDuplicateEventID(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_event_id"
}

func isStaleVersion(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == staleVersionCode
}

func checkStreamIDs(appends []eventlog.Append) error {
	for _, a := range appends {
		if a.StreamID == "" {
			return errors.New("append: empty stream id")
		}
	}
	return nil
}

// committed completes a committed plan's results with its position and remembers the
// versions its streams moved to.
func (s *EventStore) committed(p *plan, pos eventlog.Position) []eventlog.AppendResult {
	for i := range p.results {
		if p.results[i].Appended > 0 {
			p.results[i].Position = pos
		}
	}
	for _, l := range p.locks {
		s.versions.remember(l.stream, p.final[l.stream])
	}
	return p.results
}

// AppendTx appends inside the caller's transaction, so that a state-table change and
// the events that record it commit together. The caller commits.
func (s *EventStore) AppendTx(ctx context.Context, tx pgx.Tx, appends ...eventlog.Append) ([]eventlog.AppendResult, error) {
	if err := checkStreamIDs(appends); err != nil {
		return nil, err
	}
	appends, err := s.seal(ctx, appends)
	if err != nil {
		return nil, err
	}
	// A failed COPY would abort the caller's transaction, so probe for duplicates
	// first. Versions are not remembered: the caller may still roll back.
	p, pos, err := s.appendLocked(ctx, tx, false, true, nil, appends)
	if err != nil {
		return nil, err
	}
	for i := range p.results {
		if p.results[i].Appended > 0 {
			p.results[i].Position = pos
		}
	}
	return p.results, nil
}

// assume plans appends on the versions known without asking the database: -1 for a
// stream that must not exist, the version of an exact expectation, the remembered
// version of a stream this store wrote. nil when some version is unknown, or the
// append is one the locking path must judge (an empty part, parts that contradict
// each other).
func (s *EventStore) assume(appends []eventlog.Append) *plan {
	current := map[string]int64{}
	for _, a := range appends {
		if len(a.Events) == 0 {
			return nil
		}
		if _, ok := current[a.StreamID]; ok {
			continue
		}
		v, ok := s.assumeVersion(a.StreamID, a.Expected)
		if !ok {
			return nil
		}
		current[a.StreamID] = v
	}
	p, err := newPlan(appends, current, nil)
	if err != nil {
		return nil
	}
	return p
}

// assumeVersion is the version a stream must be at for an append expecting expected
// to succeed, when it can be known without asking.
func (s *EventStore) assumeVersion(streamID string, expected eventlog.Expected) (int64, bool) {
	switch expected.Kind {
	case eventlog.ExpectNoStream:
		return -1, true
	case eventlog.ExpectExact:
		return int64(expected.Version), true
	}
	return s.versions.get(streamID)
}

// session is where a locking append runs: a caller's transaction, or a pooled
// connection on which appendLocked opens (and write commits) the transaction itself.
type session interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	Conn() *pgx.Conn
}

// appendLocked locks every stream row (created empty when new), in sorted order so
// that two multi-stream appends cannot deadlock, reads the versions and, with probe,
// which ids are stored already (after the locks, so a concurrent identical append is
// seen as duplicate), then writes. Without probe, a stored id fails the COPY on the
// unique index. own: begin here, and commit in the write.
func (s *EventStore) appendLocked(ctx context.Context, q session, own, probe bool, extra func(*pgx.Batch), appends []eventlog.Append) (*plan, eventlog.Position, error) {
	streamIDs := make([]string, 0, len(appends))
	eventIDs := make([][16]byte, 0, len(appends))
	for _, a := range appends {
		streamIDs = append(streamIDs, a.StreamID)
		for _, e := range a.Events {
			eventIDs = append(eventIDs, e.ID)
		}
	}
	slices.Sort(streamIDs)
	streamIDs = slices.Compact(streamIDs)

	batch := &pgx.Batch{}
	if own {
		batch.Queue("BEGIN")
	}
	if extra != nil {
		extra(batch)
	}
	batch.Queue(`INSERT INTO streams (stream_id, version) SELECT unnest($1::text[]), -1 ON CONFLICT DO NOTHING`, streamIDs)
	versions := map[string]int64{}
	batch.Queue(`SELECT stream_id, version FROM streams WHERE stream_id = ANY($1) ORDER BY stream_id FOR UPDATE`, streamIDs).
		Query(func(rows pgx.Rows) error {
			var id string
			var v int64
			_, err := pgx.ForEachRow(rows, []any{&id, &v}, func() error { versions[id] = v; return nil })
			return err
		})
	stored := map[[16]byte]bool{}
	if probe && len(eventIDs) > 0 {
		// One index probe per id. (event_id = ANY($1) lets the planner, knowing a
		// thousand ids, scan the whole table instead, which grows with the log.)
		batch.Queue(`SELECT i.id FROM unnest($1::uuid[]) AS i(id),
			LATERAL (SELECT 1 FROM events e WHERE e.event_id = i.id LIMIT 1) AS stored`, eventIDs).
			Query(func(rows pgx.Rows) error {
				var id [16]byte
				_, err := pgx.ForEachRow(rows, []any{&id}, func() error { stored[id] = true; return nil })
				return err
			})
	}
	if err := q.SendBatch(ctx, batch).Close(); err != nil {
		return nil, eventlog.Position{}, fmt.Errorf("append: lock streams: %w", err)
	}
	p, err := newPlan(appends, versions, stored)
	if err != nil {
		return nil, eventlog.Position{}, err
	}
	if len(p.rows) == 0 {
		if own {
			commit := &pgx.Batch{}
			commit.Queue("COMMIT")
			if err := q.SendBatch(ctx, commit).Close(); err != nil {
				return nil, eventlog.Position{}, fmt.Errorf("append: commit: %w", err)
			}
		}
		return p, eventlog.Position{}, nil
	}
	pos, err := write(ctx, q.Conn(), p.locks, rowsOf(p.rows), own)
	if err != nil {
		return nil, eventlog.Position{}, err
	}
	return p, pos, nil
}

// plan is an append decided: the rows to store, the streams they go to at the versions
// assumed (sorted by stream), the results so far, and every stream's version once
// committed.
type plan struct {
	rows    []row
	locks   []streamLock
	results []eventlog.AppendResult
	final   map[string]int64
}

// newPlan numbers each stream's new events from its current version, skipping the ids
// in stored and ids repeated within the call (duplicates), and checks each part's
// expectation.
func newPlan(appends []eventlog.Append, current map[string]int64, stored map[[16]byte]bool) (*plan, error) {
	events := 0
	for _, a := range appends {
		events += len(a.Events)
	}
	p := &plan{results: make([]eventlog.AppendResult, len(appends)), final: maps.Clone(current), rows: make([]row, 0, events)}
	seen := make(map[[16]byte]bool, events)
	var metaOf metadataJSON
	for i, a := range appends {
		version := p.final[a.StreamID]
		if _, ok := p.final[a.StreamID]; !ok {
			version = -1
		}
		fresh := 0
		for _, e := range a.Events {
			if stored[e.ID] || seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			if fresh == 0 {
				// A retry whose events are all stored already succeeds whatever it
				// expected; anything new must meet the expectation.
				if err := checkExpected(a.StreamID, a.Expected, version); err != nil {
					return nil, err
				}
			}
			fresh++
			version++
			meta, err := metaOf.encode(e.Metadata)
			if err != nil {
				return nil, err
			}
			p.rows = append(p.rows, newRow(a.StreamID, version, e, meta))
		}
		if len(a.Events) == 0 {
			if err := checkExpected(a.StreamID, a.Expected, version); err != nil {
				return nil, err
			}
		}
		p.final[a.StreamID] = version
		p.results[i] = eventlog.AppendResult{StreamID: a.StreamID, Appended: fresh, Duplicates: len(a.Events) - fresh, NextExpected: expectedOf(version)}
	}
	for _, id := range slices.Sorted(maps.Keys(p.final)) {
		initial, ok := current[id]
		if !ok {
			initial = -1
		}
		if p.final[id] != initial {
			p.locks = append(p.locks, streamLock{stream: id, version: initial})
		}
	}
	return p, nil
}

// rowsOf is rows as write takes them.
func rowsOf(rows []row) iter.Seq2[row, error] {
	return func(yield func(row, error) bool) {
		for _, r := range rows {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// metadataJSON encodes event metadata, once for a run of events that share it (the
// events of one request do).
type metadataJSON struct {
	last    eventlog.Metadata
	encoded []byte
}

func (m *metadataJSON) encode(meta eventlog.Metadata) ([]byte, error) {
	if m.encoded == nil || meta != m.last {
		b, err := json.Marshal(meta)
		if err != nil {
			return nil, fmt.Errorf("append: metadata: %w", err)
		}
		m.last, m.encoded = meta, b
	}
	return m.encoded, nil
}

// sealedData is the data column of a row whose payload is in the sealed column.
var sealedData = []byte(datakeys.SealedData)

// newRow is e as stored; a payload in the sealed form (PayloadCipher) goes to the
// sealed column.
func newRow(stream string, version int64, e eventlog.EventData, meta []byte) row {
	r := row{id: e.ID, stream: stream, version: version, typ: e.Type, schema: int32(e.SchemaVersion), data: e.Data, meta: meta}
	switch {
	case datakeys.IsBinary(e.Data):
		r.data, r.sealed = sealedData, e.Data
	case len(e.Data) == 0:
		r.data = json.RawMessage("{}")
	}
	return r
}

func expectedOf(version int64) eventlog.Expected {
	if version < 0 {
		return eventlog.NoStream()
	}
	return eventlog.Exact(uint64(version))
}

func checkExpected(streamID string, want eventlog.Expected, current int64) error {
	ok := false
	switch want.Kind {
	case eventlog.ExpectAny:
		ok = true
	case eventlog.ExpectNoStream:
		ok = current < 0
	case eventlog.ExpectExact:
		ok = current >= 0 && uint64(current) == want.Version
	}
	if ok {
		return nil
	}
	return &eventlog.ConflictError{StreamID: streamID, Expected: want, Actual: expectedOf(current)}
}

// txid is read and compared as xid8 itself (binary, 8 bytes), not through text.
const selectEnvelope = `SELECT txid, position, event_id, stream_id, stream_version, event_type, schema_version, data, sealed, metadata, recorded_at FROM events`

func scanEnvelopes(rows pgx.Rows, capacity int) ([]eventlog.Envelope, error) {
	out := make([]eventlog.Envelope, 0, capacity)
	var txid uint64
	var position, version int64
	var id [16]byte
	var env eventlog.Envelope
	// Borrowed from pgx's read buffer (valid until the next row): payloads are copied
	// into one arena per page, and a page's runs of equal stream ids, types and metadata
	// (the events of one request) share one copy, so a page costs a handful of
	// allocations instead of several per event. Every payload gets its own copy, so the
	// cipher may decrypt a sealed one in place.
	var data, sealed, meta, stream, typ pgtype.DriverBytes
	arena := arena{blockSize: min(256<<10, capacity<<10)}
	var lastMeta []byte
	var lastMetadata eventlog.Metadata
	_, err := pgx.ForEachRow(rows, []any{&txid, &position, &id, &stream, &version, &typ, &env.SchemaVersion, &data, &sealed, &meta, &env.RecordedAt}, func() error {
		e := env
		e.ID = ids.ID(id)
		e.Position = eventlog.Position{Commit: txid, Prepare: uint64(position)}
		e.StreamVersion = uint64(version)
		if n := len(out); n > 0 {
			e.StreamID, e.Type = sameOr(out[n-1].StreamID, stream), sameOr(out[n-1].Type, typ)
		} else {
			e.StreamID, e.Type = string(stream), string(typ)
		}
		// A sealed payload (in the sealed column) is read instead of data's placeholder.
		if sealed != nil {
			e.Data = arena.copy(sealed)
		} else {
			e.Data = arena.copy(data)
		}
		if lastMeta == nil || !bytes.Equal(meta, lastMeta) {
			lastMetadata = eventlog.Metadata{}
			if err := json.Unmarshal(meta, &lastMetadata); err != nil {
				return fmt.Errorf("event %s: metadata: %w", e.ID, err)
			}
			lastMeta = append(lastMeta[:0], meta...)
		}
		e.Metadata = lastMetadata
		out = append(out, e)
		return nil
	})
	return out, err
}

// sameOr is prev when b spells it (the previous row's value), else b as a new string.
func sameOr(prev string, b []byte) string {
	if string(b) == prev {
		return prev
	}
	return string(b)
}

// arena hands out copies of byte slices from a few large blocks (sized to the page, so
// a short read pins little). A block stays alive as long as any copy in it does.
type arena struct {
	block     []byte
	blockSize int
}

func (a *arena) copy(b []byte) []byte {
	if b == nil {
		return nil
	}
	if len(b) > cap(a.block)-len(a.block) {
		a.block = make([]byte, 0, max(a.blockSize, len(b)))
	}
	start := len(a.block)
	a.block = append(a.block, b...)
	return a.block[start:len(a.block):len(a.block)]
}

// ReadStream returns up to max events of one stream from revision from on.
func (s *EventStore) ReadStream(ctx context.Context, streamID string, from uint64, max int) ([]eventlog.Envelope, error) {
	rows, err := s.pool.Query(ctx, selectEnvelope+` WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version LIMIT $3`, streamID, int64(from), max)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", streamID, err)
	}
	events, err := scanEnvelopes(rows, 16)
	if err == nil {
		err = s.open(ctx, events)
	}
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", streamID, err)
	}
	if len(events) == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE stream_id = $1)`, streamID).Scan(&exists); err != nil {
			return nil, fmt.Errorf("read stream %s: %w", streamID, err)
		}
		if !exists {
			return nil, eventlog.ErrStreamNotFound
		}
	}
	return events, nil
}

// ReadAll returns up to max events after position after, in log order, never past the
// oldest transaction still running.
func (s *EventStore) ReadAll(ctx context.Context, after eventlog.Position, max int) ([]eventlog.Envelope, error) {
	rows, err := s.pool.Query(ctx, selectEnvelope+`
		WHERE (txid, position) > ($1::xid8, $2::bigint)
		  AND txid < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY events.txid, events.position LIMIT $3`, after.Commit, int64(after.Prepare), max)
	if err != nil {
		return nil, fmt.Errorf("read all: %w", err)
	}
	events, err := scanEnvelopes(rows, max)
	if err == nil {
		err = s.open(ctx, events)
	}
	if err != nil {
		return nil, fmt.Errorf("read all: %w", err)
	}
	return events, nil
}

// Head is the position of the last committed event. It can lie beyond what ReadAll
// returns yet (while an older transaction is still running), which is what waiting for
// "everything committed before now" needs.
func (s *EventStore) Head(ctx context.Context) (eventlog.Position, error) {
	var txid uint64
	var position int64
	err := s.pool.QueryRow(ctx, `SELECT txid, position FROM events ORDER BY events.txid DESC, events.position DESC LIMIT 1`).Scan(&txid, &position)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventlog.Start, nil
	}
	if err != nil {
		return eventlog.Start, fmt.Errorf("head: %w", err)
	}
	return eventlog.Position{Commit: txid, Prepare: uint64(position)}, nil
}

// Backlog counts the events after a up to and including b, committed ones beyond the
// reader horizon too, and finds the oldest's recorded_at.
func (s *EventStore) Backlog(ctx context.Context, a, b eventlog.Position) (eventlog.Backlog, error) {
	var bl eventlog.Backlog
	if !a.Less(b) {
		return bl, nil
	}
	var oldest *time.Time
	err := s.pool.QueryRow(ctx, `SELECT count(*), min(recorded_at) FROM events
		WHERE (txid, position) > ($1::xid8, $2::bigint) AND (txid, position) <= ($3::xid8, $4::bigint)`,
		a.Commit, int64(a.Prepare), b.Commit, int64(b.Prepare)).Scan(&bl.Events, &oldest)
	if err != nil {
		return bl, fmt.Errorf("count events: %w", err)
	}
	if oldest != nil {
		bl.Oldest = *oldest
	}
	return bl, nil
}

// WaitForAppend sleeps until an append commits (LISTEN/NOTIFY), ctx ends or timeout
// passes. The listener starts on first use and restarts after a connection failure;
// meanwhile the timeout turns waiting into polling.
func (s *EventStore) WaitForAppend(ctx context.Context, timeout time.Duration) error {
	s.mu.Lock()
	if s.listener == nil {
		lctx, cancel := context.WithCancel(context.Background())
		s.listener = cancel
		go s.listen(lctx)
	}
	wake := s.wake
	s.mu.Unlock()
	return eventlog.AwaitWake(ctx, wake, timeout)
}

func (s *EventStore) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if errors.Is(err, puddle.ErrClosedPool) {
			return // the store's owner closed the pool without closing the store
		}
		if ctx.Err() == nil {
			time.Sleep(time.Second)
		}
	}
}

func (s *EventStore) listenOnce(ctx context.Context) error {
	// Probe the pool first, so a closed pool ends the listener.
	probe, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	probe.Release()
	// The listening connection is the store's own, not the pool's: it waits for as long
	// as the store lives, and closing the pool must not wait for it.
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+appendChannel); err != nil {
		return err
	}
	// Appends announced before LISTEN took effect went unheard: wake everyone once.
	s.wakeAll()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.wakeAll()
	}
}

func (s *EventStore) wakeAll() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

// Close stops the listener. The pool belongs to the caller.
func (s *EventStore) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener != nil {
		s.listener()
		s.listener = nil
	}
}
