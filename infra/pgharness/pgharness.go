// Package pgharness runs a private PostgreSQL cluster from the machine's own server
// binaries. `devflow serve` uses it when no database is configured (the data folder,
// DefaultDataDir, is kept between runs); infra/testdb uses it for tests (Ephemeral, in a
// temporary folder).
//
// The cluster listens on 127.0.0.1 only, has no Unix socket, and trusts every
// connection from this machine as the superuser "postgres": it is for development and
// tests, never for production.
package pgharness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultDataDir is where `devflow serve` keeps its private cluster, relative to the
// working directory (git-ignored).
const DefaultDataDir = ".devflow/pgdata"

// ErrDataDirInUse means another process runs a cluster from the same data directory.
var ErrDataDirInUse = errors.New("data directory is in use by another process")

// ErrDatabaseExists is CreateDatabase's error for a name already taken (the data
// directory is kept between runs, so serve meets it on every start but the first).
var ErrDatabaseExists = errors.New("database already exists")

// Options configure Start.
type Options struct {
	// DataDir is the cluster's folder: created and initialised when it holds no
	// cluster, reused otherwise.
	DataDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one (the previous run's port
	// when it is still free).
	Port int
	// Logger receives start/stop messages; nil discards them.
	Logger *slog.Logger
	// Ephemeral trades crash safety for speed (fsync, synchronous_commit and
	// full_page_writes off): a crash may corrupt the cluster. For tests only, never
	// for serve.
	Ephemeral bool
}

// Cluster is a running private PostgreSQL server.
type Cluster struct {
	dataDir   string
	port      int
	ephemeral bool
	bin       binaries
	acct      *account
	log       *slog.Logger

	mu   sync.Mutex
	lock *os.File // flock on <DataDir>.lock while this process owns the cluster; nil once stopped
}

// Start starts a cluster in opts.DataDir, initialising the folder first if it holds no
// cluster. As root, when the postgres user cannot reach opts.DataDir, the cluster is
// kept in a folder of its own under /var/lib/devflow instead (logged; DataDir says
// where). A server left running in it by a killed previous run is restarted; a folder
// in use by another live process gives ErrDataDirInUse. Missing server binaries give an
// error wrapping ErrBinariesMissing that says how to install them.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.DataDir == "" {
		return nil, errors.New("pgharness: Options.DataDir is empty")
	}
	bin, err := findBinaries(os.Getenv("PATH"), libRoot)
	if err != nil {
		return nil, err
	}
	acct, err := clusterAccount()
	if err != nil {
		return nil, err
	}
	dataDir, moved, err := resolveDataDir(acct, opts.DataDir)
	if err != nil {
		return nil, err
	}
	if moved {
		log.Info("the postgres user cannot reach the data directory, so the cluster is kept in a folder of its own",
			"data_dir", opts.DataDir, "cluster_dir", dataDir)
	}

	lock, err := lockDataDir(dataDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dataDir: dataDir, ephemeral: opts.Ephemeral, bin: bin, acct: acct, log: log, lock: lock}
	if err := c.start(ctx, opts); err != nil {
		lock.Close()
		return nil, fmt.Errorf("start PostgreSQL in %s: %w", dataDir, err)
	}
	return c, nil
}

// fallbackRoot holds, as root, the clusters whose data directory the postgres user
// cannot reach: one folder per data directory, named by a hash of its path.
const fallbackRoot = "/var/lib/devflow"

// ResolveDataDir returns the absolute folder that holds the cluster of dataDir (see
// Start), creating the folder above it; moved reports that it is not dataDir itself.
func ResolveDataDir(dataDir string) (dir string, moved bool, err error) {
	acct, err := clusterAccount()
	if err != nil {
		return "", false, err
	}
	return resolveDataDir(acct, dataDir)
}

