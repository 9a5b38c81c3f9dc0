package telemetry_test

import (
	"testing"
	"time"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
)

// BenchmarkIngestCPU is the per-event CPU work of an ingest: parse the body, check and
// canonicalise every event, derive its id, build its stored payload.
func BenchmarkIngestCPU(b *testing.B) {
	body := tt.Payload(tt.NewGenerator(1, "3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34", time.Now()).Events(1000)...)
	user := ids.New()
	var d telemetry.Doc
	var c telemetry.Canonicalizer
	var buf, arena []byte
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Parse(body); err != nil {
			b.Fatal(err)
		}
		arena = arena[:0]
		for _, ev := range d.Root().Get("events").Elements() {
			if _, ok := tt.Limits.QuickCheck(ev); !ok {
				b.Fatal("invalid")
			}
			if _, ok := ev.Storable(); !ok {
				b.Fatal("unstorable")
			}
			_, buf = telemetry.EventID(user, c.Canonical(ev, true), buf)
			arena = telemetry.AppendRecorded(arena, []byte(`"2026-11-27T10:15:02.118Z"`), ev.Raw())
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkObserve is the metrics projection's per-event parse of a stored event.
func BenchmarkObserve(b *testing.B) {
	g := tt.NewGenerator(1, "3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34", time.Now())
	var datas [][]byte
	for range 1000 {
		ev := g.Next()
		raw := tt.Payload(ev)
		var d telemetry.Doc
		_ = d.Parse(raw)
		e := d.Root().Get("events")
		for _, x := range e.Elements() {
			datas = append(datas, telemetry.AppendRecorded(nil, []byte(`"2026-11-27T10:15:02.118Z"`), append([]byte{}, x.Raw()...)))
		}
	}
	var r telemetry.Observer
	var o telemetry.Observation
	b.ReportAllocs()
	for b.Loop() {
		for _, data := range datas {
			if err := r.Observe(telemetry.TypeTextChanged, data, &o); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}
