package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/infra/app"
	"github.com/devflow/backend/infra/esdb"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/projections"
)

func eventlogCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eventlog",
		Short: "Work with the event log itself",
	}
	cmd.AddCommand(copyToESDBCommand(), encryptLogCommand())
	return cmd
}

func copyToESDBCommand() *cobra.Command {
	var target string
	cmd := &cobra.Command{
		Use:   "copy-to-esdb --to esdb://…",
		Short: "Copy the PostgreSQL event log into EventStoreDB (stop every replica first; resumable)",
		Long: `Appends every event of the PostgreSQL log to EventStoreDB in log order, keeping ids,
streams, stream versions, types, data and metadata. It can be stopped and run again, and
refuses a target holding a different history. Afterwards rebuild every projection with
EVENTSTORE_URL set (devflow projections rebuild NAME), then start the replicas with it.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if target == "" {
				return fmt.Errorf("--to is required")
			}
			var d app.Data
			return withApp(cmd.Context(), func(ctx context.Context) error {
				source := postgres.NewEventStore(d.Pool)
				defer source.Close()
				dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				store, err := esdb.New(dialCtx, target, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
				if err != nil {
					return err
				}
				defer store.Close()
				head, err := source.Head(ctx)
				if err != nil {
					return err
				}
				backlog, err := source.Backlog(ctx, eventlog.Start, head)
				if err != nil {
					return err
				}
				total := backlog.Events
				report, finish := progressBar("copy to EventStoreDB")
				stats, err := store.Copy(ctx, source, 1000, func(s esdb.CopyStats) {
					report(projections.Progress{Applied: s.Copied + s.Present, Total: total})
				})
				finish()
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "copied %d events, %d were already there\n", stats.Copied, stats.Present)
				return nil
			}, &d)
		},
	}
	cmd.Flags().StringVar(&target, "to", "", "EventStoreDB connection string (esdb://…)")
	return cmd
}
