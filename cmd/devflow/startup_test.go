package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/datakeys"
	"github.com/devflow/backend/infra/pgharness"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
)

// TestServe_FailedStartPrintsOneLine: whatever stops the service from starting, the
// operator gets one line on stderr saying what failed and what to do, and exit code 1;
// never fx's account of the object graph.
func TestServe_FailedStartPrintsOneLine(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)

	unmigratable := testdb.New(t) // goose's table gone: migration 1 meets its own tables
	if _, err := connect(t, unmigratable).Exec(context.Background(), "DROP TABLE goose_db_version"); err != nil {
		t.Fatal(err)
	}

	// A data directory holding something else: the private cluster refuses it. Not a
	// t.TempDir (0700): as root the cluster would move out of it and start.
	notACluster, err := os.MkdirTemp("", "devflow-not-a-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(notACluster) })
	if err := os.Chmod(notACluster, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(notACluster, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}

	db := "DATABASE_URL=" + testdb.New(t)
	encrypted := "DATABASE_URL=" + encryptedDB(t, firstDataKey)
	for _, c := range []struct {
		name string
		env  []string
		says string // a word of what failed or what to do
	}{
		{"no JWT_SECRET", []string{db}, "JWT_SECRET"},
		{"DATABASE_URL does not parse", []string{"JWT_SECRET=x", "DATABASE_URL=postgres://u:pw@127.0.0.1:%zz/x"}, "DATABASE_URL"},
		{"database unreachable", []string{"JWT_SECRET=x", "DATABASE_URL=postgres://u@127.0.0.1:" + strconv.Itoa(freePort(t)) + "/x"}, "DATABASE_URL"},
		{"migration fails", []string{"JWT_SECRET=x", "DATABASE_URL=" + unmigratable}, "migrate"},
		{"port in use", []string{"JWT_SECRET=x", db, "PORT=" + takenPort}, "PORT"},
		{"private cluster refuses its folder", []string{"JWT_SECRET=x", "DEVFLOW_DATA_DIR=" + notACluster}, "refusing to touch it"},
		{"wrong master key", []string{"JWT_SECRET=x", encrypted, "DATA_KEY=" + secondDataKey}, "not the one the data keys were wrapped with"},
		{"no master key, encrypted payloads", []string{"JWT_SECRET=x", encrypted}, "DATA_KEY"},
		{"no master key in production", []string{"JWT_SECRET=x", db, "APP_ENV=production"}, "DATA_KEY is required"},
		{"master key not base64 of 32 bytes", []string{"JWT_SECRET=x", db, "DATA_KEY=short"}, "DATA_KEY"},
	} {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := run(t, t.TempDir(), environ(append([]string{"INSIGHTS_ENABLED=false"}, c.env...)...), "serve")
			t.Log(stderr)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "devflow: ") || !strings.Contains(lines[0], c.says) {
				t.Errorf("stderr is not one line saying %q:\n%s", c.says, stderr)
			}
			if strings.Contains(stdout+stderr, "[Fx]") || strings.Contains(stdout, `"level":"ERROR"`) {
				t.Errorf("fx's event log is printed:\n%s%s", stdout, stderr)
			}
			if strings.Contains(stdout+stderr, "u:pw@") {
				t.Errorf("the database password is printed:\n%s%s", stdout, stderr)
			}
		})
	}
}

// TestServe_AsRootFromClosedFolder is `git clone … /root/devflow && make run` as root:
// the project is under a 0700 folder the postgres user cannot enter, yet the private
// cluster starts (in a folder of its own, which the log names) and the API serves.
func TestServe_AsRootFromClosedFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: the private cluster runs as this user, who can reach its own folders")
	}
	t.Parallel()
	closed := t.TempDir()
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	project := filepath.Join(closed, "devflow")
	if err := os.Mkdir(project, 0o755); err != nil {
		t.Fatal(err)
	}
	clusterDir, moved, err := pgharness.ResolveDataDir(filepath.Join(project, pgharness.DefaultDataDir))
	if err != nil || !moved {
		t.Fatalf("ResolveDataDir: %s, moved %v, %v", clusterDir, moved, err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(clusterDir)) }) // after the server's cleanup

	s := newServer(t, project, "JWT_SECRET=x", "INSIGHTS_ENABLED=false")
	s.start() // waits for /health 200
	s.stop()
	log, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), `"cluster_dir":"`+clusterDir+`"`) {
		t.Fatalf("the log does not say the cluster is in %s:\n%s", clusterDir, log)
	}
	if _, err := os.Stat(filepath.Join(clusterDir, "PG_VERSION")); err != nil {
		t.Fatalf("no cluster in %s: %v", clusterDir, err)
	}
}

// Two master keys (base64 of 32 bytes).
const (
	firstDataKey  = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
	secondDataKey = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
)

// encryptedDB is a migrated database holding one user's data key, wrapped by master.
func encryptedDB(t *testing.T, master string) string {
	t.Helper()
	ctx := context.Background()
	url := testdb.New(t)
	if err := postgres.Migrate(ctx, url, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	key, err := datakeys.ParseMasterKey(master)
	if err != nil {
		t.Fatal(err)
	}
	e := eventlog.EventData{ID: ids.New(), Type: "TextChanged", Data: []byte(`{}`), Metadata: eventlog.Metadata{UserID: ids.New().String()}}
	if _, err := datakeys.NewKeyring(pool, key).Seal(ctx, e); err != nil {
		t.Fatal(err)
	}
	return url
}
