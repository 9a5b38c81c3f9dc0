// Command devflow is the devFlow backend: the API server and the operator and analyst
// tools (migrations, projection status, rebuild and replay). Cobra gives the nested
// subcommands, flags and help text that operators expect without hand-written parsing.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "devflow",
		Short:         "devFlow backend: telemetry ingest, metrics projections and workflow insights",
		SilenceUsage:  true,
		SilenceErrors: true,
		// With no subcommand, serve.
		RunE: func(cmd *cobra.Command, args []string) error { return serve() },
	}
	root.AddCommand(serveCommand(), migrateCommand(), projectionsCommand(), eventlogCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "devflow:", err)
		os.Exit(1)
	}
}
