package main

import (
	"context"
	"fmt"

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
// pool, stop the private PostgreSQL if it started one. It is fx's Run without fx's
// event log, whose errors would repeat the returned one (main prints that once).
func serve() error {
	a := fx.New(app.Server, fx.NopLogger)
	startCtx, cancel := context.WithTimeout(context.Background(), a.StartTimeout())
	defer cancel()
	if err := a.Start(startCtx); err != nil { // also New's error
		return err
	}
	sig := <-a.Wait()
	stopCtx, cancel := context.WithTimeout(context.Background(), a.StopTimeout())
	defer cancel()
	if err := a.Stop(stopCtx); err != nil {
		return err
	}
	if sig.ExitCode != 0 {
		return fmt.Errorf("stopped after a failure (exit code %d); the log above says which", sig.ExitCode)
	}
	return nil
}
