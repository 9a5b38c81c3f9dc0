package main

import (
	"fmt"

	"github.com/devflow/backend/infra/app"
	"github.com/devflow/backend/projections"
	metricsprojection "github.com/devflow/backend/projections/metrics"
)

// replayProjection is the projection to replay: the service's own, or for metrics
// with --line-counter a variant built with another line-count formula.
func replayProjection(d app.Data, name, lineCounter string) (projections.Projection, error) {
	if lineCounter == "" {
		return findProjection(d, name)
	}
	if name != metricsprojection.Name {
		return nil, fmt.Errorf("--line-counter applies to the %s projection only", metricsprojection.Name)
	}
	opts := metricsprojection.Options{LineCounter: lineCounter}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("--line-counter: %w", err)
	}
	return metricsprojection.New(opts), nil
}
