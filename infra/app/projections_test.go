package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/devflow/backend/infra/app"
	"github.com/devflow/backend/infra/app/apptest"
	"github.com/devflow/backend/projections"
)

// The operator commands rebuild and replay the projections the server runs: both take
// them from one registry.
func TestCLI_HasTheServersProjections(t *testing.T) {
	s := apptest.Start(t, nil)
	var d app.Data
	cli := fx.New(app.CLI, fx.Populate(&d), fx.NopLogger)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cli.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer cli.Stop(ctx)
	server, cmd := names(s.Engine.Projections()), names(d.Engine.Projections())
	want := []string{"heartbeats", "metrics", "recommendations", "sessions"}
	if !slices.Equal(server, want) || !slices.Equal(cmd, want) {
		t.Fatalf("server runs %v, the CLI sees %v; want both %v", server, cmd, want)
	}
}

func names(ps []projections.Projection) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name())
	}
	slices.Sort(out)
	return out
}
