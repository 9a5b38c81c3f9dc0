package telemetry_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	cmdtelemetry "github.com/devflow/backend/commands/telemetry"
	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// Both stores keep the ingest's rules: the PostgreSQL one commits events and quarantine
// in one transaction; the one for other event logs (EventStoreDB) appends through the
// generic port and writes the quarantine afterwards (here over the PostgreSQL log's
// Append, which takes the same path).
func TestIngest_KeepsTheRulesOnEitherStore(t *testing.T) {
	stores := map[string]func(*pgxpool.Pool, *postgres.EventStore) cmdtelemetry.Store{
		"postgres": func(p *pgxpool.Pool, log *postgres.EventStore) cmdtelemetry.Store {
			return postgres.NewTelemetryStore(p, log)
		},
		"generic": func(p *pgxpool.Pool, log *postgres.EventStore) cmdtelemetry.Store {
			return postgres.NewTelemetryLogStore(p, log)
		},
	}
	for name, store := range stores {
		t.Run(name, func(t *testing.T) { testIngestRules(t, store) })
	}
}

func testIngestRules(t *testing.T, store func(*pgxpool.Pool, *postgres.EventStore) cmdtelemetry.Store) {
	ctx := context.Background()
	pool := testdb.Pool(t)
	log := postgres.NewEventStore(pool)
	t.Cleanup(log.Close)
	schemas, err := httpapi.RequestSchemas()
	if err != nil {
		t.Fatal(err)
	}
	h := cmdtelemetry.NewIngestHandler(store(pool, log), schemas, cmdtelemetry.Quarantine, nil)
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	newUser := func() ids.ID {
		t.Helper()
		id := ids.New()
		if _, err := pool.Exec(ctx, `INSERT INTO users (id, username, email, provider, provider_user_id) VALUES ($1, $2, $2, 'password', $2)`,
			id, id.String()); err != nil {
			t.Fatal(err)
		}
		return id
	}
	alice, bob := newUser(), newUser()
	s := ids.New().String()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	bad := tt.TerminalOpen(s, at, true)
	delete(bad["terminal"].(map[string]any), "name")
	body := tt.Payload(tt.FileSave(s, at, "a.ts", 1), tt.EditorSwitch(s, at, "a.ts", "b.ts", true), bad)

	for round, wantDup := range []int{0, 2} {
		res, err := h.Handle(ctx, cmdtelemetry.Caller{User: alice}, body)
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted != 2 || res.Duplicates != wantDup || res.RejectedCount != 1 || len(res.Rejected) != 1 {
			t.Fatalf("round %d: %+v", round, res)
		}
	}
	if n := count(`SELECT count(*) FROM events WHERE stream_id = $1`, telemetry.StreamID(ids.MustParse(s))); n != 3 {
		t.Fatalf("%d events stored, want SessionStarted + 2", n)
	}
	if n := count(`SELECT count(*) FROM telemetry_quarantine`); n != 1 {
		t.Fatalf("%d quarantine rows, want 1", n)
	}

	if _, err := h.Handle(ctx, cmdtelemetry.Caller{User: bob}, body); !errors.Is(err, telemetry.ErrSessionOwnedByAnotherUser) {
		t.Fatalf("bob on alice's session: %v", err)
	}
	if _, err := h.Handle(ctx, cmdtelemetry.Caller{User: ids.New()}, body); !errors.Is(err, accounts.ErrUserNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	var invalid *cmdtelemetry.ValidationError
	if _, err := h.Handle(ctx, cmdtelemetry.Caller{User: alice}, []byte(`{"events":[]}`)); !errors.As(err, &invalid) || len(invalid.Details) == 0 {
		t.Fatalf("bad envelope: %v", err)
	}
	if _, err := h.Handle(ctx, cmdtelemetry.Caller{User: alice}, []byte(`{`)); !errors.Is(err, cmdtelemetry.ErrMalformed) {
		t.Fatalf("malformed: %v", err)
	}
}
