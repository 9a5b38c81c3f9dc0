package telemetry_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	cmdtelemetry "github.com/devflow/backend/commands/telemetry"
	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/httpapi/telemetryapi"
	"github.com/devflow/backend/infra/httpapi/telemetryapi/telemetryapitest"
	"github.com/devflow/backend/infra/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// The store for event logs other than PostgreSQL's (EventStoreDB) appends through the
// generic port and writes the quarantine afterwards; here it runs over the PostgreSQL
// log's Append, which takes the same path.
func TestIngest_OverAGenericEventLog(t *testing.T) {
	ctx := context.Background()
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	schemas, err := httpapi.RequestSchemas()
	if err != nil {
		t.Fatal(err)
	}
	h := cmdtelemetry.NewIngestHandler(cmdtelemetry.NewLogStore(e.Pool, e.Store), telemetryapi.Validator{Schemas: schemas}, cmdtelemetry.Quarantine, nil)
	alice, bob := e.NewUser(), e.NewUser()
	s := ids.New().String()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	bad := tt.TerminalOpen(s, at, true)
	delete(bad["terminal"].(map[string]any), "name")
	body := tt.Payload(tt.FileSave(s, at, "a.ts", 1), tt.EditorSwitch(s, at, "a.ts", "b.ts", true), bad)

	for round, wantDup := range []int{0, 2} {
		res, err := h.Handle(ctx, cmdtelemetry.Caller{User: alice.ID}, body)
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted != 2 || res.Duplicates != wantDup || res.RejectedCount != 1 || len(res.Rejected) != 1 {
			t.Fatalf("round %d: %+v", round, res)
		}
	}
	if n := e.Count(`SELECT count(*) FROM events WHERE stream_id = $1`, telemetry.StreamID(ids.MustParse(s))); n != 3 {
		t.Fatalf("%d events stored, want SessionStarted + 2", n)
	}
	if n := e.Count(`SELECT count(*) FROM telemetry_quarantine`); n != 1 {
		t.Fatalf("%d quarantine rows, want 1", n)
	}

	if _, err := h.Handle(ctx, cmdtelemetry.Caller{User: bob.ID}, body); !errors.Is(err, telemetry.ErrSessionOwnedByAnotherUser) {
		t.Fatalf("bob on alice's session: %v", err)
	}
	if _, err := h.Handle(ctx, cmdtelemetry.Caller{User: ids.New()}, body); !errors.Is(err, accounts.ErrUserNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	var invalid *cmdtelemetry.ValidationError
	if _, err := h.Handle(ctx, cmdtelemetry.Caller{User: alice.ID}, []byte(`{"events":[]}`)); !errors.As(err, &invalid) || len(invalid.Details) == 0 {
		t.Fatalf("bad envelope: %v", err)
	}
	if _, err := h.Handle(ctx, cmdtelemetry.Caller{User: alice.ID}, []byte(`{`)); !errors.Is(err, cmdtelemetry.ErrMalformed) {
		t.Fatalf("malformed: %v", err)
	}
}
