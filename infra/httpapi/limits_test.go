package httpapi

import (
	"testing"

	"github.com/devflow/backend/domain/telemetry"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
)

// The domain's tests check events against a copy of openapi.yaml's bounds; it must be
// the schema's own.
func TestTelemetryLimits_AreTheSchemas(t *testing.T) {
	if got := schemasForTest(t).TelemetryLimits(); got != tt.Limits {
		t.Fatalf("openapi.yaml's bounds %+v, the domain tests' copy %+v", got, tt.Limits)
	}
}

// The cap on one event's lines must never change the count of a valid event: the
// widest valid text_change (every range over every line) stays below it.
func TestTelemetryLimits_NeverReachTheCapOfAnEventsLines(t *testing.T) {
	l := schemasForTest(t).TelemetryLimits()
	widest := int64(l.LineRanges) * (l.LineNumber.Max - l.LineNumber.Min + 1)
	if widest >= telemetry.MaxEventLines || l.Count.Max >= telemetry.MaxEventLines {
		t.Fatalf("valid events reach %d lines (explicit %d), the cap is %d", widest, l.Count.Max, telemetry.MaxEventLines)
	}
}

func TestTelemetryLimits_EachBoundIsRequired(t *testing.T) {
	defs := map[string]any{}
	if _, err := readLimits(defs); err == nil {
		t.Fatal("limits read from schemas without bounds")
	}
}
