package pgharness

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// account is the system user the cluster runs as when this process is root (PostgreSQL
// refuses to run as root). A nil *account means "as this process's user".
type account struct {
	name     string
	uid, gid uint32
}

// clusterAccount returns the postgres system user when running as root, else nil.
func clusterAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses to run as root, "+
			"but there is no 'postgres' system user to run it as (%v); install the server "+
			"with: apt-get update && apt-get install -y postgresql (it creates that user), or run as a non-root user", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres user: %w", err)
	}
	return &account{name: u.Username, uid: uint32(uid), gid: uint32(gid)}, nil
}

// command builds a command that runs as a (or as this process's user when a is nil),
// with no inherited PG* variables, which would otherwise steer the programs
// (PGDATA, PGPORT, ...).
func (a *account) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = "/" // the caller's working directory may be unreadable for the postgres user
	cmd.WaitDelay = 10 * time.Second
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if a != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid}
	}
	return cmd
}

// run runs a command and returns its error with the combined output attached.
func (a *account) run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := a.command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// own hands path (recursively) to a.
func (a *account) own(path string) error {
	if a == nil {
		return nil
	}
	return filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(a.uid), int(a.gid))
	})
}

// writeFile writes a file the cluster's programs can read.
func (a *account) writeFile(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	return a.own(path)
}

// checkReachable fails when a cannot enter every folder above dir, the usual trap when
// root keeps its project under /root (mode 0700).
func (a *account) checkReachable(dir string) error {
	if a == nil {
		return nil
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		mode := fi.Mode().Perm()
		searchBit := fs.FileMode(0o001) // Unix applies the first class that matches
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == a.uid {
			searchBit = 0o100
		} else if ok && st.Gid == a.gid {
			searchBit = 0o010
		}
		if mode&searchBit == 0 {
			return fmt.Errorf("the data directory %s is not reachable by the %q user the cluster must run as "+
				"(folder %s has mode %v); use a data directory outside it, run as a non-root user, "+
				"or set DATABASE_URL", dir, a.name, p, mode)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}
