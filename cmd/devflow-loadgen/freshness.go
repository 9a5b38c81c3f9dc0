package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A prober measures read-after-write freshness as the dashboard sees it. Every sample
// interval while the clients send, it posts one editor_switch for its own user, to a
// file path of its own, and times from the 202 until GET /metrics/context-switching
// counts that switch. Its load stays negligible: one event per interval, and one small
// query per pollInterval while a probe is waiting.
//
// Probes overlap when freshness is longer than the interval, and one poller serves them
// all: every probe's path is counted once, so top_files (count descending, then path
// ascending) lists the probes in path order, and the paths count down, so the first
// entry is the newest probe counted. The log is applied in commit order and each probe
// is posted after the previous one's 202, so that probe counted means every earlier one
// is counted too.
type prober struct {
	r    *runner
	cred credential

	session string
	posted  int // probes sent so far; also the last one's number
	last    time.Time
	wake    chan struct{} // a probe is waiting, or sending has ended

	mu       sync.Mutex
	pending  []pendingProbe // accepted, not yet counted, oldest first
	sending  bool
	took     []float64 // ms, from the 202 to the first answer counting the switch
	unseen   int
	failures int
	lastErr  error
}

type pendingProbe struct {
	n     int
	day   string // the UTC day of the switch, where the dashboard counts it
	acked time.Time
}

// pollInterval is how often the dashboard's query is repeated while a probe waits: the
// resolution of the measurement, 1/50 of the second the contract expects freshness in.
const pollInterval = 20 * time.Millisecond

// probePathBase makes the paths count down: probe n's path sorts before probe n-1's.
const probePathBase = 1_000_000_000

func newProber(r *runner, cred credential) *prober {
	return &prober{r: r, cred: cred, session: newUUID(), wake: make(chan struct{}, 1), sending: true}
}

func probePath(n int) string { return fmt.Sprintf("loadgen-probe/%010d.go", probePathBase-n) }

// probeNumber is the inverse of probePath, and 0 for a path that is not a probe's.
func probeNumber(path string) int {
	digits, ok := strings.CutPrefix(path, "loadgen-probe/")
	if !ok {
		return 0
	}
	k, err := strconv.Atoi(strings.TrimSuffix(digits, ".go"))
	if err != nil {
		return 0
	}
	return probePathBase - k
}

// run probes every sample interval until stop is done, then waits until the probes
// already accepted are counted, each for at most -timeout, or until ctx is done.
func (p *prober) run(ctx, stop context.Context) {
	pollDone := make(chan struct{})
	go func() { defer close(pollDone); p.poll(ctx) }()
	tick := time.NewTicker(p.r.o.sample)
	defer tick.Stop()
	for stop.Err() == nil {
		p.probe(ctx)
		select {
		case <-stop.Done():
		case <-tick.C:
		}
	}
	p.mu.Lock()
	p.sending = false
	p.mu.Unlock()
	p.signal()
	<-pollDone
}

func (p *prober) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *prober) fail(err error) {
	p.mu.Lock()
	p.failures++
	p.lastErr = err
	p.mu.Unlock()
}

