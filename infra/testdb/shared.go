package testdb

// One private cluster per `go test` run. The test processes of a run are children of
// the same go command, so its pid and start time name a folder in the temp dir:
//
//	lock       flock, held while a process inspects or changes the cluster's state
//	users      flock, held shared by every test process using the cluster until it exits
//	state      JSON {owner pid, URL} while the cluster is up
//	owner.log  the owner's output
//	data/      the cluster
//
// The first test process to find no cluster spawns an owner: a copy of its own test
// binary, in its own session, with ownerEnv set (Main hands such a process to
// runOwner). The owner starts the cluster, writes state, and stops and deletes the
// cluster once the go command has exited, or once nobody has used it for a while. The
// kernel drops a dead process's flocks, so a killed test process never keeps the cluster
// alive; what a killed owner leaves behind is swept by the next run.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/infra/pgharness"
)

const (
	ownerEnv = "DEVFLOW_TESTDB_OWNER" // the folder of the cluster this process is to own
	watchEnv = "DEVFLOW_TESTDB_WATCH" // the go command the owner outlives by no more than a second
	idleEnv  = "DEVFLOW_TESTDB_IDLE"  // how long an unused cluster stays up (a Go duration)

	defaultIdle = time.Minute // longer than go test usually needs to build the next test binary
	// orphanGrace is how long the owner waits for test processes still running after the
	// go command has gone (it was killed) before stopping the cluster under them.
	orphanGrace = time.Minute
)

// sharedDirPrefix begins the name of every shared cluster's folder of this user.
func sharedDirPrefix() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("devflow-testpg-%d-", os.Getuid()))
}

type sharedState struct {
	Owner string `json:"owner"` // proc.String()
	URL   string `json:"url"`
}

