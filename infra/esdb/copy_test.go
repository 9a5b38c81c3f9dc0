package esdb_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
)

// logOf renders the events of the streams starting with prefix, in log order, without
// positions and recorded-at (the two things a copy may change).
func logOf(t *testing.T, store eventlog.Store, prefix string) string {
	t.Helper()
	var b strings.Builder
	after := eventlog.Start
	for {
		page, err := store.ReadAll(context.Background(), after, 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return b.String()
		}
		for _, e := range page {
			after = e.Position
			if !strings.HasPrefix(e.StreamID, prefix) {
				continue
			}
			b.WriteString(strings.Join([]string{e.ID.String(), e.StreamID, strconv.FormatUint(e.StreamVersion, 10), e.Type, string(e.Data),
				e.Metadata.UserID, e.Metadata.RequestID, e.Metadata.ReceivedAt.String()}, " ") + "\n")
		}
	}
}

func TestCopy_MovesAPostgresLogAndResumes(t *testing.T) {
	servers(t, testCopyResumes)
}

func testCopyResumes(t *testing.T, url func(t *testing.T) string) {
	ctx := context.Background()
	source := postgres.NewEventStore(testdb.Pool(t))
	t.Cleanup(source.Close)
	prefix, calls := foldingCalls(8)
	sc := scenario{calls: calls}
	sc.apply(t, source, 0, 5)
	target := open(t, url(t))

	stats, err := target.Copy(ctx, source, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := logOf(t, source, prefix)
	if got := logOf(t, target, prefix); got != want {
		t.Fatalf("copied log:\n%s\nwant:\n%s", got, want)
	}
	total := int64(strings.Count(want, "\n"))
	if stats.Copied != total || stats.Present != 0 {
		t.Fatalf("first copy = %+v, want %d copied", stats, total)
	}

	// Run again with other batch boundaries after the source grew: only the new part is written.
	sc.apply(t, source, 5, 8)
	stats, err = target.Copy(ctx, source, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = logOf(t, source, prefix)
	if got := logOf(t, target, prefix); got != want {
		t.Fatalf("log after resumed copy:\n%s\nwant:\n%s", got, want)
	}
	if stats.Present != total || stats.Copied != int64(strings.Count(want, "\n"))-total {
		t.Fatalf("resumed copy = %+v, want %d present and the rest copied", stats, total)
	}
}

func TestCopy_RefusesATargetWithAnotherHistory(t *testing.T) {
	servers(t, testCopyRefuses)
}

func testCopyRefuses(t *testing.T, url func(t *testing.T) string) {
	ctx := context.Background()
	source := postgres.NewEventStore(testdb.Pool(t))
	t.Cleanup(source.Close)
	prefix, calls := foldingCalls(2)
	scenario{calls: calls}.apply(t, source, 0, 2)
	target := open(t, url(t))
	if _, err := target.Append(ctx, eventlog.Append{StreamID: prefix + "s1", Expected: eventlog.NoStream(), Events: one("Other")}); err != nil {
		t.Fatal(err)
	}
	if _, err := target.Copy(ctx, source, 100, nil); err == nil || !strings.Contains(err.Error(), "another event") {
		t.Fatalf("copy onto a diverging target: err = %v", err)
	}
}
