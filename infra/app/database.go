package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/pgharness"
	"github.com/devflow/backend/infra/postgres"
)

// DatabaseURL is the PostgreSQL URL the service uses, after the private cluster (if any)
// has started.
type DatabaseURL string

// provideDatabaseURL returns the configured database, or starts the private cluster in
// the data folder when none is configured, and stops it with the app.
func provideDatabaseURL(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) (DatabaseURL, error) {
	if url, ok := cfg.DatabaseURL(); ok {
		return DatabaseURL(url), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log.Info("no DATABASE_URL or DB_* set; starting a private PostgreSQL", "data_dir", cfg.DataDir)
	cluster, err := pgharness.Start(ctx, pgharness.Options{DataDir: cfg.DataDir, Logger: log})
	if errors.Is(err, pgharness.ErrDataDirInUse) {
		// A running `devflow serve` owns the cluster: CLI commands use it as it is.
		dir, _, err := pgharness.ResolveDataDir(cfg.DataDir)
		if err != nil {
			return "", err
		}
		return attachRunning(dir)
	}
	if err != nil {
		return "", fmt.Errorf("private PostgreSQL: %w", err)
	}
	lc.Append(fx.StopHook(func(ctx context.Context) error { return cluster.Stop(ctx) }))
	// The data folder is kept between runs, so the database usually exists already.
	if err := cluster.CreateDatabase(ctx, "devflow", ""); err != nil && !errors.Is(err, pgharness.ErrDatabaseExists) {
		return "", err
	}
	log.Info("private PostgreSQL ready", "port", cluster.Port())
	return DatabaseURL(cluster.URL("devflow")), nil
}

// providePool opens the pool and migrates (unless MIGRATE_ON_START=false). Connecting
// first tells an unreachable database apart from a failed migration.
func providePool(lc fx.Lifecycle, url DatabaseURL, cfg config.Config, log *slog.Logger) (*pgxpool.Pool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, err := postgres.NewPool(ctx, string(url))
	if err != nil {
		return nil, fmt.Errorf("database: %w; check DATABASE_URL (or DB_*) and that the server is up", err)
	}
	if cfg.MigrateOnStart {
		if err := postgres.Migrate(ctx, string(url), log); err != nil {
			pool.Close()
			return nil, fmt.Errorf("database: %w; each migration is all or nothing, so fix the cause and start again", err)
		}
	}
	lc.Append(fx.StopHook(pool.Close))
	return pool, nil
}

// databaseCheck is the /ready database check: a trivial query within 2 seconds.
type databaseCheck struct{ pool *pgxpool.Pool }

func (databaseCheck) Name() string { return "database" }

func (c databaseCheck) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var one int
	if err := c.pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return errors.New("unreachable")
	}
	return nil
}

// attachRunning returns the URL of the private cluster another process runs from
// dataDir, read from the server's postmaster.pid (its fourth line is the port).
func attachRunning(dataDir string) (DatabaseURL, error) {
	raw, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return "", fmt.Errorf("private PostgreSQL is in use but not readable: %w", err)
	}
	lines := strings.Split(string(raw), "\n")
	if len(lines) < 4 {
		return "", fmt.Errorf("private PostgreSQL is starting; try again")
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil {
		return "", fmt.Errorf("private PostgreSQL: bad postmaster.pid: %w", err)
	}
	return DatabaseURL(fmt.Sprintf("postgres://postgres@127.0.0.1:%d/devflow?sslmode=disable", port)), nil
}
