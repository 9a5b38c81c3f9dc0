package projections_test

import (
	"testing"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	"github.com/devflow/backend/projections"
	metricsprojection "github.com/devflow/backend/projections/metrics"
	sessionsprojection "github.com/devflow/backend/projections/sessions"
)

// TestDecode_ErasedEventsAreHandedToNoProjection: an event whose key was destroyed
// (crypto-shredded) is neither applied nor a decode failure, for every projection.
func TestDecode_ErasedEventsAreHandedToNoProjection(t *testing.T) {
	user, session := ids.New(), ids.New()
	meta := eventlog.Metadata{UserID: user.String()}
	envs := []eventlog.Envelope{
		{ID: ids.New(), StreamID: telemetry.StreamID(session), Type: telemetry.TypeSessionStarted, SchemaVersion: telemetry.SessionStartedVersion, Metadata: meta, Erased: true},
		{ID: ids.New(), StreamID: telemetry.StreamID(session), Type: telemetry.TypeTextChanged, SchemaVersion: telemetry.SchemaVersion, Metadata: meta, Erased: true},
	}
	for _, p := range []projections.Projection{metricsprojection.New(metricsprojection.Options{}), sessionsprojection.New()} {
		events, err := projections.Decode(p, envs)
		if err != nil || len(events) != 0 {
			t.Errorf("%s: %d events, %v; want none and no error", p.Name(), len(events), err)
		}
	}
}