// resolveDataDir is dataDir made absolute, symbolic links resolved (the server's working
// directory is the resolved path; clearStalePID compares against it). When acct (the
// postgres user root runs the cluster as) cannot enter a folder above it, the usual case
// of a project under a 0700 /root, it is a folder under fallbackRoot instead, the same
// for the same dataDir on every start, so the data is kept between runs.
func resolveDataDir(acct *account, dataDir string) (string, bool, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", false, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return "", false, err
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", false, err
	}
	abs = filepath.Join(parent, filepath.Base(abs))
	if acct.checkReachable(abs) == nil {
		return abs, false, nil
	}
	sum := sha256.Sum256([]byte(abs))
	home := filepath.Join(fallbackRoot, hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(home, 0o755); err != nil {
		return "", false, err
	}
	for _, dir := range []string{fallbackRoot, home} { // past the umask: the postgres user must enter them
		if err := os.Chmod(dir, 0o755); err != nil {
			return "", false, err
		}
	}
	moved := filepath.Join(home, "pgdata")
	if err := acct.checkReachable(moved); err != nil {
		return "", false, err
	}
	return moved, true, nil
}

// Port is the TCP port the server listens on (127.0.0.1).
func (c *Cluster) Port() int { return c.port }

// DataDir is the cluster's folder (absolute).
func (c *Cluster) DataDir() string { return c.dataDir }

// URL is the connection URL of database dbname as the superuser "postgres".
func (c *Cluster) URL(dbname string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, url.PathEscape(dbname))
}

// CreateDatabase creates database name as a copy of template ("" for the server's
// default, template1). An existing name gives an error wrapping ErrDatabaseExists.
func (c *Cluster) CreateDatabase(ctx context.Context, name, template string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "42P04" { // duplicate_database
			return fmt.Errorf("create database %s: %w: %w", name, ErrDatabaseExists, err)
		}
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down (fast mode: open sessions are ended) and releases the
// data directory. Stopping twice is harmless.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lock == nil {
		return nil
	}
	err := c.stopServer(ctx)
	c.lock.Close()
	c.lock = nil
	if err == nil {
		c.log.Info("PostgreSQL stopped", "data_dir", c.dataDir)
	}
	return err
}

// Restart stops the server (fast mode: open sessions are ended, every committed
// transaction is kept), leaves it down for downtime, and starts it again on the same
// port: an outage for tests of recovery.
func (c *Cluster) Restart(ctx context.Context, downtime time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lock == nil {
		return errors.New("pgharness: Restart of a stopped cluster")
	}
	if err := c.stopServer(ctx); err != nil {
		return err
	}
	select {
	case <-time.After(downtime):
	case <-ctx.Done():
		return ctx.Err()
	}
	return c.launch(ctx, c.port, c.ephemeral)
}

