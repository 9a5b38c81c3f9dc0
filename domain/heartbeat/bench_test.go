package heartbeat

import (
	"testing"
	"time"
)

// A heartbeat as the load generator's plugins send it.
const benchHeartbeat = `{"entity":"/home/dev/api/internal/store/postgres.go","type":"file","category":"coding","time":1799999000.123,"project":"api","project_root_count":4,"branch":"feature/search","language":"Go","dependencies":["github.com/jackc/pgx/v5","go.uber.org/fx"],"lines":412,"lineno":97,"cursorpos":31,"line_additions":0,"line_deletions":0,"is_write":false}`

func BenchmarkParse(b *testing.B) {
	client := Client{UserAgent: parserUA, Machine: "dev-box-1"}
	for _, way := range []struct {
		name  string
		parse func(p *Parser, raw []byte) error
	}{
		{"scanner", func(p *Parser, raw []byte) error { _, _, err := p.Parse(raw); return err }},
		{"general", func(p *Parser, raw []byte) error { _, _, err := p.parseAny(raw); return err }},
	} {
		b.Run(way.name, func(b *testing.B) {
			p := NewParser(user, client, parserNow, 14*24*time.Hour)
			raw := []byte(benchHeartbeat)
			b.ReportAllocs()
			for b.Loop() {
				if err := way.parse(p, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	_, ev, err := Parse(user, []byte(benchHeartbeat), Client{UserAgent: parserUA, Machine: "dev-box-1"}, parserNow, 14*24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	for _, way := range []struct {
		name   string
		decode func([]byte) bool
	}{
		{"scanner", func(d []byte) bool { _, err := Decode(SchemaVersion, d); return err == nil }},
		{"general", func(d []byte) bool { _, err := decodeAny(d); return err == nil }},
	} {
		b.Run(way.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !way.decode(ev.Data) {
					b.Fatal("not decoded")
				}
			}
		})
	}
}
