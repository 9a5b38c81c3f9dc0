package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	cmdheartbeats "github.com/devflow/backend/commands/heartbeats"
	"github.com/devflow/backend/infra/app"
	"github.com/devflow/backend/projections"
	qheartbeats "github.com/devflow/backend/queries/heartbeats"
)

func importCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Bring history in from other tools",
	}
	cmd.AddCommand(importWakapiCommand())
	return cmd
}

func importWakapiCommand() *cobra.Command {
	var file, user string
	cmd := &cobra.Command{
		Use:   "wakapi --file export.json --user USER",
		Short: "Import a Wakapi (or WakaTime) heartbeat export for a devFlow user; importing again stores nothing twice",
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" || user == "" {
				return fmt.Errorf("--file and --user (id, username or email) are required")
			}
			export, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			var d app.Data
			return withApp(cmd.Context(), func(ctx context.Context) error {
				id, err := qheartbeats.New(d.Pool).FindUser(ctx, user)
				if err != nil {
					return fmt.Errorf("user %q: %w", user, err)
				}
				report, finish := progressBar("import heartbeats")
				p, err := cmdheartbeats.NewImportHandler(d.Store).Handle(ctx, id, export, func(p cmdheartbeats.Progress) {
					report(projections.Progress{Applied: int64(p.Done), Total: int64(p.Total)})
				})
				finish()
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "%d heartbeats read, %d invalid (skipped); heartbeats already stored were not stored again\n", p.Total, p.Invalid)
				return nil
			}, &d)
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "the export (a JSON array of heartbeats, {\"heartbeats\"|\"data\": […]} or WakaTime's {\"days\": [{\"heartbeats\": […]}]})")
	cmd.Flags().StringVar(&user, "user", "", "the devFlow user: id, username or email")
	return cmd
}
