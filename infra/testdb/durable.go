package testdb

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/infra/pgharness"
	"github.com/devflow/backend/infra/postgres"
)

// DurablePool is a migrated database with PostgreSQL's default durability (fsync and
// synchronous_commit on), so an acknowledged event is a committed one. The test
// clusters trade durability for speed; benchmarks start their own cluster here, or use
// BENCH_DATABASE_URL.
func DurablePool(b testing.TB) *pgxpool.Pool {
	b.Helper()
	ctx := context.Background()
	url := os.Getenv("BENCH_DATABASE_URL")
	if url == "" {
		// Not under b.TempDir(): as root the cluster runs as the postgres user, which
		// cannot enter the test's private temporary folder.
		dir, err := os.MkdirTemp("", "devflow-bench-")
		if err != nil {
			b.Fatal(err)
		}
		_ = os.Chmod(dir, 0o755)
		b.Cleanup(func() { _ = os.RemoveAll(dir) })
		cluster, err := pgharness.Start(ctx, pgharness.Options{DataDir: dir + "/pgdata"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cluster.Stop(context.Background()) })
		if err := cluster.CreateDatabase(ctx, "bench", ""); err != nil {
			b.Fatal(err)
		}
		url = cluster.URL("bench")
	}
	if err := postgres.Migrate(ctx, url, slog.New(slog.DiscardHandler)); err != nil {
		b.Fatal(err)
	}
	pool, err := postgres.NewPool(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}
