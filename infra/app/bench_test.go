package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/app/apptest"
)

// BenchmarkChurnQuery measures GET /metrics/churn over a 90-day range through the whole
// service at a steady 500 requests/s, beside the raw SQL aggregate it stands on, run at
// the same pace in the same run. Reported: p50/p99 of both and p99 ratio (API ÷ SQL).
// Target: API p99 under 5 ms.
func BenchmarkChurnQuery(b *testing.B) {
	ctx := context.Background()
	s := apptest.Start(b, map[string]string{"INSIGHTS_ENABLED": "false"})
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	post := func(path string, body any, bearer string) *http.Response {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", s.URL+path, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		return resp
	}
	resp := post("/auth/register", map[string]any{"email": "bench@example.com", "password": "correct-horse-battery"}, "")
	var reg struct{ User struct{ ID string } }
	_ = json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	resp = post("/auth/tokens", map[string]any{"name": "bench"}, "")
	var tok struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()

	// 90 days of editing and switching, one batch per day.
	end := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for d := 0; d < 90; d++ {
		day := end.AddDate(0, 0, -d)
		session := ids.New().String()
		var events []any
		for i := 0; i < 20; i++ {
			ts := day.Add(9*time.Hour + time.Duration(i)*time.Minute).Format("2006-01-02T15:04:05.000Z")
			file := fmt.Sprintf("src/mod%d/file%d.ts", i%5, i%15)
			events = append(events,
				map[string]any{"type": "text_change", "timestamp": ts, "workspace": "w", "session_id": session,
					"file": map[string]any{"path": file, "lines": 100 + i},
					"metrics": map[string]any{"characters_added": 30, "characters_deleted": 5 * (i % 3), "change_count": 1,
						"affected_line_ranges": []any{map[string]any{"start": 10, "end": 10 + i%4}}, "edit_duration_ms": 200,
						"is_large_paste": false, "is_possible_rewrite": false, "is_possible_undo_cycle": false}},
				map[string]any{"type": "editor_switch", "timestamp": ts, "workspace": "w", "session_id": session,
					"to":      map[string]any{"file": file},
					"metrics": map[string]any{"switch_interval_seconds": 12, "is_cross_module_switch": true, "is_rapid_context_switching": i%4 == 0}})
		}
		resp := post("/telemetry", map[string]any{"workspace": "w", "machine_timestamp": "2026-11-27T10:00:00.000Z",
			"session": map[string]any{"active_minutes": 1, "idle_minutes": 0, "total_events_collected": 40, "save_frequency": 0, "editor_switch_frequency": 1},
			"events":  events}, tok.Token)
		if resp.StatusCode != 202 {
			b.Fatalf("telemetry: %d", resp.StatusCode)
		}
		resp.Body.Close()
	}
	from, to := end.AddDate(0, 0, -89).Format("2006-01-02"), end.Format("2006-01-02")
	churnURL := s.URL + "/metrics/churn?from=" + from + "&to=" + to
	// Wait for the metrics projection to hold all 90 days.
	for deadline := time.Now().Add(time.Minute); ; {
		var count int
		if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM metrics_daily`).Scan(&count); err != nil {
			b.Fatal(err)
		}
		if count == 90 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("metrics_daily has %d of 90 days", count)
		}
		time.Sleep(50 * time.Millisecond)
	}

	api := func() error {
		resp, err := client.Get(churnURL)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	user := reg.User.ID
	raw := func() error {
		rows, err := s.Pool.Query(ctx, `SELECT day, lines_added, lines_deleted FROM metrics_daily
			WHERE user_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day`, user, from, to)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
		}
		return rows.Err()
	}
	b.ResetTimer()
	var apiLat, rawLat []time.Duration
	for n := 0; n < b.N; n++ {
		apiLat = append(apiLat, paced(b, 500, 2*time.Second, api)...)
		rawLat = append(rawLat, paced(b, 500, 2*time.Second, raw)...)
	}
	b.StopTimer()
	p := func(xs []time.Duration, q float64) float64 {
		slices.Sort(xs)
		return float64(xs[int(q*float64(len(xs)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(p(apiLat, 0.5), "api-p50-ms")
	b.ReportMetric(p(apiLat, 0.99), "api-p99-ms")
	b.ReportMetric(p(rawLat, 0.5), "sql-p50-ms")
	b.ReportMetric(p(rawLat, 0.99), "sql-p99-ms")
	b.ReportMetric(p(apiLat, 0.99)/p(rawLat, 0.99), "p99-ratio")
}

// paced calls fn at rate per second for d, from several goroutines, and returns each
// call's latency.
func paced(b *testing.B, rate int, d time.Duration, fn func() error) []time.Duration {
	total := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	var mu sync.Mutex
	lat := make([]time.Duration, 0, total)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < total; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			if err := fn(); err != nil {
				b.Error(err)
				return
			}
			took := time.Since(t0)
			mu.Lock()
			lat = append(lat, took)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lat
}
