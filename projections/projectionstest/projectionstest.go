// Package projectionstest applies fixed event lists to projections, the way the
// engine applies a batch (decoded once, one transaction per batch), for projection and
// query tests that must not depend on the ingest or the HTTP API.
package projectionstest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/projections"
)

// Apply applies envs to p in batches of batchSize, each in a transaction of its own.
func Apply(t testing.TB, pool *pgxpool.Pool, p projections.Projection, envs []eventlog.Envelope, batchSize int) {
	t.Helper()
	ctx := context.Background()
	for start := 0; start < len(envs); start += batchSize {
		batch := envs[start:min(start+batchSize, len(envs))]
		decoded, err := projections.Decode(p, batch)
		if err != nil {
			t.Fatal(err)
		}
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			writes := &pgx.Batch{}
			if err := p.Apply(ctx, tx, decoded, writes); err != nil {
				return err
			}
			return tx.SendBatch(ctx, writes).Close()
		})
		if err != nil {
			t.Fatalf("apply %s, events %d to %d: %v", p.Name(), start, start+len(batch)-1, err)
		}
	}
}

// Write appends envs to the log, each event where its envelope says (ids, types and
// payloads kept; the log gives positions), for tests of rebuild and replay, which
// read the log.
func Write(t testing.TB, log eventlog.Store, envs []eventlog.Envelope) {
	t.Helper()
	var appends []eventlog.Append
	for _, e := range envs {
		if n := len(appends); n == 0 || appends[n-1].StreamID != e.StreamID {
			appends = append(appends, eventlog.Append{StreamID: e.StreamID, Expected: eventlog.Any()})
		}
		a := &appends[len(appends)-1]
		a.Events = append(a.Events, eventlog.EventData{ID: e.ID, Type: e.Type, SchemaVersion: e.SchemaVersion, Data: e.Data, Metadata: e.Metadata})
	}
	if _, err := log.Append(context.Background(), appends...); err != nil {
		t.Fatal(err)
	}
}

// Run applies p up to the log's head in batches of batchSize, the way the engine's
// runner does (checkpoint in the same transaction), without the engine's runners.
func Run(t testing.TB, pool *pgxpool.Pool, log eventlog.Store, p projections.Projection, batchSize int) {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, version) VALUES ($1, $2) ON CONFLICT DO NOTHING`, p.Name(), p.Version()); err != nil {
		t.Fatal(err)
	}
	head, err := log.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	engine := projections.NewEngine(pool, log, slog.New(slog.DiscardHandler), projections.Options{}, []projections.Projection{p})
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := projections.Step(ctx, pool, log, p, batchSize)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			continue
		}
		// Nothing readable: done, unless a transaction elsewhere in the cluster still
		// hides committed events from readers (gap safety); then wait for it.
		cp, err := engine.Checkpoint(ctx, p.Name())
		if err != nil {
			t.Fatal(err)
		}
		if !cp.Position.Less(head) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("projection %s stuck at %v, head %v", p.Name(), cp.Position, head)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Rows dumps tables of schema as sorted text, for comparing read models.
func Rows(t testing.TB, pool *pgxpool.Pool, schema string, tables ...string) string {
	t.Helper()
	var out string
	for _, table := range tables {
		var rows string
		err := pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT coalesce(string_agg(t::text, E'\n' ORDER BY t::text), '') FROM %s.%s t`,
			schema, table)).Scan(&rows)
		if err != nil {
			t.Fatal(err)
		}
		out += "== " + table + "\n" + rows + "\n"
	}
	return out
}
