package privacy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
)

// Line is one line of an export: what it is and the record.
type Line struct {
	Kind   string `json:"kind"`
	Record any    `json:"record"`
}

// exportedEvent is an event of the log as exported: its payload as stored, decrypted
// (a telemetry event's is {"machine_timestamp": …, "event": <the event as sent>}).
type exportedEvent struct {
	ID            ids.ID          `json:"id"`
	StreamID      string          `json:"stream_id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	ReceivedAt    time.Time       `json:"received_at,omitzero"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Payload       json.RawMessage `json:"payload"`
}

// readModels are the read models exported, each as its rows are (row_to_json), in a
// stable order. Rows of a session belong to the user through the session.
var readModels = []struct{ kind, query string }{
	{"session", `SELECT row_to_json(t) FROM sessions t WHERE owner = $1 ORDER BY start_time, id`},
	{"metrics_daily", `SELECT row_to_json(t) FROM metrics_daily t WHERE user_id = $1 ORDER BY day`},
	{"metrics_daily_file", `SELECT row_to_json(t) FROM metrics_daily_files t WHERE user_id = $1 ORDER BY day, path`},
	{"metrics_session", `SELECT row_to_json(t) FROM metrics_session t WHERE user_id = $1 ORDER BY start_time, session_id`},
	{"metrics_session_file", `SELECT row_to_json(t) FROM metrics_session_files t
		WHERE session_id IN (SELECT session_id FROM metrics_session WHERE user_id = $1) ORDER BY session_id, path`},
	{"recommendation", `SELECT row_to_json(t) FROM recommendations t WHERE user_id = $1 ORDER BY seq`},
}

// Export writes every piece of user's data as JSON lines: profile, API tokens' metadata
// (never a secret or hash), every event of theirs in the log as it was stored (telemetry
// as sent), then the read models (sessions, daily and session metrics, recommendations
// with what the user did with them). It streams: rows are written as they are read,
// flushed every flushEvery lines. accounts.ErrUserNotFound before anything is written.
func (s *Service) Export(ctx context.Context, user ids.ID, w io.Writer, flush func()) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		out := &lineWriter{w: bufio.NewWriterSize(w, 32<<10), flush: flush}
		var profile struct {
			ID        ids.ID    `json:"id"`
			Username  string    `json:"username"`
			Email     *string   `json:"email"`
			Provider  string    `json:"provider"`
			CreatedAt time.Time `json:"created_at"`
		}
		err := tx.QueryRow(ctx, `SELECT id, username, email, provider, created_at FROM users WHERE id = $1`, user).
			Scan(&profile.ID, &profile.Username, &profile.Email, &profile.Provider, &profile.CreatedAt)
		if err == pgx.ErrNoRows {
			return accounts.ErrUserNotFound
		}
		if err != nil {
			return err
		}
		if err := out.line("profile", profile); err != nil {
			return err
		}
		if err := out.rows(ctx, tx, "api_token", `SELECT json_build_object('id', id, 'name', name, 'token_prefix', token_prefix,
			'created_at', created_at, 'last_used_at', last_used_at, 'revoked_at', revoked_at)
			FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id`, user); err != nil {
			return err
		}
		err = scanUserEvents(ctx, tx, user, func(e storedEvent) error {
			if s.keyring != nil {
				if err := s.keyring.Open(ctx, &e.env); err != nil {
					return err
				}
			}
			return out.line("event", exportedEvent{ID: e.env.ID, StreamID: e.env.StreamID, Type: e.env.Type,
				SchemaVersion: e.env.SchemaVersion, ReceivedAt: e.env.Metadata.ReceivedAt, RecordedAt: e.env.RecordedAt, Payload: e.env.Data})
		})
		if err != nil {
			return err
		}
		for _, rm := range readModels {
			if err := out.rows(ctx, tx, rm.kind, rm.query, user); err != nil {
				return err
			}
		}
		return out.done()
	})
}

// storedEvent is one of the user's events as read from the log (payload as stored: in
// plaintext, in the JSON form or in the sealed form).
type storedEvent struct{ env eventlog.Envelope }

// scanUserEvents calls fn for every event whose metadata names user, in log order, as
// the rows arrive (one query: the log has no index by user, so it is scanned once).
func scanUserEvents(ctx context.Context, tx pgx.Tx, user ids.ID, fn func(storedEvent) error) error {
	rows, err := tx.Query(ctx, `SELECT event_id, stream_id, stream_version, event_type, schema_version, data, sealed, metadata, recorded_at
		FROM events WHERE metadata->>'user_id' = $1::text ORDER BY txid, position`, user)
	if err != nil {
		return err
	}
	var e storedEvent
	var version int64
	var data, sealed, meta []byte
	_, err = pgx.ForEachRow(rows, []any{&e.env.ID, &e.env.StreamID, &version, &e.env.Type, &e.env.SchemaVersion, &data, &sealed, &meta, &e.env.RecordedAt}, func() error {
		e.env.StreamVersion = uint64(version)
		// The sealed column holds the payload when it is set (pgx scans into fresh
		// slices: Open may decrypt in place).
		e.env.Data = data
		if sealed != nil {
			e.env.Data = sealed
		}
		e.env.Metadata = eventlog.Metadata{}
		e.env.Erased = false
		if err := json.Unmarshal(meta, &e.env.Metadata); err != nil {
			return fmt.Errorf("event %s: metadata: %w", e.env.ID, err)
		}
		return fn(e)
	})
	return err
}

// flushEvery is how many lines go out between flushes of the response.
const flushEvery = 500

type lineWriter struct {
	w     *bufio.Writer
	flush func()
	n     int
}

func (l *lineWriter) line(kind string, record any) error {
	b, err := json.Marshal(Line{Kind: kind, Record: record})
	if err != nil {
		return err
	}
	if _, err := l.w.Write(append(b, '\n')); err != nil {
		return err
	}
	if l.n++; l.n%flushEvery == 0 {
		return l.done()
	}
	return nil
}

// rows writes a query's single json column, one line per row.
func (l *lineWriter) rows(ctx context.Context, tx pgx.Tx, kind, query string, user ids.ID) error {
	rows, err := tx.Query(ctx, query, user)
	if err != nil {
		return fmt.Errorf("export %s: %w", kind, err)
	}
	var record json.RawMessage
	_, err = pgx.ForEachRow(rows, []any{&record}, func() error { return l.line(kind, record) })
	if err != nil {
		return fmt.Errorf("export %s: %w", kind, err)
	}
	return nil
}

func (l *lineWriter) done() error {
	if err := l.w.Flush(); err != nil {
		return err
	}
	if l.flush != nil {
		l.flush()
	}
	return nil
}
