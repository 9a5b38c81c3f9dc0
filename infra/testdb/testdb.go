// Package testdb gives tests fresh, fully migrated PostgreSQL databases.
//
// In a package's TestMain call os.Exit(testdb.Main(m)); then in a test testdb.New(t)
// returns the URL of a new database copied from a template that Main migrated once for
// the process, and testdb.Pool(t) a pool on one. Both are dropped when the test ends,
// so tests never see each other's rows and may run in parallel.
//
// The server is TEST_DATABASE_URL when that is set (a URL of any database on a server
// where its user may CREATE DATABASE). Otherwise it is a private, ephemeral PostgreSQL
// cluster shared by all test processes of one `go test` run (see shared.go).
//
// Databases are isolated, the server is not: transaction ids, and so the
// pg_snapshot_xmin horizon the event log reads up to, are cluster-wide. A transaction
// open in another test's database holds that horizon back for a moment, so code that
// reads the log "to the end" must wait for the head position, not stop at the first
// empty read.
package testdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/infra/postgres"
)

// EnvURL names the variable that points the tests at an existing server.
const EnvURL = "TEST_DATABASE_URL"

// inheritedEnv carries this process's server to the test processes it starts (the
// workers of go test -fuzz), so they use it rather than each starting a cluster of
// their own, whose owner would keep the workers' pipes to this process open.
const inheritedEnv = "DEVFLOW_TESTDB_INHERITED_URL"

// namePrefix starts every database testdb creates; the creation time in the name lets
// a later run drop what a crashed run left on a shared server.
const namePrefix = "devflowtest_"

// staleAfter is the age past which another run's databases count as leftovers; far
// longer than any test run.
const staleAfter = 6 * time.Hour

// server is this process's database server, set up by Main.
var server struct {
	admin    *pgxpool.Pool // maintenance connections (CREATE/DROP DATABASE)
	baseURL  string        // a URL on the server; withDatabase swaps the database name
	prefix   string        // devflowtest_<unix>_<pid>_: unique to this process
	template string
	strategy string // CREATE DATABASE option
	seq      atomic.Int64
}

// Main prepares the database server and the migrated template, runs the tests and
// cleans up. Call it from TestMain: os.Exit(testdb.Main(m)).
func Main(m *testing.M) int {
	if dir := os.Getenv(ownerEnv); dir != "" {
		// This process is the shared cluster's owner, not a test run (see shared.go).
		return runOwner(dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	baseURL, release, err := connectServer(ctx)
	if err == nil {
		defer release()
		err = os.Setenv(inheritedEnv, baseURL)
	}
	if err == nil {
		err = setUp(ctx, baseURL)
	}
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testdb: %v\n", err)
		return 1
	}
	defer tearDown()
	return m.Run()
}

// New creates a fresh database from the migrated template, drops it when the test ends,
// and returns its URL.
func New(t testing.TB) string {
	t.Helper()
	if server.admin == nil {
		t.Fatal("testdb: the package's TestMain must call os.Exit(testdb.Main(m))")
	}
	name := server.prefix + strconv.FormatInt(server.seq.Add(1), 10)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sql := "CREATE DATABASE " + ident(name) + " TEMPLATE " + ident(server.template) + server.strategy
	if _, err := server.admin.Exec(ctx, sql); err != nil {
		t.Fatalf("testdb: %s: %v", sql, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := dropDatabase(ctx, name); err != nil {
			t.Errorf("testdb: %v", err)
		}
	})
	u, err := withDatabase(server.baseURL, name)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	return u
}

// Pool returns a pool on a fresh database (New), closed when the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	// postgres.NewPool, as the service uses: the projection engine alone holds several
	// connections (leader locks, LISTEN, a batch and its read).
	pool, err := postgres.NewPool(context.Background(), New(t))
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(pool.Close) // registered after New's, so it runs before the drop
	return pool
}

// connectServer returns a URL on the server to use and a function releasing it.
func connectServer(ctx context.Context) (string, func(), error) {
	for _, name := range []string{EnvURL, inheritedEnv} {
		if u := os.Getenv(name); u != "" {
			return u, func() {}, nil
		}
	}
	return attachShared(ctx)
}

func setUp(ctx context.Context, baseURL string) error {
	cfg, err := pgxpool.ParseConfig(baseURL)
	if err != nil {
		return fmt.Errorf("%s: %w", EnvURL, err)
	}
	cfg.MaxConns = 4
	admin, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	if err := admin.Ping(ctx); err != nil {
		admin.Close()
		return fmt.Errorf("connect to the test database server: %w", err)
	}
	server.admin = admin
	server.baseURL = baseURL
	server.prefix = fmt.Sprintf("%s%d_%d_", namePrefix, time.Now().Unix(), os.Getpid())
	server.template = server.prefix + "tpl"

	// From PostgreSQL 15 CREATE DATABASE writes the whole copy to the WAL unless told
	// to copy files; copying files makes a fresh test database about 3x faster.
	var version int
	if err := admin.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return err
	}
	if version >= 150000 {
		server.strategy = " STRATEGY FILE_COPY"
	}

	dropStale(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident(server.template)); err != nil {
		return fmt.Errorf("create the template database: %w", err)
	}
	tplURL, err := withDatabase(baseURL, server.template)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := postgres.Migrate(ctx, tplURL, logger); err != nil {
		return fmt.Errorf("migrate the template database: %w", err)
	}
	// A template must have no sessions while it is copied: end any the migration left
	// behind, and refuse new ones.
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident(server.template)+" ALLOW_CONNECTIONS false"); err != nil {
		return err
	}
	_, err = admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", server.template)
	return err
}

func tearDown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dropDatabase(ctx, server.template); err != nil {
		fmt.Fprintf(os.Stderr, "testdb: %v\n", err)
	}
	server.admin.Close()
	server.admin = nil
}

func dropDatabase(ctx context.Context, name string) error {
	if _, err := server.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// dropStale drops databases that runs killed before their cleanup left behind on this
// server. Best effort: a failure only leaves them for the next run.
func dropStale(ctx context.Context) {
	rows, err := server.admin.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, namePrefix)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		created, _, _ := strings.Cut(strings.TrimPrefix(name, namePrefix), "_")
		unix, err := strconv.ParseInt(created, 10, 64)
		if err == nil && time.Since(time.Unix(unix, 0)) > staleAfter {
			_ = dropDatabase(ctx, name)
		}
	}
}

// withDatabase returns base pointed at database name; base is a URL or a keyword/value
// connection string (where a later dbname wins).
func withDatabase(base, name string) (string, error) {
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		return base + " dbname=" + name, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", errors.New("the database URL does not parse") // the URL may hold a password: do not echo it
	}
	u.Path, u.RawPath = "/"+name, ""
	return u.String(), nil
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }
