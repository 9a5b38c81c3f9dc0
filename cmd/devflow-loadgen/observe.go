package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// lag is the worst projection's distance from the head of the log at one moment, plus
// the server's RSS when the source exposes it (process_resident_memory_bytes).
type lag struct {
	events     float64
	seconds    float64
	rss        float64
	hasEvents  bool
	hasSeconds bool
	hasRSS     bool
}

func (l lag) caughtUp() bool {
	return (l.hasEvents && l.events == 0) || (!l.hasEvents && l.hasSeconds && l.seconds == 0)
}

// lagSource reads the projection lag from wherever the server exposes it. Sources are
// interchangeable: devFlow's Prometheus /metrics, a JSON status endpoint, or the
// devflow CLI.
type lagSource func(ctx context.Context) (lag, error)

// httpLagSource GETs url. A Prometheus exposition is read for devFlow's
// devflow_projection_lag_events / devflow_projection_lag_seconds gauges (and
// process_resident_memory_bytes, the RSS of a server without -pid); a JSON answer is
// read as projection status (see parseStatusJSON).
func httpLagSource(client *http.Client, url string) lagSource {
	return func(ctx context.Context) (lag, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return lag{}, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return lag{}, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		if err != nil {
			return lag{}, err
		}
		if resp.StatusCode != http.StatusOK {
			return lag{}, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); strings.HasSuffix(mt, "json") {
			return parseStatusJSON(body)
		}
		return parseExposition(body)
	}
}

// commandLagSource runs `devflow projections status --json` against databaseURL.
func commandLagSource(bin, databaseURL string) lagSource {
	return func(ctx context.Context) (lag, error) {
		cmd := exec.CommandContext(ctx, bin, "projections", "status", "--json")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+databaseURL)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return lag{}, fmt.Errorf("%s projections status: %w: %.200s", bin, err, stderr.String())
		}
		return parseStatusJSON(out)
	}
}

func parseExposition(body []byte) (lag, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return lag{}, fmt.Errorf("parse metrics: %w", err)
	}
	var l lag
	worst := func(name string) (float64, bool) {
		f, ok := families[name]
		if !ok || len(f.GetMetric()) == 0 {
			return 0, false
		}
		v := 0.0
		for _, m := range f.GetMetric() {
			v = math.Max(v, m.GetGauge().GetValue())
		}
		return v, true
	}
	l.events, l.hasEvents = worst("devflow_projection_lag_events")
	l.seconds, l.hasSeconds = worst("devflow_projection_lag_seconds")
	l.rss, l.hasRSS = worst("process_resident_memory_bytes")
	if !l.hasEvents && !l.hasSeconds {
		return l, errors.New("no devflow_projection_lag_* series in the metrics")
	}
	return l, nil
}

// parseStatusJSON reads projection status as a list of objects, bare or under
// "projections", each with a numeric "lag" or "lag_events" and/or "lag_seconds"; the
// worst projection counts.
func parseStatusJSON(body []byte) (lag, error) {
	var list []map[string]any
	if err := json.Unmarshal(body, &list); err != nil {
		var wrapped struct {
			Projections []map[string]any `json:"projections"`
		}
		if err := json.Unmarshal(body, &wrapped); err != nil {
			return lag{}, fmt.Errorf("projection status is not JSON: %w", err)
		}
		list = wrapped.Projections
	}
	var l lag
	for _, p := range list {
		for _, key := range []string{"lag", "lag_events"} {
			if v, ok := p[key].(float64); ok {
				l.events, l.hasEvents = math.Max(l.events, v), true
			}
		}
		if v, ok := p["lag_seconds"].(float64); ok {
			l.seconds, l.hasSeconds = math.Max(l.seconds, v), true
		}
	}
	if !l.hasEvents && !l.hasSeconds {
		return l, errors.New("projection status has no lag, lag_events or lag_seconds field")
	}
	return l, nil
}

// readRSS returns a process's resident set size in bytes from /proc/PID/status.
func readRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// observer samples lag and RSS at a fixed interval while the run lasts. Lag samples
// fall in two phases, reported apart: while the clients send (where the lag target
// applies), and after sending (the drain, and one last sample).
type observer struct {
	source   lagSource
	pid      int
	interval time.Duration

	mu         sync.Mutex
	phase      phase
	lag        [2]lagSamples // by phase
	lagErrors  int
	lastLagErr error
	rss        []int64
	rssErr     error
}

type phase int

const (
	whileSending phase = iota
	afterSending
)

type lagSamples struct{ events, seconds []float64 }

func newObserver(source lagSource, pid int, interval time.Duration) *observer {
	return &observer{source: source, pid: pid, interval: interval}
}

// sendingEnded starts the after-sending phase.
func (o *observer) sendingEnded() {
	o.mu.Lock()
	o.phase = afterSending
	o.mu.Unlock()
}

func (o *observer) loop(ctx context.Context) {
	if o.source == nil && o.pid == 0 {
		return
	}
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for {
		o.sampleOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (o *observer) sampleOnce(ctx context.Context) {
	if o.pid != 0 {
		rss, err := readRSS(o.pid)
		o.mu.Lock()
		if err != nil {
			o.rssErr = err
		} else {
			o.rss = append(o.rss, rss)
		}
		o.mu.Unlock()
	}
	if o.source != nil {
		o.mu.Lock()
		ph := o.phase // the phase the sample is taken in, whenever its answer comes
		o.mu.Unlock()
		qctx, cancel := context.WithTimeout(ctx, max(o.interval, 5*time.Second))
		l, err := o.source(qctx)
		cancel()
		if ctx.Err() != nil {
			return // the run ended mid-query; not a failure of the source
		}
		o.mu.Lock()
		if err != nil {
			o.lagErrors++
			o.lastLagErr = err
		}
		if l.hasEvents {
			o.lag[ph].events = append(o.lag[ph].events, l.events)
		}
		if l.hasSeconds {
			o.lag[ph].seconds = append(o.lag[ph].seconds, l.seconds)
		}
		if o.pid == 0 && l.hasRSS { // no local process to read: take the server's own figure
			o.rss = append(o.rss, int64(l.rss))
		}
		o.mu.Unlock()
	}
}

// progressText is the observer's part of the progress line.
func (o *observer) progressText() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b strings.Builder
	l := o.lag[whileSending]
	if n := len(l.seconds); n > 0 {
		fmt.Fprintf(&b, "  lag %.2fs", l.seconds[n-1])
	} else if n := len(l.events); n > 0 {
		fmt.Fprintf(&b, "  lag %.0f ev", l.events[n-1])
	}
	if n := len(o.rss); n > 0 {
		fmt.Fprintf(&b, "  rss %.0f MB", float64(o.rss[n-1])/(1<<20))
	}
	return b.String()
}
