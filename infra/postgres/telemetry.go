package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	cmdtelemetry "github.com/devflow/backend/commands/telemetry"
	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
)

// TelemetryStore is the telemetry ingest's store (cmdtelemetry.Store) when the event
// log is this package's: events, the user check and the quarantine commit in one
// transaction.
type TelemetryStore struct {
	pool   *pgxpool.Pool
	events *EventStore
	owners owners
}

var (
	_ cmdtelemetry.Store = (*TelemetryStore)(nil)
	_ cmdtelemetry.Store = (*TelemetryLogStore)(nil)
)

// NewTelemetryStore builds the store over the PostgreSQL event log.
func NewTelemetryStore(pool *pgxpool.Pool, events *EventStore) *TelemetryStore {
	if pool == nil || events == nil {
		panic("postgres: nil dependency")
	}
	return &TelemetryStore{pool: pool, events: events, owners: newOwners()}
}

// Session folds a session's first event.
func (s *TelemetryStore) Session(ctx context.Context, id ids.ID) (*telemetry.Session, error) {
	return s.owners.session(ctx, s.events, id)
}

// owners remembers sessions' owners. Ownership never changes (telemetry.Session), so a
// remembered owner is always right and saves reading the stream; a session not
// started is always read, since another user may create it at any moment. The least
// recently used session goes first when it is full.
type owners struct{ lru *lru.Cache[string, ids.ID] }

const maxCachedOwners = 1 << 16

func newOwners() owners {
	c, err := lru.New[string, ids.ID](maxCachedOwners)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return owners{c}
}

// session is the session's aggregate, read from log unless its owner is known.
func (o owners) session(ctx context.Context, log eventlog.Store, id ids.ID) (*telemetry.Session, error) {
	if owner, ok := o.lru.Get(telemetry.StreamID(id)); ok {
		return telemetry.FoldSession(id, telemetry.SessionStarted{Owner: owner}), nil
	}
	s, err := readSession(ctx, log, id)
	if err == nil && s.Started() {
		o.lru.Add(telemetry.StreamID(id), s.Owner())
	}
	return s, err
}

// created remembers the sessions that committed appends created (expecting no
// stream): user owns them.
func (o owners) created(user ids.ID, appends []eventlog.Append) {
	for _, a := range appends {
		if a.Expected.Kind == eventlog.ExpectNoStream {
			o.lru.Add(a.StreamID, user)
		}
	}
}

// readSession folds a session's first event from log.
func readSession(ctx context.Context, log eventlog.Store, id ids.ID) (*telemetry.Session, error) {
	events, err := log.ReadStream(ctx, telemetry.StreamID(id), 0, 1)
	if errors.Is(err, eventlog.ErrStreamNotFound) || err == nil && len(events) == 0 {
		return telemetry.NewSession(id), nil
	}
	if err != nil {
		return nil, err
	}
	if events[0].Erased {
		// Its owner was erased; the session stays theirs, so nobody else can write to it.
		owner, err := ids.Parse(events[0].Metadata.UserID)
		if err != nil {
			return nil, fmt.Errorf("session %s: erased first event without an owner: %w", id, err)
		}
		return telemetry.FoldSession(id, telemetry.SessionStarted{Owner: owner}), nil
	}
	if events[0].Type != telemetry.TypeSessionStarted {
		return nil, fmt.Errorf("session %s: first event is %s, not %s", id, events[0].Type, telemetry.TypeSessionStarted)
	}
	started, err := telemetry.DecodeSessionStarted(events[0].SchemaVersion, events[0].Data)
	if err != nil {
		return nil, fmt.Errorf("session %s: %w", id, err)
	}
	return telemetry.FoldSession(id, started), nil
}

const userExistsSQL = `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`

// UserExists checks the users table.
func (s *TelemetryStore) UserExists(ctx context.Context, user ids.ID) (bool, error) {
	return userExists(ctx, s.pool, user)
}

func userExists(ctx context.Context, pool *pgxpool.Pool, user ids.ID) (bool, error) {
	var ok bool
	err := pool.QueryRow(ctx, userExistsSQL, [16]byte(user)).Scan(&ok)
	return ok, err
}

// checkUser is accounts.ErrUserNotFound when the caller's user row was not verified
// by authentication (a JWT) and does not exist.
func checkUser(ctx context.Context, pool *pgxpool.Pool, user ids.ID, verified bool) error {
	if verified {
		return nil
	}
	exists, err := userExists(ctx, pool, user)
	if err != nil {
		return err
	}
	if !exists {
		return accounts.ErrUserNotFound
	}
	return nil
}