func (c *Cluster) start(ctx context.Context, opts Options) error {
	out, err := c.acct.run(ctx, c.bin.postgres, "--version")
	if err != nil {
		return err
	}
	major, err := majorVersion(out)
	if err != nil {
		return err
	}
	if err := c.initIfMissing(ctx, major, opts.Ephemeral); err != nil {
		return err
	}
	if c.acct != nil && !ownedBy(c.dataDir, c.acct.uid) { // e.g. created by a non-root run
		if err := c.acct.own(c.dataDir); err != nil {
			return err
		}
	}
	if err := c.clearStalePID(ctx); err != nil {
		return err
	}
	attempts := 1
	if opts.Port == 0 {
		attempts = 3 // a free port can be taken by someone else before the server binds it
	}
	for range attempts {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(c.previousPort()); err != nil {
				return err
			}
		}
		if err = c.launch(ctx, port, opts.Ephemeral); err == nil {
			c.port = port
			c.log.Info("PostgreSQL started", "data_dir", c.dataDir, "port", port, "version", strings.TrimSpace(out))
			return nil
		}
		if !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

// initIfMissing runs initdb unless dataDir already holds a cluster of this major
// version. initdb writes to a sibling folder renamed into place on success, so a killed
// initdb never leaves a half-made cluster behind.
func (c *Cluster) initIfMissing(ctx context.Context, major string, ephemeral bool) error {
	existing, err := os.ReadFile(filepath.Join(c.dataDir, "PG_VERSION"))
	if err == nil {
		if got := strings.TrimSpace(string(existing)); got != major {
			return fmt.Errorf("the data directory was made by PostgreSQL %s but the installed server is %s; "+
				"delete %s to start afresh (its data is lost)", got, major, c.dataDir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if entries, err := os.ReadDir(c.dataDir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty and holds no PostgreSQL cluster; refusing to touch it", c.dataDir)
	}

	c.log.Info("initialising a PostgreSQL cluster", "data_dir", c.dataDir)
	tmp := c.dataDir + ".initdb"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // after a successful rename there is nothing left to remove
	if err := c.acct.own(tmp); err != nil {
		return err
	}
	args := []string{"-D", tmp, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C"}
	if ephemeral {
		args = append(args, "--no-sync")
	}
	if _, err := c.acct.run(ctx, c.bin.initdb, args...); err != nil {
		return err
	}
	hba := "# Written by devflow: the server listens on 127.0.0.1 only and trusts this machine.\n" +
		"host all all 127.0.0.1/32 trust\n"
	if err := c.acct.writeFile(filepath.Join(tmp, "pg_hba.conf"), []byte(hba)); err != nil {
		return err
	}
	if err := os.Remove(c.dataDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Rename(tmp, c.dataDir)
}

// includeLine makes postgresql.conf read devflow.conf, which launch rewrites on every
// start (the port changes between runs).
const includeLine = "include 'devflow.conf'"

var portSetting = regexp.MustCompile(`(?m)^port = (\d+)$`)

// previousPort is the port of the last run, 0 when unknown.
func (c *Cluster) previousPort() int {
	b, _ := os.ReadFile(filepath.Join(c.dataDir, "devflow.conf"))
	if m := portSetting.FindSubmatch(b); m != nil {
		p, _ := strconv.Atoi(string(m[1]))
		return p
	}
	return 0
}

var errPortTaken = errors.New("port already in use")

func (c *Cluster) launch(ctx context.Context, port int, ephemeral bool) error {
	if err := c.acct.writeFile(filepath.Join(c.dataDir, "devflow.conf"), []byte(settings(port, ephemeral))); err != nil {
		return err
	}
	if err := c.ensureInclude(); err != nil {
		return err
	}
	logPath := filepath.Join(c.dataDir, "server.log")
	if fi, err := os.Stat(logPath); err == nil && fi.Size() > 16<<20 {
		_ = os.Rename(logPath, logPath+".1")
	}
	var logStart int64
	if fi, err := os.Stat(logPath); err == nil {
		logStart = fi.Size()
	}

	cmd := c.acct.command(ctx, c.bin.pgCtl, "start", "-D", c.dataDir, "-l", logPath, "-w", "-t", "120", "-s")
	// Own session: a Ctrl-C meant for devflow must not also shut the server down
	// under it; devflow stops the server itself.
	cmd.SysProcAttr.Setsid = true
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	tail := logTail(logPath, logStart)
	if strings.Contains(tail, "could not bind") || strings.Contains(tail, "could not create any TCP/IP sockets") {
		return fmt.Errorf("%w: %d", errPortTaken, port)
	}
	return fmt.Errorf("pg_ctl start: %w: %s (the whole server log is in %s)", err, gravest(tail, string(out)), logPath)
}

// gravest is the line of the server log that best says why the server did not start:
// its last FATAL or PANIC line, else its last line, else pg_ctl's own output.
func gravest(logTail, pgCtlOutput string) string {
	lines := strings.Split(logTail, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "FATAL:") || strings.Contains(lines[i], "PANIC:") {
			return strings.TrimSpace(lines[i])
		}
	}
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
		return last
	}
	return strings.Join(strings.Fields(pgCtlOutput), " ")
}

func (c *Cluster) ensureInclude() error {
	path := filepath.Join(c.dataDir, "postgresql.conf")
	conf, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if strings.Contains(string(conf), includeLine) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "\n# devflow: settings rewritten on every start\n%s\n", includeLine)
	return errors.Join(err, f.Close())
}

// settings is devflow.conf: sized for a small (2-core) machine.
func settings(port int, ephemeral bool) string {
	sharedBuffers, maxConnections := "128MB", 200
	var extra []string
	if ephemeral {
		// One test cluster serves every test process of a go test run.
		sharedBuffers, maxConnections = "64MB", 300
		// Test data is thrown away: skip every durability cost.
		extra = []string{
			"fsync = off",
			"synchronous_commit = off",
			"full_page_writes = off",
			"wal_level = minimal",
			"max_wal_senders = 0",
			"checkpoint_timeout = '30min'",
		}
	}
	lines := append([]string{
		"# Written by devflow (infra/pgharness) on every start; edits are lost.",
		"listen_addresses = '127.0.0.1'",
		fmt.Sprintf("port = %d", port),
		"unix_socket_directories = ''", // TCP only: no clash with a system server's socket folder
		fmt.Sprintf("max_connections = %d", maxConnections),
		"shared_buffers = '" + sharedBuffers + "'",
		"timezone = 'UTC'",
		"log_timezone = 'UTC'",
		"lc_messages = 'C'",
		"jit = off", // the queries here are short; JIT compilation would only add latency
		"log_checkpoints = off",
	}, extra...)
	return strings.Join(lines, "\n") + "\n"
}

// clearStalePID deals with a postmaster.pid left by a previous run. Its server still
// running in this folder means a killed previous owner (we hold the folder's lock):
// stop it. A pid file naming a dead or unrelated process is removed; PostgreSQL
// itself would refuse to start if that pid had been reused by another process, which is
// common after a container restart.
func (c *Cluster) clearStalePID(ctx context.Context) error {
	pidFile := filepath.Join(c.dataDir, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat("/proc/self/cwd"); err != nil {
		return nil // no /proc: cannot tell; leave the decision to the server
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	switch {
	case err == nil && cwd == c.dataDir: // the server keeps its data directory as working directory
		c.log.Warn("stopping a PostgreSQL server left running by a previous run", "pid", pid, "data_dir", c.dataDir)
		return c.stopServer(ctx)
	case err == nil || errors.Is(err, fs.ErrNotExist) || pid <= 0:
		c.log.Info("removing a stale postmaster.pid", "pid", pid, "data_dir", c.dataDir)
		return os.Remove(pidFile)
	default:
		return nil // e.g. permission denied: leave the decision to the server
	}
}

func (c *Cluster) stopServer(ctx context.Context) error {
	_, err := c.acct.run(ctx, c.bin.pgCtl, "stop", "-D", c.dataDir, "-m", "fast", "-w", "-t", "120", "-s")
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); errors.Is(statErr, fs.ErrNotExist) {
			return nil // not running
		}
	}
	return err
}

// lockDataDir takes an exclusive lock on <dataDir>.lock for as long as the returned file
// stays open (the kernel drops it when the process dies).
func lockDataDir(dataDir string) (*os.File, error) {
	f, err := os.OpenFile(dataDir+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (pid %s)", ErrDataDirInUse, dataDir, strings.TrimSpace(string(holder)))
		}
		return nil, err
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// freePort returns prefer when it is free, else a free port chosen by the kernel.
func freePort(prefer int) (int, error) {
	if prefer > 0 {
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(prefer))); err == nil {
			l.Close()
			return prefer, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func ownedBy(path string, uid uint32) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == uid
}

// logTail returns the last lines the server logged after offset from.
func logTail(path string, from int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
