// Package privacy is what a user may ask of their data (issue 16): a download of all of
// it (Export), its erasure (Erase: the data key destroyed, so the append-only log keeps
// only ciphertext nobody can read, and every read-model row deleted), and the operator's
// proof that an erasure holds (Verify).
//
// Read models are found by their columns, not listed: every table of every schema (the
// live one, rebuilds' and replays' copies) with a uuid column user_id or owner holds rows
// of users, one with session_id rows of sessions, one with event_id (parked events) rows
// of events. A read model added later is covered without a change here.
package privacy

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/datakeys"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/projections"
)

// Service erases, exports and verifies users' data.
type Service struct {
	pool    *pgxpool.Pool
	events  *postgres.EventStore
	keyring *datakeys.Keyring // nil: payloads are not encrypted (development without DATA_KEY)
	engine  *projections.Engine
	log     *slog.Logger
	now     func() time.Time
}

// New builds the service.
func New(pool *pgxpool.Pool, events *postgres.EventStore, keyring *datakeys.Keyring, engine *projections.Engine, log *slog.Logger) *Service {
	if pool == nil || events == nil || engine == nil || log == nil {
		panic("privacy: nil dependency")
	}
	return &Service{pool: pool, events: events, keyring: keyring, engine: engine, log: log, now: time.Now}
}

// projectionsWait bounds how long an erasure waits for the projections to pass its
// UserErased fact before it sweeps the read models a second time.
const projectionsWait = 15 * time.Second

// Erase erases user: in one transaction their data key is destroyed (their events can
// never be decrypted again, so every projection, rebuild and replay skips them), their
// account, tokens, pairings and every read-model row are deleted, and a UserErased fact
// (the id and the time, nothing personal) is appended. Then, once the projections have
// passed that fact (bounded by projectionsWait), the read models are swept once more for
// rows a projection applied from events it read just before. accounts.ErrUserNotFound
// for a user who never existed; erasing an erased user again only sweeps.
func (s *Service) Erase(ctx context.Context, user ids.ID) error {
	at := s.now().UTC()
	var pos eventlog.Position
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var exists, erased bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1), EXISTS (SELECT 1 FROM erased_users WHERE user_id = $1)`,
			user).Scan(&exists, &erased); err != nil {
			return err
		}
		if !exists && !erased {
			return accounts.ErrUserNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM failed_logins WHERE email = (SELECT email FROM users WHERE id = $1)`, user); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, user); err != nil { // tokens go with it
			return err
		}
		if err := datakeys.Destroy(ctx, tx, user, at); err != nil {
			return err
		}
		if _, err := sweep(ctx, tx, user, false); err != nil {
			return err
		}
		if erased {
			return nil
		}
		fact, err := accounts.Encode(accounts.UserErased{UserID: user, ErasedAt: at})
		if err != nil {
			return err
		}
		results, err := s.events.AppendTx(ctx, tx, eventlog.Append{StreamID: accounts.StreamID(user), Expected: eventlog.Any(), Events: []eventlog.EventData{fact}})
		if err != nil {
			return err
		}
		pos = results[0].Position
		return nil
	})
	if err != nil {
		return fmt.Errorf("erase %s: %w", user, err)
	}
	if s.keyring != nil {
		s.keyring.Forget(user)
	}
	s.waitForProjections(ctx, pos)
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		found, err := sweep(ctx, tx, user, false)
		if len(found) > 0 {
			s.log.Warn("erasure: a projection had applied events of the erased user after the first sweep; deleted", "user_id", user.String(), "tables", fmt.Sprint(found))
		}
		return err
	}); err != nil {
		return fmt.Errorf("erase %s: second sweep: %w", user, err)
	}
	s.log.Info("user erased", "user_id", user.String())
	return nil
}

// waitForProjections waits, bounded, until every projection has passed pos. Without
// runners (a CLI erasure while no server runs) it gives up: the projections will meet
// only erased events of the user when they run again.
func (s *Service) waitForProjections(ctx context.Context, pos eventlog.Position) {
	if pos == (eventlog.Position{}) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, projectionsWait)
	defer cancel()
	statuses, err := s.engine.Status(ctx)
	if err != nil {
		return
	}
	for _, st := range statuses {
		if err := s.engine.WaitFor(ctx, st.Name, pos); err != nil {
			s.log.Warn("erasure: a projection did not pass the erasure in time; swept anyway", "projection", st.Name)
			return
		}
	}
}

// userColumns finds the tables holding rows of users, sessions or events: every table of
// every schema but the log itself and the erasure records.
const userColumns = `
	SELECT c.table_schema, c.table_name, c.column_name
	FROM information_schema.columns c
	JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
	WHERE t.table_type = 'BASE TABLE' AND c.data_type = 'uuid'
	  AND c.column_name IN ('user_id', 'owner', 'session_id', 'event_id')
	  AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
	  AND NOT (c.table_schema = 'public' AND c.table_name IN ('events', 'erased_users'))
	ORDER BY c.table_schema, c.table_name, c.column_name`

// userSessions and userEvents are the user's sessions and events according to the log:
// the sessions they started, the events whose metadata names them.
const (
	userSessions = `SELECT substr(stream_id, 9)::uuid FROM events WHERE event_type = 'SessionStarted' AND metadata->>'user_id' = $1::text`
	userEvents   = `SELECT event_id FROM events WHERE metadata->>'user_id' = $1::text`
)

// trace is one table holding rows of an erased user.
type trace struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

// sweep deletes (or, with count, counts) the user's rows in every table userColumns
// finds; it returns what it found.
func sweep(ctx context.Context, tx pgx.Tx, user ids.ID, count bool) ([]trace, error) {
	rows, err := tx.Query(ctx, userColumns)
	if err != nil {
		return nil, err
	}
	type column struct{ schema, table, name string }
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		return c, r.Scan(&c.schema, &c.table, &c.name)
	})
	if err != nil {
		return nil, err
	}
	var found []trace
	for _, c := range cols {
		var match string
		switch c.name {
		case "user_id", "owner":
			match = "= $1"
		case "session_id":
			match = "IN (" + userSessions + ")"
		case "event_id":
			match = "IN (" + userEvents + ")"
		}
		table := pgx.Identifier{c.schema, c.table}.Sanitize()
		where := ` WHERE ` + pgx.Identifier{c.name}.Sanitize() + ` ` + match
		var n int64
		if count {
			err = tx.QueryRow(ctx, `SELECT count(*) FROM `+table+where, user).Scan(&n)
		} else {
			var tag pgconn.CommandTag
			tag, err = tx.Exec(ctx, `DELETE FROM `+table+where, user)
			n = tag.RowsAffected()
		}
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", c.schema, c.table, err)
		}
		if n > 0 {
			found = append(found, trace{Table: c.schema + "." + c.table, Rows: n})
		}
	}
	return found, nil
}
