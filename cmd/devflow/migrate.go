package main

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"
	"go.uber.org/fx"

	"github.com/devflow/backend/infra/app"
	"github.com/devflow/backend/infra/postgres"
)

func migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations and exit",
		RunE: func(cmd *cobra.Command, args []string) error {
			var url app.DatabaseURL
			var log *slog.Logger
			return withApp(cmd.Context(), func(ctx context.Context) error {
				return postgres.Migrate(ctx, string(url), log)
			}, &url, &log)
		},
	}
}

// withApp starts the data layer (no HTTP server, no projection runners), fills targets
// from it, runs fn and stops the layer again. fx builds only what targets need.
func withApp(ctx context.Context, fn func(context.Context) error, targets ...any) error {
	a := fx.New(app.CLI, fx.Populate(targets...), fx.NopLogger)
	if err := a.Err(); err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	runErr := fn(ctx)
	if err := a.Stop(context.Background()); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}
