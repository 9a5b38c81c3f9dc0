package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/devflow/backend/infra/app"
	"github.com/devflow/backend/projections"
)

func projectionsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "projections",
		Short: "Inspect, rebuild and replay the read models built from the event log",
	}
	cmd.AddCommand(statusCommand(), rebuildCommand(), replayCommand(), retryParkedCommand())
	return cmd
}

// projectionStatus is one row of `devflow projections status`.
type projectionStatus struct {
	Name          string    `json:"name"`
	Version       int       `json:"version"`
	StoredVersion int       `json:"stored_version"`
	Checkpoint    string    `json:"checkpoint"`
	Ordinal       int64     `json:"ordinal"`
	Head          string    `json:"head"`
	LagEvents     int64     `json:"lag_events"`
	LagSeconds    float64   `json:"lag_seconds"`
	UpdatedAt     time.Time `json:"updated_at"`
	Parked        int64     `json:"parked_events"`
	Error         string    `json:"error,omitempty"`
}

func statusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each projection's checkpoint, the log head and the lag between them",
		RunE: func(cmd *cobra.Command, args []string) error {
			var d app.Data
			return withApp(cmd.Context(), func(ctx context.Context) error {
				rows, err := collectStatus(ctx, d)
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(os.Stdout).Encode(rows)
				}
				w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
				fmt.Fprintln(w, "PROJECTION\tVERSION\tCHECKPOINT\tEVENTS\tHEAD\tLAG\tPARKED\tUPDATED\tERROR")
				for _, r := range rows {
					version := fmt.Sprint(r.Version)
					if r.StoredVersion != r.Version {
						version = fmt.Sprintf("%d (stored %d)", r.Version, r.StoredVersion)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\t%s\n", r.Name, version, r.Checkpoint, r.Ordinal, r.Head, r.LagEvents,
						r.Parked, r.UpdatedAt.UTC().Format(time.RFC3339), r.Error)
				}
				return w.Flush()
			}, &d)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

func collectStatus(ctx context.Context, d app.Data) ([]projectionStatus, error) {
	statuses, err := d.Engine.Status(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([]projectionStatus, len(statuses))
	for i, s := range statuses {
		rows[i] = projectionStatus{Name: s.Name, Version: s.BinaryVersion, StoredVersion: s.Version,
			Checkpoint: s.Position.String(), Ordinal: s.Ordinal, Head: s.Head.String(), LagEvents: s.LagEvents,
			LagSeconds: s.LagSeconds, UpdatedAt: s.UpdatedAt, Parked: s.Parked, Error: s.Error}
	}
	return rows, nil
}

func findProjection(d app.Data, name string) (projections.Projection, error) {
	for _, p := range d.Engine.Projections() {
		if p.Name() == name {
			return p, nil
		}
	}
	var names []string
	for _, p := range d.Engine.Projections() {
		names = append(names, p.Name())
	}
	return nil, fmt.Errorf("unknown projection %q (known: %v)", name, names)
}

// progressBar draws a long pass over the log on the terminal: events applied, events/s
// and the time left.
func progressBar(description string) (projections.ProgressFunc, func()) {
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetDescription(description),
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionFullWidth(),
	)
	return func(p projections.Progress) {
			if bar.GetMax64() != p.Total {
				bar.ChangeMax64(p.Total)
			}
			_ = bar.Set64(p.Applied)
		}, func() {
			_ = bar.Finish()
			fmt.Fprintln(os.Stderr)
		}
}

func rebuildCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rebuild NAME",
		Short: "Replay the whole log into fresh tables while the live ones serve, then swap them in atomically",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d app.Data
			return withApp(cmd.Context(), func(ctx context.Context) error {
				p, err := findProjection(d, args[0])
				if err != nil {
					return err
				}
				report, finish := progressBar("rebuild " + p.Name())
				start := time.Now()
				err = projections.Rebuild(ctx, d.Pool, d.Store, p, d.Config.MetricsETLBatchSize, report)
				finish()
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "rebuilt %s (version %d) in %s\n", p.Name(), p.Version(), time.Since(start).Round(time.Millisecond))
				return nil
			}, &d)
		},
	}
}

func replayCommand() *cobra.Command {
	var into, lineCounter string
	cmd := &cobra.Command{
		Use:   "replay NAME --into SCHEMA",
		Short: "Build a projection from the whole log into a separate schema, for comparing numbers in SQL",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d app.Data
			return withApp(cmd.Context(), func(ctx context.Context) error {
				p, err := replayProjection(d, args[0], lineCounter)
				if err != nil {
					return err
				}
				report, finish := progressBar(fmt.Sprintf("replay %s into %s", p.Name(), into))
				start := time.Now()
				n, err := projections.Replay(ctx, d.Pool, d.Store, p, into, d.Config.MetricsETLBatchSize, report)
				finish()
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "replayed %d events of %s into schema %s in %s\n", n, p.Name(), into, time.Since(start).Round(time.Millisecond))
				return nil
			}, &d)
		},
	}
	cmd.Flags().StringVar(&into, "into", "", "schema to build into (must not exist)")
	cmd.Flags().StringVar(&lineCounter, "line-counter", "", "metrics only: line-count formula, v1 (Node) or v2")
	_ = cmd.MarkFlagRequired("into")
	return cmd
}

func retryParkedCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "retry-parked [NAME]",
		Short: "Re-apply the events a projection parked (all projections without NAME), after a fix",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d app.Data
			return withApp(cmd.Context(), func(ctx context.Context) error {
				targets := d.Engine.Projections()
				if len(args) == 1 {
					p, err := findProjection(d, args[0])
					if err != nil {
						return err
					}
					targets = []projections.Projection{p}
				}
				still := 0
				for _, p := range targets {
					res, err := projections.RetryParked(ctx, d.Pool, d.Store, p)
					if err != nil {
						return fmt.Errorf("retry parked events of %s: %w", p.Name(), err)
					}
					fmt.Fprintf(os.Stderr, "%s: %d re-applied, %d still parked\n", p.Name(), res.Applied, res.StillParked)
					still += res.StillParked
				}
				if still > 0 {
					return fmt.Errorf("%d events are still parked; see devflow projections status", still)
				}
				return nil
			}, &d)
		},
	}
}
