package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/eventlog"
)

// parkedEvent is an event a projection could not apply, with why.
type parkedEvent struct {
	event Event
	err   error
}

// isPoison reports whether err is about the event's data rather than the moment: a
// decode failure, or a PostgreSQL data exception (class 22: out of range, invalid
// text), integrity violation (23) or program limit (54: index row too large). Applying
// the same event again gives the same error, so retrying it would stall the projection
// forever. Everything else (connections, deadlocks, cancellation) is retried.
func isPoison(err error) bool {
	var de decodeError
	if errors.As(err, &de) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "22", "23", "54":
			return true
		}
	}
	return false
}

// applyIsolating applies events into schema inside tx. When the batch fails on the data
// of some event, it finds that event by halving the batch, each half in a savepoint,
// parks it and applies the rest: k bad events in a batch of n cost about k·log2(n)
// extra applies, and a good batch costs nothing extra.
func applyIsolating(ctx context.Context, tx pgx.Tx, p Projection, schema string, events []Event) ([]parkedEvent, error) {
	if len(events) == 0 {
		return nil, nil
	}
	err := applyInSavepoint(ctx, tx, p, schema, events)
	if err == nil || !isPoison(err) {
		return nil, err
	}
	if len(events) == 1 {
		return []parkedEvent{{events[0], err}}, nil
	}
	mid := len(events) / 2
	first, err := applyIsolating(ctx, tx, p, schema, events[:mid])
	if err != nil {
		return nil, err
	}
	rest, err := applyIsolating(ctx, tx, p, schema, events[mid:])
	return append(first, rest...), err
}

func applyInSavepoint(ctx context.Context, tx pgx.Tx, p Projection, schema string, events []Event) error {
	return pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error { return applyBatch(ctx, sp, p, schema, events) })
}

func applyBatch(ctx context.Context, tx pgx.Tx, p Projection, schema string, events []Event) error {
	if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, pgx.Identifier{schema}.Sanitize()+", public"); err != nil {
		return err
	}
	writes := &pgx.Batch{}
	if err := p.Apply(ctx, tx, events, writes); err != nil {
		return fmt.Errorf("apply %s: %w", p.Name(), err)
	}
	if err := tx.SendBatch(ctx, writes).Close(); err != nil {
		return fmt.Errorf("apply %s: %w", p.Name(), err)
	}
	_, err := tx.Exec(ctx, `SELECT set_config('search_path', 'public', true)`)
	return err
}

// park records events as parked for projection name in the schema that search_path
// names (live, rebuild or replay), in the transaction that moves past them.
func park(ctx context.Context, tx pgx.Tx, name string, parked []parkedEvent) error {
	if len(parked) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	queuePark(b, name, parked)
	return tx.SendBatch(ctx, b).Close()
}

func queuePark(b *pgx.Batch, name string, parked []parkedEvent) {
	for _, pk := range parked {
		b.Queue(`INSERT INTO parked_events (projection, event_id, commit_pos, prepare_pos, event_type, error)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (projection, event_id) DO UPDATE SET error = excluded.error, parked_at = now()`,
			name, pk.event.ID, int64(pk.event.Position.Commit), int64(pk.event.Position.Prepare), pk.event.Type,
			strings.ToValidUTF8(pk.err.Error(), "?"))
	}
}

// ParkedCounts is the number of parked events per projection.
func (e *Engine) ParkedCounts(ctx context.Context) (map[string]int64, error) {
	rows, err := e.pool.Query(ctx, `SELECT projection, count(*) FROM parked_events GROUP BY projection`)
	if err != nil {
		return nil, fmt.Errorf("count parked events: %w", err)
	}
	out := map[string]int64{}
	var name string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error { out[name] = n; return nil })
	return out, err
}

// RetryResult counts what RetryParked did.
type RetryResult struct {
	Applied     int // re-applied and no longer parked
	StillParked int // failed again; kept with the new error
}

// RetryParked re-applies projection p's parked events, oldest first, each in a
// transaction that holds p's checkpoint row (so it never runs beside a batch of the
// live runner) and removes the event from the parked list once it applies. An event
// that still fails stays parked with its new error. Parked events are applied after
// events that came later in the log; the read models that can be affected by order
// (line counting v2's last line count) take them as a late correction.
func RetryParked(ctx context.Context, pool *pgxpool.Pool, store eventlog.Store, p Projection) (RetryResult, error) {
	var res RetryResult
	rows, err := pool.Query(ctx, `SELECT event_id::text, commit_pos, prepare_pos FROM parked_events
		WHERE projection = $1 ORDER BY commit_pos, prepare_pos`, p.Name())
	if err != nil {
		return res, err
	}
	type ref struct {
		id  string
		pos eventlog.Position
	}
	var refs []ref
	var id string
	var commit, prepare int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &commit, &prepare}, func() error {
		refs = append(refs, ref{id, eventlog.Position{Commit: uint64(commit), Prepare: uint64(prepare)}})
		return nil
	}); err != nil {
		return res, err
	}
	var dec decoder
	for _, r := range refs {
		// The parked event is the first event after the position just before it.
		before := r.pos
		before.Prepare--
		envs, err := store.ReadAll(ctx, before, 1)
		if err != nil {
			return res, err
		}
		if len(envs) == 0 || envs[0].ID.String() != r.id {
			return res, fmt.Errorf("parked event %s is not in the log at %s", r.id, r.pos)
		}
		events, failed := dec.decode(envs, nil)
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := lockCheckpoint(ctx, tx, p.Name()); err != nil {
				return err
			}
			applyErr := failed[0]
			if applyErr == nil {
				applyErr = applyInSavepoint(ctx, tx, p, "public", events)
			}
			if applyErr != nil {
				if !isPoison(applyErr) {
					return applyErr
				}
				res.StillParked++
				return park(ctx, tx, p.Name(), []parkedEvent{{events[0], applyErr}})
			}
			res.Applied++
			_, err := tx.Exec(ctx, `DELETE FROM parked_events WHERE projection = $1 AND event_id = $2`, p.Name(), envs[0].ID)
			return err
		})
		if err != nil {
			return res, err
		}
	}
	return res, nil
}
