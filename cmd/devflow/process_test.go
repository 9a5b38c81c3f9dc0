package main

// Helpers for the tests that run the built devflow binary as a subprocess, as an
// operator or `make run` does.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var devflowBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "devflow-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "devflow")
	// go test puts its own go command first on PATH.
	out, err := exec.Command("go", "build", "-o", bin, "github.com/devflow/backend/cmd/devflow").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

// binary is the devflow binary built from this tree (once per test process).
func binary(t *testing.T) string {
	t.Helper()
	bin, err := devflowBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// environ is this process's environment without any devflow configuration, plus env
// ("NAME=value").
func environ(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "DB_"), strings.HasPrefix(name, "DEVFLOW_"),
			name == "DATABASE_URL", name == "JWT_SECRET", name == "PORT", name == "EVENTSTORE_URL",
			name == "MIGRATE_ON_START", name == "METRICS_ADDR", name == "LOG_LEVEL", name == "DATA_KEY", name == "DATA_KEY_FILE":
			continue
		}
		out = append(out, kv)
	}
	return append(out, env...)
}

// run runs the binary in dir to its end and returns its output and exit code.
func run(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Dir, cmd.Env = dir, env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if exit, ok := errors.AsType[*exec.ExitError](err); ok {
		return out.String(), errOut.String(), exit.ExitCode()
	}
	if err != nil {
		t.Fatalf("devflow %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), 0
}

// freePort is a TCP port nobody listens on just now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// server is `devflow serve` running as a subprocess, which a test may kill and start
// again on the same port and configuration.
type server struct {
	t       *testing.T
	dir     string
	env     []string
	port    int
	logPath string

	cmd    *exec.Cmd
	exited chan error // receives the process's Wait result once
}

func newServer(t *testing.T, dir string, env ...string) *server {
	port := freePort(t)
	s := &server{t: t, dir: dir, port: port, logPath: filepath.Join(t.TempDir(), "devflow.log"),
		env: environ(append([]string{"PORT=" + strconv.Itoa(port)}, env...)...)}
	t.Cleanup(func() {
		if s.cmd != nil {
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(s.logPath)
			t.Logf("devflow output:\n%s", log)
		}
	})
	return s
}

// URL is the API's base URL.
func (s *server) URL() string { return "http://127.0.0.1:" + strconv.Itoa(s.port) + "/api/v1" }

// start starts the server and waits until /health answers 200.
func (s *server) start() {
	s.t.Helper()
	log, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer log.Close() // the child has its own copy
	s.cmd = exec.Command(binary(s.t), "serve")
	s.cmd.Dir, s.cmd.Env, s.cmd.Stdout, s.cmd.Stderr = s.dir, s.env, log, log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, exited chan error) { exited <- cmd.Wait() }(s.cmd, s.exited)
	s.waitHealthy()
}

func (s *server) waitHealthy() {
	s.t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-s.exited:
			s.cmd = nil
			s.t.Fatalf("devflow serve exited before serving /health: %v", err)
		default:
		}
		if resp, err := http.Get(s.URL() + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	s.t.Fatal("devflow serve did not answer /health with 200")
}

// kill ends the server with SIGKILL: no shutdown of any kind.
func (s *server) kill() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatal(err)
	}
	<-s.exited
	s.cmd = nil
}

// stop ends the server with SIGTERM and fails the test unless it exits cleanly.
func (s *server) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	err := <-s.exited
	s.cmd = nil
	if err != nil {
		s.t.Fatalf("devflow serve after SIGTERM: %v", err)
	}
}

// running reports whether the process started last is still alive.
func (s *server) running() bool {
	select {
	case err := <-s.exited:
		s.exited <- err // keep it for stop or kill
		return false
	default:
		return s.cmd != nil
	}
}
