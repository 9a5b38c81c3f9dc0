package main

import (
	"github.com/spf13/cobra"
	"go.uber.org/fx"

	"github.com/devflow/backend/infra/app"
)

func serveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API, the projection runners and the insight scheduler (the default)",
		RunE:  func(cmd *cobra.Command, args []string) error { return serve() },
	}
}

// serve runs until SIGINT/SIGTERM, then shuts down in reverse start order: stop
// accepting and drain requests, let projection runners finish their batch, close the
// pool, stop the private PostgreSQL if it started one.
func serve() error {
	fx.New(app.Server).Run()
	return nil
}