// probe posts the next switch and, once it is accepted, hands it to the poller.
func (p *prober) probe(ctx context.Context) {
	p.posted++
	now := time.Now().UTC()
	if !now.After(p.last) { // distinct, increasing timestamps, as the extension's
		now = p.last.Add(time.Millisecond)
	}
	interval := 0.0
	if !p.last.IsZero() {
		interval = now.Sub(p.last).Seconds()
	}
	p.last = now
	stamp := now.Format(timeLayout)
	body, err := json.Marshal(envelope{
		Workspace: "devflow-loadgen-probe", MachineTimestamp: stamp,
		Session: sessionSnapshot{TotalEventsCollected: p.posted},
		Events: []event{{Type: "editor_switch", Timestamp: stamp, Workspace: "devflow-loadgen-probe", SessionID: p.session,
			To:      &switchEnd{File: probePath(p.posted), Language: "go", Module: "loadgen-probe"},
			Metrics: switchMetrics{SwitchIntervalSeconds: interval}}},
	})
	if err != nil {
		p.fail(err)
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.r.o.baseURL+"/telemetry", bytes.NewReader(body))
	if err != nil {
		p.fail(err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.cred.token)
	raw, status, err := p.do(req)
	if err != nil {
		p.fail(err)
		return
	}
	var reply telemetryReply
	if status != http.StatusAccepted || json.Unmarshal(raw, &reply) != nil || reply.Accepted == nil || *reply.Accepted != 1 {
		p.fail(fmt.Errorf("POST /telemetry: status %d: %.200s", status, raw))
		return
	}
	p.mu.Lock()
	p.pending = append(p.pending, pendingProbe{n: p.posted, day: now.Format(time.DateOnly), acked: time.Now()})
	p.mu.Unlock()
	p.signal()
}

func (p *prober) do(req *http.Request) ([]byte, int, error) {
	resp, err := p.r.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return raw, resp.StatusCode, err
}

// poll repeats the dashboard's query while probes wait, and returns once sending has
// ended and no probe is waiting, or when ctx is done.
func (p *prober) poll(ctx context.Context) {
	for {
		p.mu.Lock()
		waiting, sending := len(p.pending) > 0, p.sending
		var from string
		if waiting {
			from = p.pending[0].day
		}
		p.mu.Unlock()
		switch {
		case waiting:
			p.check(ctx, from)
			select {
			case <-time.After(pollInterval):
			case <-ctx.Done():
			}
		case sending:
			select {
			case <-p.wake:
			case <-ctx.Done():
			}
		default:
			return
		}
		if ctx.Err() != nil {
			return // report counts the probes still waiting as unseen
		}
	}
}

// check asks the dashboard's query for the newest probe counted since from, and
// settles the probes it shows, and those waiting longer than -timeout.
func (p *prober) check(ctx context.Context, from string) {
	q := url.Values{"from": {from}, "to": {time.Now().UTC().Format(time.DateOnly)}, "top_n": {"1"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.r.o.baseURL+"/metrics/context-switching?"+q.Encode(), nil)
	if err != nil {
		p.fail(err)
		return
	}
	p.cred.signIn(req)
	raw, status, err := p.do(req)
	answered := time.Now()
	var switches struct {
		TopFiles []struct {
			Path string `json:"path"`
		} `json:"top_files"`
	}
	switch {
	case ctx.Err() != nil:
		return
	case err != nil:
		p.fail(err)
	case status != http.StatusOK || json.Unmarshal(raw, &switches) != nil:
		p.fail(fmt.Errorf("GET /metrics/context-switching: status %d: %.200s", status, raw))
	}
	newest := 0
	if len(switches.TopFiles) > 0 {
		newest = probeNumber(switches.TopFiles[0].Path)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	left := p.pending[:0]
	for _, pr := range p.pending {
		switch {
		case pr.n <= newest:
			p.took = append(p.took, float64(answered.Sub(pr.acked).Microseconds())/1000)
		case answered.Sub(pr.acked) > p.r.o.timeout:
			p.unseen++
		default:
			left = append(left, pr)
		}
	}
	p.pending = left
}

type freshnessReport struct {
	Probes    int          `json:"probes"` // accepted probe events
	Seen      int          `json:"seen"`
	Unseen    int          `json:"unseen"` // not counted within -timeout or by the end of the run
	Errors    int          `json:"errors"` // failed probe posts and queries
	LastError string       `json:"last_error,omitempty"`
	MS        *percentiles `json:"ms,omitempty"` // from the 202 to the first answer counting the event
}

func (p *prober) report() *freshnessReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := &freshnessReport{Seen: len(p.took), Unseen: p.unseen + len(p.pending), Errors: p.failures}
	f.Probes = f.Seen + f.Unseen
	if p.lastErr != nil {
		f.LastError = p.lastErr.Error()
	}
	if len(p.took) > 0 {
		ms := percentilesOf(p.took)
		f.MS = &ms
	}
	return f
}
