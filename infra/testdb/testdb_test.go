package testdb

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) {
	os.Exit(Main(m))
}

const (
	helperEnv  = "DEVFLOW_TESTDB_HELPER"
	barrierEnv = "DEVFLOW_TESTDB_HELPER_BARRIER" // a folder where two helpers meet
)

// TestHelperProcess is a test process of its own for the tests below: it takes a
// database and reports where it got it.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("run by the tests that start test processes")
	}
	u := New(t)
	if barrier := os.Getenv(barrierEnv); barrier != "" {
		// Both helpers hold the cluster at once, so it cannot go idle between them.
		if err := os.WriteFile(filepath.Join(barrier, fmt.Sprint(os.Getpid())), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the other helper", func() bool {
			entries, _ := os.ReadDir(barrier)
			return len(entries) >= 2
		})
	}
	conn := connect(t, u)
	if n := count(t, conn, "SELECT count(*) FROM goose_db_version WHERE version_id > 0"); n == 0 {
		t.Fatal("the database is not migrated")
	}
	fmt.Printf("SERVER=%s\nPREFIX=%s\nDIR=%s\n", hostPort(t, u), server.prefix,
		sharedDirPrefix()+procOf(os.Getppid()).String())
}

func TestNew_GivesMigratedIsolatedDatabases(t *testing.T) {
	t.Parallel()
	a, b := connect(t, New(t)), connect(t, New(t))
	for _, conn := range []*pgx.Conn{a, b} {
		if n := count(t, conn, "SELECT count(*) FROM goose_db_version WHERE version_id > 0"); n == 0 {
			t.Fatal("no migration applied")
		}
	}
	if _, err := a.Exec(context.Background(), "CREATE TABLE only_in_a (v int); INSERT INTO only_in_a VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, b, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'"); n != 0 {
		t.Fatal("a table made in one test database shows in another")
	}
}

func TestPool_ConnectsToFreshDatabase(t *testing.T) {
	t.Parallel()
	pool := Pool(t)
	var name string
	if err := pool.QueryRow(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, server.prefix) {
		t.Fatalf("pool is on %q, not a testdb database", name)
	}
}

func TestNew_DropsDatabaseWhenTestEnds(t *testing.T) {
	var name string
	t.Run("user", func(t *testing.T) {
		conn, err := pgx.Connect(context.Background(), New(t))
		if err != nil {
			t.Fatal(err)
		}
		// conn stays open past the test: the drop must end the session itself.
		if err := conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
	})
	if databaseExists(t, name) {
		t.Fatalf("database %s still exists after its test ended", name)
	}
}

func TestDropStale_DropsOnlyOldLeftovers(t *testing.T) {
	ctx := context.Background()
	old := fmt.Sprintf("%s%d_1_1", namePrefix, time.Now().Add(-2*staleAfter).Unix())
	recent := fmt.Sprintf("%s%d_1_1", namePrefix, time.Now().Unix())
	for _, name := range []string{old, recent} {
		if _, err := server.admin.Exec(ctx, "CREATE DATABASE "+ident(name)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = dropDatabase(ctx, recent) })
	dropStale(ctx)
	if databaseExists(t, old) {
		t.Error("a leftover older than staleAfter was kept")
	}
	if !databaseExists(t, recent) {
		t.Error("a recent database (maybe another run's) was dropped")
	}
}

func TestShared_TestProcessesOfOneRunShareOneCluster(t *testing.T) {
	// The helpers' parent, and so their "go command", is this process.
	dir := sharedDirPrefix() + procOf(os.Getpid()).String()
	t.Cleanup(func() { os.RemoveAll(dir) })
	env := []string{idleEnv + "=1s", barrierEnv + "=" + t.TempDir()}
	outs := make([]string, 2)
	var wg sync.WaitGroup
	for i := range outs {
		wg.Go(func() { outs[i] = runHelper(t, env...) })
	}
	wg.Wait()
	a, b := field(t, outs[0], "SERVER"), field(t, outs[1], "SERVER")
	if a != b {
		t.Fatalf("two test processes of one run got different servers: %s and %s", a, b)
	}
	if field(t, outs[0], "DIR") != dir {
		t.Fatalf("cluster folder %s, want %s", field(t, outs[0], "DIR"), dir)
	}
	// Unused for longer than the idle time: the owner stops and deletes the cluster.
	waitFor(t, "the idle cluster's removal", func() bool {
		_, err := os.Stat(filepath.Join(dir, "data"))
		return os.IsNotExist(err)
	})
	if conn, err := pgx.Connect(context.Background(), "postgres://postgres@"+a+"/postgres"); err == nil {
		conn.Close(context.Background())
		t.Fatal("the idle cluster still accepts connections")
	}
}

func TestShared_RemovedWhenGoCommandExits(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// sh stands in for the go command; "; true" keeps sh from exec'ing the helper.
	cmd := exec.Command("sh", "-c", `"$0" -test.run='^TestHelperProcess$'; true`, exe)
	cmd.Env = helperEnviron(idleEnv + "=1h")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	dir := field(t, string(out), "DIR")
	t.Cleanup(func() { os.RemoveAll(dir) })
	waitFor(t, "the cluster folder's removal after its go command exited", func() bool {
		_, err := os.Stat(dir)
		return os.IsNotExist(err)
	})
}

func TestExternalServer_UsesItAndCleansUp(t *testing.T) {
	out := runHelper(t, EnvURL+"="+server.baseURL)
	if got, want := field(t, out, "SERVER"), hostPort(t, server.baseURL); got != want {
		t.Fatalf("helper used %s, want the TEST_DATABASE_URL server %s", got, want)
	}
	prefix := field(t, out, "PREFIX")
	if prefix == server.prefix {
		t.Fatal("two test processes use the same database names")
	}
	var left int
	if err := server.admin.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_database WHERE starts_with(datname, $1)", prefix).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d databases of the finished test process are left", left)
	}
}

func TestWithDatabase(t *testing.T) {
	for _, c := range []struct{ base, want string }{
		{"postgres://u:p@h:5/old?sslmode=disable", "postgres://u:p@h:5/new?sslmode=disable"},
		{"postgresql://h/", "postgresql://h/new"},
		{"host=h dbname=old", "host=h dbname=old dbname=new"},
	} {
		if got, err := withDatabase(c.base, "new"); err != nil || got != c.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", c.base, got, err, c.want)
		}
	}
}

// runHelper runs TestHelperProcess in a child process and returns its output.
func runHelper(t *testing.T, env ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = helperEnviron(env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("helper: %v\n%s", err, out)
	}
	return string(out)
}

// helperEnviron is this process's environment for a helper: without
// TEST_DATABASE_URL (unless env sets it) or the server this process passes on, with env
// added.
func helperEnviron(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvURL+"=") && !strings.HasPrefix(kv, inheritedEnv+"=") {
			out = append(out, kv)
		}
	}
	return append(append(out, helperEnv+"=1"), env...)
}

func field(t *testing.T, out, key string) string {
	t.Helper()
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+"="); ok {
			return v
		}
	}
	t.Fatalf("no %s in helper output:\n%s", key, out)
	return ""
}

func hostPort(t *testing.T, u string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
}

func connect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func count(t *testing.T, conn *pgx.Conn, sql string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	var exists bool
	if err := server.admin.QueryRow(context.Background(),
		"SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	return exists
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}
