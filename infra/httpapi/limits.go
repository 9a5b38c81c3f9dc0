package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/devflow/backend/domain/telemetry"
)

// TelemetryLimits are the bounds openapi.yaml puts on telemetry values, for the
// ingest's quick check of events.
func (s *Schemas) TelemetryLimits() telemetry.Limits { return s.limits }

// readLimits reads the bounds of telemetry values from the converted schemas. A bound
// that is missing or not an integer is an error, so an edit of openapi.yaml that the
// quick check cannot follow stops the service at start-up instead of loosening it.
func readLimits(defs map[string]any) (telemetry.Limits, error) {
	r := limitReader{defs: defs}
	bounds := func(name string) telemetry.Bounds {
		return telemetry.Bounds{Min: r.get("minimum", name), Max: r.get("maximum", name)}
	}
	l := telemetry.Limits{
		Path:            int(r.get("maxLength", "TelemetryPath")),
		Name:            int(r.get("maxLength", "TelemetryName")),
		Count:           bounds("TelemetryCount"),
		Size:            bounds("TelemetrySize"),
		LineNumber:      bounds("TelemetryLineNumber"),
		DurationMs:      bounds("TelemetryDurationMs"),
		DurationSeconds: bounds("TelemetryDurationSeconds"),
		LineRanges:      int(r.get("maxItems", "TextChangeEvent", "properties", "metrics", "properties", "affected_line_ranges")),
	}
	return l, r.err
}

// limitReader reads integer keywords of schemas, keeping the first failure.
type limitReader struct {
	defs map[string]any
	err  error
}

// get returns the integer value of keyword in the schema at path.
func (r *limitReader) get(keyword string, path ...string) int64 {
	var schema any = r.defs
	for _, k := range path {
		m, _ := schema.(map[string]any)
		schema = m[k]
	}
	m, _ := schema.(map[string]any)
	n, _ := m[keyword].(json.Number)
	i, err := n.Int64()
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("schema %s needs an integer %s", strings.Join(path, "/"), keyword)
	}
	return i
}
