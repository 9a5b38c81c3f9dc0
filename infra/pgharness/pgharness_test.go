package pgharness

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// testDir returns a folder the cluster's user can reach even when the tests run as
// root (t.TempDir is mode 0700, closed to the postgres user).
func testDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgharness-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func start(t *testing.T, dataDir string) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{DataDir: dataDir, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return c
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func exec1(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestStart_KeepsDataAcrossRestarts(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(testDir(t), "pgdata")
	c := start(t, dataDir)
	if c.Port() == 0 {
		t.Fatal("Port() = 0")
	}
	want := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port())
	if got := c.URL("postgres"); got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
	conn := connect(t, c.URL("postgres"))
	exec1(t, conn, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before restart')")
	if enc := queryString(t, conn, "SHOW server_encoding"); enc != "UTF8" {
		t.Errorf("server_encoding = %s, want UTF8", enc)
	}
	if listen := queryString(t, conn, "SHOW listen_addresses"); listen != "127.0.0.1" {
		t.Errorf("listen_addresses = %s, want 127.0.0.1", listen)
	}
	conn.Close(context.Background())
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	c2 := start(t, dataDir)
	conn2 := connect(t, c2.URL("postgres"))
	if v := queryString(t, conn2, "SELECT v FROM kept"); v != "before restart" {
		t.Fatalf("after restart: %q", v)
	}
}

func TestStart_RefusesDataDirInUse(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(testDir(t), "pgdata")
	start(t, dataDir)
	_, err := Start(context.Background(), Options{DataDir: dataDir, Ephemeral: true})
	if !errors.Is(err, ErrDataDirInUse) {
		t.Fatalf("second Start on the same folder: %v, want ErrDataDirInUse", err)
	}
}

func TestStart_RestartsServerLeftRunningByKilledRun(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(testDir(t), "pgdata")
	orphan := start(t, dataDir)
	before := queryString(t, connect(t, orphan.URL("postgres")), "SELECT pg_postmaster_start_time()::text")
	orphan.lock.Close() // what the kernel does when the owning process is killed
	orphan.lock = nil

	c := start(t, dataDir)
	after := queryString(t, connect(t, c.URL("postgres")), "SELECT pg_postmaster_start_time()::text")
	if after == before {
		t.Fatal("the server left running was reused, not restarted with this run's settings")
	}
}

func TestStart_IgnoresStalePIDFile(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(testDir(t), "pgdata")
	c := start(t, dataDir)
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{dead.Process.Pid, os.Getpid()} { // a dead pid, and a pid reused by another process
		stale := fmt.Sprintf("%d\n%s\n1700000000\n5432\n\n127.0.0.1\n  5432001  0\nready   \n", pid, dataDir)
		if err := os.WriteFile(filepath.Join(dataDir, "postmaster.pid"), []byte(stale), 0o600); err != nil {
			t.Fatal(err)
		}
		c := start(t, dataDir)
		queryString(t, connect(t, c.URL("postgres")), "SELECT 'up'")
		if err := c.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStart_RefusesFolderWithOtherContent(t *testing.T) {
	dataDir := filepath.Join(testDir(t), "pgdata")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(context.Background(), Options{DataDir: dataDir, Ephemeral: true}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Start on a folder with other files: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dataDir, "notes.txt")); string(b) != "mine" {
		t.Fatal("the folder's files were touched")
	}
}

func TestCreateDatabase_CopiesTemplate(t *testing.T) {
	t.Parallel()
	c := start(t, filepath.Join(testDir(t), "pgdata"))
	ctx := context.Background()
	if err := c.CreateDatabase(ctx, "tpl", ""); err != nil {
		t.Fatal(err)
	}
	tplConn := connect(t, c.URL("tpl"))
	exec1(t, tplConn, "CREATE TABLE from_template (id int)")
	tplConn.Close(ctx) // a template must have no open sessions
	if err := c.CreateDatabase(ctx, "Copy-1", "tpl"); err != nil {
		t.Fatal(err)
	}
	copyConn := connect(t, c.URL("Copy-1"))
	if n := queryString(t, copyConn, "SELECT count(*)::text FROM from_template"); n != "0" {
		t.Fatalf("count = %s", n)
	}
	if name := queryString(t, copyConn, "SELECT current_database()"); name != "Copy-1" {
		t.Fatalf("connected to %q", name)
	}
	err := c.CreateDatabase(ctx, "tpl", "")
	if !errors.Is(err, ErrDatabaseExists) {
		t.Fatalf("creating an existing database: %v, want ErrDatabaseExists", err)
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != "42P04" {
		t.Fatalf("the server's error is not kept: %v", err)
	}
}

func TestFindBinaries_MissingSaysHowToInstall(t *testing.T) {
	_, err := findBinaries(t.TempDir(), t.TempDir())
	if !errors.Is(err, ErrBinariesMissing) {
		t.Fatalf("err = %v, want ErrBinariesMissing", err)
	}
	if !strings.Contains(err.Error(), "apt-get update && apt-get install -y postgresql") {
		t.Fatalf("message does not say how to install: %v", err)
	}
}

func TestFindBinaries_PicksHighestCompleteVersion(t *testing.T) {
	root := t.TempDir()
	install := func(version string, programs ...string) {
		dir := filepath.Join(root, version, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range programs {
			if err := os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	install("9.6", "initdb", "pg_ctl", "postgres")
	install("15", "initdb", "pg_ctl", "postgres")
	install("16", "initdb", "pg_ctl") // incomplete
	b, err := findBinaries("", root)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "15", "bin", "initdb"); b.initdb != want {
		t.Fatalf("initdb = %s, want %s", b.initdb, want)
	}
}

func TestMajorVersion(t *testing.T) {
	for in, want := range map[string]string{
		"postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n": "15",
		"postgres (PostgreSQL) 17beta1":                          "17",
		"postgres (PostgreSQL) 9.6.24":                           "9.6",
	} {
		if got, err := majorVersion(in); err != nil || got != want {
			t.Errorf("majorVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestStart_AsRootKeepsClusterOfUnreachableDataDirInItsOwnFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: the cluster runs as this user, who can reach the data directory")
	}
	t.Parallel()
	closed := filepath.Join(testDir(t), "closed") // like /root: mode 0700, closed to the postgres user
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	requested := filepath.Join(closed, "pgdata")
	dir, moved, err := ResolveDataDir(requested)
	if err != nil {
		t.Fatal(err)
	}
	if !moved || filepath.Dir(filepath.Dir(dir)) != fallbackRoot {
		t.Fatalf("ResolveDataDir(%s) = %s, moved %v; want a folder under %s", requested, dir, moved, fallbackRoot)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(dir)) }) // runs after the clusters' Stop

	c := start(t, requested)
	if c.DataDir() != dir {
		t.Fatalf("cluster in %s, want %s", c.DataDir(), dir)
	}
	conn := connect(t, c.URL("postgres"))
	exec1(t, conn, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('first run')")
	conn.Close(context.Background())
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(requested); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the unreachable data directory was created: %v", err)
	}

	again := start(t, requested) // the next start finds the same cluster
	if v := queryString(t, connect(t, again.URL("postgres")), "SELECT v FROM kept"); v != "first run" {
		t.Fatalf("second start: %q", v)
	}
}

func TestRestart_KeepsCommittedDataAndPort(t *testing.T) {
	t.Parallel()
	c := start(t, filepath.Join(testDir(t), "pgdata"))
	port := c.Port()
	conn := connect(t, c.URL("postgres"))
	exec1(t, conn, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('committed')")
	if err := c.Restart(context.Background(), 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), "SELECT 1"); err == nil {
		t.Fatal("a session from before the restart still works: the server was not restarted")
	}
	if c.Port() != port {
		t.Fatalf("port %d after the restart, want %d", c.Port(), port)
	}
	if v := queryString(t, connect(t, c.URL("postgres")), "SELECT v FROM kept"); v != "committed" {
		t.Fatalf("after the restart: %q", v)
	}
}

func TestGravest_PicksTheLineThatSaysWhy(t *testing.T) {
	for _, c := range []struct{ tail, pgCtl, want string }{
		{"2026-12-03 LOG:  starting PostgreSQL 15\n2026-12-03 FATAL:  could not map anonymous shared memory\n2026-12-03 LOG:  database system is shut down",
			"", "2026-12-03 FATAL:  could not map anonymous shared memory"},
		{"2026-12-03 LOG:  starting\n2026-12-03 LOG:  database system is shut down", "", "2026-12-03 LOG:  database system is shut down"},
		{"", "pg_ctl: could not start server\nExamine the log output.\n", "pg_ctl: could not start server Examine the log output."},
	} {
		if got := gravest(c.tail, c.pgCtl); got != c.want {
			t.Errorf("gravest(%q, %q) = %q, want %q", c.tail, c.pgCtl, got, c.want)
		}
	}
}
