package telemetry_test

import (
	"testing"
	"time"

	"github.com/devflow/backend/domain/telemetry"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
)

// BenchmarkDecode is the projections' per-event decoding of a stored event.
func BenchmarkDecode(b *testing.B) {
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
	var r telemetry.ClientDecoder
	b.ReportAllocs()
	for b.Loop() {
		for _, data := range datas {
			if _, err := r.Decode(telemetry.TypeTextChanged, telemetry.SchemaVersion, data); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}