// attachShared joins the current go test run's cluster, starting it if needed. The
// returned function leaves it.
func attachShared(ctx context.Context) (string, func(), error) {
	goCmd := procOf(os.Getppid())
	dir := sharedDirPrefix() + goCmd.String()
	sweep(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil { // past the umask: the postgres user must enter it when we are root
		return "", nil, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", nil, err
	}
	users, err := os.OpenFile(filepath.Join(dir, "users"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		lock.Close()
		return "", nil, err
	}
	leave := func() { users.Close(); lock.Close() }

	spawned := false
	for {
		if err := flockWait(ctx, lock, syscall.LOCK_EX); err != nil {
			leave()
			return "", nil, fmt.Errorf("wait for the shared test cluster in %s: %w", dir, err)
		}
		st, err := readState(dir)
		ownerAlive := err == nil && parseProc(st.Owner).alive()
		if ownerAlive && reachable(ctx, st.URL) {
			// Blocking is safe: the owner takes users exclusively only while it holds lock.
			if err := flock(users, syscall.LOCK_SH); err != nil {
				leave()
				return "", nil, err
			}
			_ = flock(lock, syscall.LOCK_UN)
			return st.URL, leave, nil
		}
		if ownerAlive || spawned { // its owner is shutting it down, or still failing to start it: wait
			_ = flock(lock, syscall.LOCK_UN)
			select {
			case <-ctx.Done():
				leave()
				return "", nil, fmt.Errorf("wait for the shared test cluster in %s: %w", dir, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
			spawned = false
			continue
		}
		if err := spawnOwner(ctx, dir, goCmd); err != nil {
			_ = flock(lock, syscall.LOCK_UN)
			leave()
			return "", nil, err
		}
		spawned = true // keep lock: the next round attaches to what the owner wrote
	}
}

// spawnOwner starts an owner for dir and waits until it has written state.
func spawnOwner(ctx context.Context, dir string, goCmd proc) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, "state"))
	_ = os.Remove(filepath.Join(dir, "error"))
	logPath := filepath.Join(dir, "owner.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), ownerEnv+"="+dir, watchEnv+"="+goCmd.String())
	// Files, not pipes: the go command waits for its test binaries' output pipes to
	// close, and the owner outlives them.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // Ctrl-C must not kill it before it cleans up
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // reaps it should it exit while we still run
	owner := procOf(cmd.Process.Pid).String()
	for {
		select {
		case err := <-exited:
			if msg, readErr := os.ReadFile(filepath.Join(dir, "error")); readErr == nil {
				return errors.New(string(msg))
			}
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("the shared test cluster did not start (%v); owner log %s:\n%s", err, logPath, log)
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return fmt.Errorf("start the shared test cluster: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
			if st, err := readState(dir); err == nil && st.Owner == owner {
				return nil
			}
		}
	}
}

// runOwner runs the cluster in dir until the go command is gone or the cluster idle.
func runOwner(dir string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	goCmd := parseProc(os.Getenv(watchEnv))
	idle := defaultIdle
	if d, err := time.ParseDuration(os.Getenv(idleEnv)); err == nil {
		idle = d
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	dataDir := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cluster, err := pgharness.Start(ctx, pgharness.Options{DataDir: dataDir, Ephemeral: true, Logger: log})
	cancel()
	if err != nil {
		log.Error("start failed", "err", err)
		_ = os.WriteFile(filepath.Join(dir, "error"), []byte(err.Error()), 0o644) // for the test process to show
		return 1
	}
	lock, err1 := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR, 0)
	users, err2 := os.OpenFile(filepath.Join(dir, "users"), os.O_RDWR, 0)
	err = errors.Join(err1, err2)
	if err == nil {
		err = writeState(dir, sharedState{Owner: procOf(os.Getpid()).String(), URL: cluster.URL("postgres")})
	}
	if err != nil {
		log.Error("start failed", "err", err)
		_ = cluster.Stop(context.Background())
		return 1
	}
	log.Info("serving", "url", cluster.URL("postgres"), "watching", goCmd.String(), "idle", idle)

	lastUsed := time.Now()
	var goGoneAt time.Time
	tick := time.NewTicker(time.Second)
	for {
		var reason string
		select {
		case s := <-signals:
			reason = "signal " + s.String()
			_ = flock(lock, syscall.LOCK_EX)
		case <-tick.C:
			if goGoneAt.IsZero() && !goCmd.alive() {
				goGoneAt = time.Now()
			}
			if !tryFlock(lock, syscall.LOCK_EX) {
				continue // a test process is attaching
			}
			inUse := !tryFlock(users, syscall.LOCK_EX)
			if inUse {
				lastUsed = time.Now()
			}
			switch {
			case !postmasterAlive(dataDir):
				reason = "the server died"
			case !goGoneAt.IsZero() && (!inUse || time.Since(goGoneAt) > orphanGrace):
				reason = "the go command exited"
			case goGoneAt.IsZero() && !inUse && time.Since(lastUsed) >= idle:
				reason = "idle"
			default:
				_ = flock(users, syscall.LOCK_UN)
				_ = flock(lock, syscall.LOCK_UN)
				continue
			}
		}
		// Still holding lock: attachers wait, then find no state and start a new owner.
		log.Info("stopping", "reason", reason)
		_ = os.Remove(filepath.Join(dir, "state"))
		if err := cluster.Stop(context.Background()); err != nil {
			log.Error("stop failed", "err", err)
		}
		_ = os.RemoveAll(dataDir)
		if !goGoneAt.IsZero() {
			_ = os.RemoveAll(dir) // nobody can attach any more: the folder's name dies with the go command
		}
		return 0
	}
}

// sweep removes what killed owners left: folders of go commands that have exited whose
// owner is gone too and that no test process uses.
func sweep(current string) {
	prefix := sharedDirPrefix()
	dirs, _ := filepath.Glob(prefix + "*")
	for _, dir := range dirs {
		if dir == current || parseProc(strings.TrimPrefix(dir, prefix)).alive() {
			continue
		}
		lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR, 0)
		if err != nil {
			continue
		}
		users, err := os.OpenFile(filepath.Join(dir, "users"), os.O_RDWR, 0)
		if err == nil {
			st, stErr := readState(dir)
			if tryFlock(lock, syscall.LOCK_EX) && tryFlock(users, syscall.LOCK_EX) &&
				(stErr != nil || !parseProc(st.Owner).alive()) {
				killLeftoverServer(filepath.Join(dir, "data"))
				_ = os.RemoveAll(dir)
			}
			users.Close()
		}
		lock.Close()
	}
}

// killLeftoverServer shuts down (immediately: the data is garbage) a server still
// running in dataDir.
func killLeftoverServer(dataDir string) {
	pid := postmasterPID(dataDir)
	if pid <= 0 {
		return
	}
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil || cwd != dataDir {
		return // not that server (gone, or the pid is reused)
	}
	_ = syscall.Kill(pid, syscall.SIGQUIT)
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

func postmasterPID(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

func postmasterAlive(dataDir string) bool {
	pid := postmasterPID(dataDir)
	return pid > 0 && procOf(pid).alive()
}

// reachable reports whether the server at u accepts a session.
func reachable(ctx context.Context, u string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return false
	}
	conn.Close(ctx)
	return true
}

func readState(dir string) (sharedState, error) {
	var st sharedState
	b, err := os.ReadFile(filepath.Join(dir, "state"))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// writeState replaces the state file in one step, so readers never see half of it.
func writeState(dir string, st sharedState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "state.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "state"))
}

// proc identifies a process across pid reuse: its pid and, where /proc exists, its
// start time.
type proc struct {
	pid   int
	start string // clock ticks after boot; "" when unknown
}

func procOf(pid int) proc { return proc{pid: pid, start: startTime(pid)} }

// String is "<pid>-<start>", the form parseProc reads.
func (p proc) String() string { return fmt.Sprintf("%d-%s", p.pid, p.start) }

func parseProc(s string) proc {
	pid, start, _ := strings.Cut(s, "-")
	n, err := strconv.Atoi(pid)
	if err != nil {
		return proc{}
	}
	return proc{pid: n, start: start}
}

func (p proc) alive() bool {
	if p.pid <= 0 {
		return false
	}
	if err := syscall.Kill(p.pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return startTime(p.pid) == p.start // also false for a zombie (see startTime)
}

// startTime reads field 22 of /proc/<pid>/stat; "" without /proc. A zombie gets
// "zombie": an exited process nobody reaped (common under container init processes)
// must not count as alive.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// Field 2, the command name, may hold spaces and parentheses: count from its end.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 20 {
		return ""
	}
	if fields[0] == "Z" || fields[0] == "X" {
		return "zombie"
	}
	return fields[19]
}

// flock applies a flock operation, retrying when a signal interrupts it.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func tryFlock(f *os.File, how int) bool { return flock(f, how|syscall.LOCK_NB) == nil }

// flockWait takes a lock, giving up when ctx ends.
func flockWait(ctx context.Context, f *os.File, how int) error {
	for !tryFlock(f, how) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
