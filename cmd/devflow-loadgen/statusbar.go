package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// The statusbar probe reads GET /users/current/statusbar/today, what every WakaTime
// plugin polls for its status bar, -statusbar-rate times a second while the clients
// send, for a user of its own with -history-days of plugin history, and reports the
// read's latency. The history is seeded before the clock starts through the documented
// path for old heartbeats, `devflow import wakapi` (the API refuses heartbeats older
// than HEARTBEAT_MAX_AGE), run as -devflow-bin with -database-url, and the probe waits
// until the projections have folded it.

// maxProbesInFlight bounds the probe's concurrent reads: a server slower than the rate
// shows as errors ("overloaded"), never as an unbounded pile of goroutines.
const maxProbesInFlight = 64

type statusBarProbe struct {
	r         *runner
	cred      credential
	heartbeat int // history heartbeats imported
	seeded    time.Duration

	mu        sync.Mutex
	took      []float64 // ms
	failures  map[string]int64
	lastTotal float64
}

type statusBarReport struct {
	Rate              float64          `json:"target_requests_per_second"`
	HistoryDays       int              `json:"history_days"`
	HistoryHeartbeats int              `json:"history_heartbeats"`
	SeedSeconds       float64          `json:"seed_seconds"` // import and projection
	Requests          int              `json:"requests"`
	LatencyMS         percentiles      `json:"latency_ms"`
	Errors            map[string]int64 `json:"errors_by_status,omitempty"`
	// TodaySeconds is the last answer's grand total: the read is of a day with data.
	TodaySeconds float64 `json:"today_total_seconds"`
}

// history is days of a plugin user's past, up to now: on weekdays, a few stretches of
// work with a heartbeat every 20 s to 2 min; today, the last hour.
func history(seed uint64, days int, now time.Time) []exportedHeartbeat {
	p := newPlugin(seed, 0, now)
	var out []exportedHeartbeat
	add := func(from, to time.Time) {
		for p.now = from; ; {
			h := p.next()
			p.now = p.now.Add(time.Duration(p.rng.IntN(100)) * time.Second) // sparser than flat-out typing
			if !p.now.Before(to) {
				return
			}
			h.Time = float64(p.now.UnixMilli()) / 1e3
			out = append(out, exportedHeartbeat{h, p.userAgent, p.machine})
		}
	}
	today := now.UTC().Truncate(24 * time.Hour)
	for d := days; d >= 1; d-- {
		day := today.AddDate(0, 0, -d)
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			continue
		}
		at := day.Add(8*time.Hour + time.Duration(p.rng.IntN(120))*time.Minute)
		for range 2 + p.rng.IntN(3) {
			end := at.Add(time.Duration(40+p.rng.IntN(80)) * time.Minute)
			add(at, end)
			at = end.Add(time.Duration(20+p.rng.IntN(60)) * time.Minute)
		}
	}
	add(now.Add(-time.Hour), now.Add(-time.Second))
	return out
}

// exportedHeartbeat is a heartbeat of a Wakapi export: the user agent and machine with it.
type exportedHeartbeat struct {
	wakaHeartbeat
	UserAgent string `json:"user_agent"`
	Machine   string `json:"machine_name_id"`
}

// newStatusBarProbe enrols the probe's user, imports its history and waits for the
// projections to fold it.
func (r *runner) newStatusBarProbe(ctx context.Context, runID string) (*statusBarProbe, error) {
	email := "loadgen-" + runID + "-statusbar@example.com"
	cred, err := r.enrol(ctx, email, "loadgen-"+runID+"-password")
	if err != nil {
		return nil, fmt.Errorf("setting up the statusbar probe's user: %w", err)
	}
	began := time.Now()
	beats := history(r.o.seed^0xb5ad4eceda1ce2a9, r.o.historyDays, began)
	dir, err := os.MkdirTemp("", "devflow-loadgen-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "history.json")
	export, err := json.Marshal(beats)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(file, export, 0o600); err != nil {
		return nil, err
	}
	if !r.o.quiet {
		fmt.Fprintf(r.stderr, "statusbar: importing %d heartbeats of %d days ...\n", len(beats), r.o.historyDays)
	}
	cmd := exec.CommandContext(ctx, r.o.devflowBin, "import", "wakapi", "--file", file, "--user", email)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+r.o.databaseURL)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s import wakapi: %w: %.300s", r.o.devflowBin, err, out)
	}
	if _, ok := r.waitDrained(ctx, 10*time.Minute); !ok {
		return nil, fmt.Errorf("the projections did not fold the statusbar history within 10 minutes")
	}
	return &statusBarProbe{r: r, cred: cred, heartbeat: len(beats), seeded: time.Since(began), failures: map[string]int64{}}, nil
}

// run reads at the probe's rate until stop is done, and returns once every read has
// answered.
func (p *statusBarProbe) run(stop context.Context) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / p.r.o.statusbarRate))
	defer tick.Stop()
	slots := make(chan struct{}, maxProbesInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-stop.Done():
			return
		case <-tick.C:
		}
		select {
		case slots <- struct{}{}:
		default:
			p.record(0, "overloaded", 0)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			p.read()
		}()
	}
}

func (p *statusBarProbe) read() {
	req, err := http.NewRequest(http.MethodGet, p.r.o.baseURL+"/users/current/statusbar/today", nil)
	if err != nil {
		p.record(0, "request", 0)
		return
	}
	req.Header.Set("Authorization", basicAuth(p.cred.token))
	began := time.Now()
	resp, err := p.r.http.Do(req)
	if err != nil {
		p.record(0, "transport", 0)
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	took := time.Since(began)
	if err != nil {
		p.record(0, "transport", 0)
		return
	}
	if resp.StatusCode != http.StatusOK {
		p.record(0, strconv.Itoa(resp.StatusCode), 0)
		return
	}
	var answer struct {
		Data struct {
			GrandTotal struct {
				TotalSeconds float64 `json:"total_seconds"`
			} `json:"grand_total"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &answer) != nil {
		p.record(0, "bad body", 0)
		return
	}
	p.record(took, "", answer.Data.GrandTotal.TotalSeconds)
}

// record notes one read: its time, or why it failed.
func (p *statusBarProbe) record(took time.Duration, failure string, total float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if failure != "" {
		p.failures[failure]++
		return
	}
	p.took = append(p.took, float64(took.Microseconds())/1000)
	p.lastTotal = total
}

func (p *statusBarProbe) report() *statusBarReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	rep := &statusBarReport{Rate: p.r.o.statusbarRate, HistoryDays: p.r.o.historyDays, HistoryHeartbeats: p.heartbeat,
		SeedSeconds: p.seeded.Seconds(), Requests: len(p.took), LatencyMS: percentilesOf(p.took), TodaySeconds: p.lastTotal}
	for k, v := range p.failures {
		if rep.Errors == nil {
			rep.Errors = map[string]int64{}
		}
		rep.Errors[k] = v
		rep.Requests += int(v)
	}
	return rep
}