// Commit stores the events and the quarantine records in one transaction. Without
// quarantine records the append is the event store's usual one; with them it takes the
// locked append's two round trips, the quarantine insert riding in the first (with the
// stream locks), the events and COMMIT in the second. A caller whose user row was not
// verified by authentication (a JWT) is checked first, one round trip more.
func (s *TelemetryStore) Commit(ctx context.Context, user ids.ID, userVerified bool, appends []eventlog.Append, quarantine []cmdtelemetry.QuarantineRecord) ([]eventlog.AppendResult, error) {
	if err := checkUser(ctx, s.pool, user, userVerified); err != nil {
		return nil, err
	}
	queueQuarantine, err := quarantineInsert(quarantine)
	if err != nil {
		return nil, err
	}
	results, err := s.events.AppendWith(ctx, queueQuarantine, appends...)
	if err == nil {
		s.owners.created(user, appends)
	}
	return results, err
}

// quarantineInsert queues the insert of the quarantine records; nil when there are
// none. A resent invalid event has the same id, so it is stored once.
func quarantineInsert(quarantine []cmdtelemetry.QuarantineRecord) (func(*pgx.Batch), error) {
	if len(quarantine) == 0 {
		return nil, nil
	}
	n := len(quarantine)
	qids, users, at, idx := make([][16]byte, n), make([][16]byte, n), make([]time.Time, n), make([]int32, n)
	raws, errs := make([][]byte, n), make([]string, n)
	for i, q := range quarantine {
		qids[i], users[i], at[i], idx[i], raws[i] = q.ID, q.UserID, q.ReceivedAt, int32(q.Index), q.Raw
		b, err := json.Marshal(q.Errors)
		if err != nil {
			return nil, err
		}
		errs[i] = string(storableJSON(b))
	}
	return func(batch *pgx.Batch) {
		batch.Queue(`INSERT INTO telemetry_quarantine (id, user_id, received_at, event_index, raw, errors)
			SELECT q.id, q.user_id, q.received_at, q.event_index, q.raw, q.errors::jsonb
			FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::int4[], $5::bytea[], $6::text[])
			  AS q(id, user_id, received_at, event_index, raw, errors)
			ON CONFLICT (id) DO NOTHING`, qids, users, at, idx, raws, errs)
	}, nil
}

// storableJSON replaces \u0000 escapes, which jsonb refuses, in JSON written by
// encoding/json (error messages may quote what the client sent). Where the match is
// really an escaped backslash followed by "u0000", only that text changes; the JSON
// stays valid either way.
func storableJSON(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u0000`)) {
		return b
	}
	return bytes.ReplaceAll(b, []byte(`\u0000`), []byte(`\ufffd`))
}

// TelemetryLogStore is the telemetry ingest's store when the event log is not the
// PostgreSQL one (EventStoreDB): the user check and the quarantine stay in PostgreSQL.
// The append and the quarantine insert cannot share a transaction there, so the
// quarantine is written after the events; a failure in between answers 500, the
// extension resends, and the content-derived ids make the resend store each event and
// record exactly once.
type TelemetryLogStore struct {
	pool   *pgxpool.Pool
	log    eventlog.Store
	owners owners
}

// NewTelemetryLogStore builds the store over any event log.
func NewTelemetryLogStore(pool *pgxpool.Pool, log eventlog.Store) *TelemetryLogStore {
	if pool == nil || log == nil {
		panic("postgres: nil dependency")
	}
	return &TelemetryLogStore{pool: pool, log: log, owners: newOwners()}
}

// Session folds a session's first event.
func (s *TelemetryLogStore) Session(ctx context.Context, id ids.ID) (*telemetry.Session, error) {
	return s.owners.session(ctx, s.log, id)
}

// UserExists checks the users table.
func (s *TelemetryLogStore) UserExists(ctx context.Context, user ids.ID) (bool, error) {
	return userExists(ctx, s.pool, user)
}

// Commit checks the user, appends, then stores the quarantine records.
func (s *TelemetryLogStore) Commit(ctx context.Context, user ids.ID, userVerified bool, appends []eventlog.Append, quarantine []cmdtelemetry.QuarantineRecord) ([]eventlog.AppendResult, error) {
	if err := checkUser(ctx, s.pool, user, userVerified); err != nil {
		return nil, err
	}
	var results []eventlog.AppendResult
	var err error
	if len(appends) > 0 {
		if results, err = s.log.Append(ctx, appends...); err != nil {
			return nil, err
		}
		s.owners.created(user, appends)
	}
	queueQuarantine, err := quarantineInsert(quarantine)
	if err != nil || queueQuarantine == nil {
		return results, err
	}
	batch := &pgx.Batch{}
	queueQuarantine(batch)
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		return nil, err
	}
	return results, nil
}
