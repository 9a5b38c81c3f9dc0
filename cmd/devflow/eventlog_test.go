package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/eventlog/eventlogtest"
	"github.com/devflow/backend/infra/esdb"
	"github.com/devflow/backend/infra/esdb/esdbtest"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// TestCopyToESDB copies a PostgreSQL log into EventStoreDB (the in-process double) with
// the CLI command, twice: the second run finds everything present and writes nothing.
func TestCopyToESDB(t *testing.T) {
	ctx := context.Background()
	url := testdb.New(t)
	t.Setenv("DATABASE_URL", url)
	pool, err := postgres.NewPool(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	source := postgres.NewEventStore(pool)
	defer source.Close() // its LISTEN connection must go back before the pool closes
	for s := 0; s < 3; s++ {
		events := make([]eventlog.EventData, 4)
		for i := range events {
			events[i] = eventlogtest.Event("TextChanged", fmt.Sprintf(`{"s":%d,"i":%d}`, s, i))
		}
		if _, err := source.Append(ctx, eventlog.Append{StreamID: fmt.Sprintf("session-%d", s), Expected: eventlog.NoStream(), Events: events}); err != nil {
			t.Fatal(err)
		}
	}
	target := esdbtest.Start(t)
	for run := 0; run < 2; run++ {
		cmd := copyToESDBCommand()
		cmd.SetArgs([]string{"--to", target})
		cmd.SetContext(ctx)
		cmd.SetErr(io.Discard)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	store, err := esdb.New(ctx, target, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	copied, err := store.ReadAll(ctx, eventlog.Start, 100)
	if err != nil {
		t.Fatal(err)
	}
	// The source's reader never passes an older open transaction on its server (other
	// test packages share it), so wait until all twelve are readable.
	var original []eventlog.Envelope
	for deadline := time.Now().Add(time.Minute); len(original) < 12 && time.Now().Before(deadline); {
		if original, err = source.ReadAll(ctx, eventlog.Start, 100); err != nil {
			t.Fatal(err)
		}
		_ = source.WaitForAppend(ctx, 20*time.Millisecond)
	}
	if len(copied) != 12 || len(original) != 12 {
		t.Fatalf("EventStoreDB holds %d events after two copies of %d", len(copied), len(original))
	}
	for i := range copied {
		if copied[i].ID != original[i].ID || copied[i].StreamID != original[i].StreamID || copied[i].StreamVersion != original[i].StreamVersion {
			t.Fatalf("event %d: copied %s %s@%d, source %s %s@%d", i, copied[i].ID, copied[i].StreamID, copied[i].StreamVersion,
				original[i].ID, original[i].StreamID, original[i].StreamVersion)
		}
	}
}
