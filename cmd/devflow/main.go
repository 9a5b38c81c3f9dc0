// Command devflow is the devFlow backend: the API server and the operator and analyst
// tools (migrations, projection status, rebuild and replay). Cobra gives the nested
// subcommands, flags and help text that operators expect without hand-written parsing.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/dig"
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
	root.AddCommand(serveCommand(), migrateCommand(), projectionsCommand(), eventlogCommand(), importCommand(), usersCommand(), keysCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "devflow:", oneLine(err))
		os.Exit(1)
	}
}

// oneLine is what failed, on one line: the error a constructor returned rather than
// fx's account of the object graph around it, its lines (a joined error, a driver's
// per-host attempts) run together.
func oneLine(err error) string {
	var msg strings.Builder
	for line := range strings.Lines(dig.RootCause(err).Error()) {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			continue
		case msg.Len() == 0:
		case strings.HasSuffix(msg.String(), ":"):
			msg.WriteString(" ")
		default:
			msg.WriteString("; ")
		}
		msg.WriteString(line)
	}
	return msg.String()
}
