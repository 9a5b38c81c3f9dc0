package pgharness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrBinariesMissing means the PostgreSQL server programs are not installed.
var ErrBinariesMissing = errors.New("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found")

// libRoot is where Debian and Ubuntu install the server binaries, one folder per major
// version; they are not on PATH there.
const libRoot = "/usr/lib/postgresql"

// binaries are the server programs of one PostgreSQL installation.
type binaries struct {
	initdb, pgCtl, postgres string
}

// findBinaries looks for initdb, pg_ctl and postgres side by side in a folder of path
// (a PATH value), then under root/*/bin, highest major version first.
func findBinaries(path, root string) (binaries, error) {
	var dirs []string
	for _, dir := range filepath.SplitList(path) {
		if dir != "" {
			dirs = append(dirs, dir)
		}
	}
	versioned, _ := filepath.Glob(filepath.Join(root, "*", "bin"))
	slices.SortFunc(versioned, func(a, b string) int { // highest version first
		return compareVersions(filepath.Base(filepath.Dir(b)), filepath.Base(filepath.Dir(a)))
	})
	dirs = append(dirs, versioned...)
	for _, dir := range dirs {
		b := binaries{
			initdb:   filepath.Join(dir, "initdb"),
			pgCtl:    filepath.Join(dir, "pg_ctl"),
			postgres: filepath.Join(dir, "postgres"),
		}
		if isExecutable(b.initdb) && isExecutable(b.pgCtl) && isExecutable(b.postgres) {
			return b, nil
		}
	}
	return binaries{}, fmt.Errorf("%w on PATH or under %s/*/bin; install them with: "+
		"apt-get update && apt-get install -y postgresql "+
		"(or use an existing server: DATABASE_URL for devflow serve, TEST_DATABASE_URL for the tests)", ErrBinariesMissing, root)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// compareVersions orders dotted version strings numerically ("9.6" < "10" < "15");
// a non-numeric part sorts as 0.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// majorVersion turns `postgres --version` output ("postgres (PostgreSQL) 15.18 (Debian
// 15.18-0+deb12u1)") into the major version as PG_VERSION spells it ("15", or "9.6").
func majorVersion(versionOutput string) (string, error) {
	fields := strings.Fields(versionOutput)
	for i, f := range fields {
		if f != "(PostgreSQL)" || i+1 == len(fields) {
			continue
		}
		parts := strings.FieldsFunc(fields[i+1], func(r rune) bool { return r < '0' || r > '9' })
		if len(parts) == 0 {
			break
		}
		if n, _ := strconv.Atoi(parts[0]); n >= 10 || len(parts) == 1 {
			return parts[0], nil
		}
		return parts[0] + "." + parts[1], nil
	}
	return "", fmt.Errorf("unrecognised postgres --version output %q", versionOutput)
}
