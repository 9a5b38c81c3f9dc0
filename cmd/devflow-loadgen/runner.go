package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
)

type runner struct {
	o      options
	stderr io.Writer
	http   *http.Client
	lag    lagSource // nil: not measured

	// Counters read by the progress line while the senders run.
	requests   atomic.Int64
	sent       atomic.Int64
	accepted   atomic.Int64
	duplicates atomic.Int64
	rejected   atomic.Int64
	failed     atomic.Int64

	mu        sync.Mutex
	latencies []time.Duration
	failures  map[string]int64 // by status code, or "transport"
}

func newRunner(o options, stderr io.Writer) *runner {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = o.users + 4
	r := &runner{o: o, stderr: stderr, failures: map[string]int64{},
		http: &http.Client{Transport: transport, Timeout: o.timeout}}
	switch {
	case o.lagURL != "":
		r.lag = httpLagSource(r.http, o.lagURL)
	case o.databaseURL != "":
		r.lag = commandLagSource(o.devflowBin, o.databaseURL)
	}
	return r
}

// credential is one simulated user: the API token the extension sends telemetry with,
// and the sign-in the dashboard reads with (the session cookie, or the JWT when the
// server sets no cookie).
type credential struct {
	token   string
	cookies []*http.Cookie
	jwt     string
}

// signIn authenticates req as the dashboard does.
func (c credential) signIn(req *http.Request) {
	for _, k := range c.cookies {
		req.AddCookie(&http.Cookie{Name: k.Name, Value: k.Value})
	}
	if len(c.cookies) == 0 {
		req.Header.Set("Authorization", "Bearer "+c.jwt)
	}
}

func (r *runner) run(ctx context.Context) (*report, error) {
	if r.o.seed == 0 {
		r.o.seed = rand.Uint64()
	}
	var idb [4]byte
	_, _ = crand.Read(idb[:])
	runID := hex.EncodeToString(idb[:])
	creds, err := r.setup(ctx, runID)
	if err != nil {
		return nil, err
	}
	var probe *prober
	if r.o.freshness {
		cr, err := r.enrol(ctx, "loadgen-"+runID+"-probe@example.com", "loadgen-"+runID+"-password")
		if err != nil {
			return nil, fmt.Errorf("setting up the freshness probe's user: %w", err)
		}
		probe = newProber(r, cr)
	}
	var bar *statusBarProbe
	if r.o.statusbarRate > 0 {
		if bar, err = r.newStatusBarProbe(ctx, runID); err != nil {
			return nil, err
		}
	}
	var base *baselineReport
	if r.o.baseline != "" {
		if base, err = r.copyBaseline(ctx, runID); err != nil {
			return nil, err
		}
	}

	stop, cancel, budget := r.bounds(ctx)
	defer cancel()

	obs := newObserver(r.lag, r.o.pid, r.o.sample)
	obsCtx, stopObs := context.WithCancel(context.Background())
	obsDone := make(chan struct{})
	go func() { defer close(obsDone); obs.loop(obsCtx) }()
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		if probe != nil {
			probe.run(ctx, stop)
		}
	}()

	barDone := make(chan struct{})
	go func() {
		defer close(barDone)
		if bar != nil {
			bar.run(stop)
		}
	}()

	var pace *pacer
	if r.o.rate > 0 {
		pace = newPacer(r.o.rate)
	}

	start := time.Now()
	progressDone := r.progress(stop, start, obs)
	var wg sync.WaitGroup
	for i, cr := range creds {
		c := r.newSimulator(i, start)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.send(stop, c, cr, budget, pace)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cancel()
	obs.sendingEnded()
	<-progressDone

	var drained time.Duration
	drainOK := false
	if r.o.drain > 0 && r.lag != nil {
		drained, drainOK = r.waitDrained(ctx, r.o.drain)
	}
	<-barDone
	<-probeDone // its last probes wait for the projections as the drain does
	stopObs()
	<-obsDone
	obs.sampleOnce(ctx) // the state right after the load, however short the run was
	rep := r.report(elapsed, obs, drained, drainOK)
	rep.setBaseline(base)
	if probe != nil {
		rep.Freshness = probe.report()
	}
	if bar != nil {
		rep.StatusBar = bar.report()
	}
	return rep, nil
}

// newClient is the simulated extension of user i. Its seed depends only on -seed and
// i, so the copy baseline's writers generate the very events the HTTP clients send.
func (r *runner) newClient(i int, now time.Time) *client {
	simStart := now.Add(-12 * time.Hour)
	return newClient(r.o.seed+uint64(i)*7919, simStart.Add(time.Duration(i)*time.Second))
}

// bounds is one phase's sending window: stop ends at -duration (or with ctx), and
// budget, with -events, holds the events left to send (nil: no count bound). Work
// already started when stop ends is finished and counted, so that what is reported
// matches what the server stored.
func (r *runner) bounds(ctx context.Context) (stop context.Context, cancel context.CancelFunc, budget *atomic.Int64) {
	stop, cancel = context.WithCancel(ctx)
	if r.o.duration > 0 {
		stop, cancel = context.WithTimeout(ctx, r.o.duration)
	}
	if r.o.events > 0 {
		budget = new(atomic.Int64)
		budget.Store(r.o.events)
	}
	return stop, cancel, budget
}

// take reserves the next batch from budget: -batch events, fewer for the last one, 0
// once the budget is spent.
func (r *runner) take(budget *atomic.Int64) int {
	n := r.o.batch
	if budget != nil {
		if left := budget.Add(-int64(n)); left < 0 {
			n = max(n+int(left), 0)
		}
	}
	return n
}

// send is one client's loop: it ends when stop is done or the event budget is spent.
func (r *runner) send(stop context.Context, c simulator, cr credential, budget *atomic.Int64, pace *pacer) {
	for stop.Err() == nil {
		n := r.take(budget)
		if n == 0 {
			return
		}
		if pace != nil && !pace.wait(stop, n) {
			return
		}
		req, err := c.request(r.o.baseURL, cr, n, time.Now())
		if err != nil {
			r.recordError(err.Error())
			return
		}
		r.post(c, req, n)
	}
}

func (r *runner) post(c simulator, req *http.Request, n int) {
	r.sent.Add(int64(n))
	began := time.Now()
	resp, err := r.http.Do(req)
	if err != nil {
		r.record(time.Since(began), "transport")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	took := time.Since(began)
	if err != nil {
		r.record(took, "transport")
		return
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		r.record(took, strconv.Itoa(resp.StatusCode))
		return
	}
	r.record(took, "")
	accepted, duplicates, rejected := c.tally(raw, n)
	r.accepted.Add(accepted)
	r.duplicates.Add(duplicates)
	r.rejected.Add(rejected)
}

// record notes one answered (or failed) request; failure is "" for a 2xx.
func (r *runner) record(took time.Duration, failure string) {
	r.requests.Add(1)
	r.mu.Lock()
	r.latencies = append(r.latencies, took)
	if failure != "" {
		r.failures[failure]++
	}
	r.mu.Unlock()
	if failure != "" {
		r.failed.Add(1)
	}
}

func (r *runner) recordError(kind string) {
	r.mu.Lock()
	r.failures[kind]++
	r.mu.Unlock()
	r.failed.Add(1)
}

// pacer spreads a target event rate over all clients: each batch gets the next slot,
// n/rate seconds after the previous one. Slots are never saved up, so a slow server
// shows as a lower achieved rate rather than a later burst.
type pacer struct {
	mu       sync.Mutex
	next     time.Time
	perEvent time.Duration
}

func newPacer(rate float64) *pacer {
	return &pacer{perEvent: time.Duration(float64(time.Second) / rate)}
}

func (p *pacer) wait(ctx context.Context, n int) bool {
	p.mu.Lock()
	now := time.Now()
	slot := p.next
	if slot.Before(now) {
		slot = now
	}
	p.next = slot.Add(time.Duration(n) * p.perEvent)
	p.mu.Unlock()
	if d := time.Until(slot); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	return ctx.Err() == nil
}

// setup registers one user per client and mints an API token for each, as an operator
// would with curl: register (which sets the session cookie), then POST /auth/tokens with
// that cookie. bcrypt makes registration slow by design, so it runs a few at a time.
func (r *runner) setup(ctx context.Context, runID string) ([]credential, error) {
	creds := make([]credential, r.o.users)
	errs := make([]error, r.o.users)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range creds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			creds[i], errs[i] = r.enrol(ctx, fmt.Sprintf("loadgen-%s-%d@example.com", runID, i), "loadgen-"+runID+"-password")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("setting up user %d of %d: %w", i+1, r.o.users, err)
		}
	}
	return creds, nil
}

func (r *runner) enrol(ctx context.Context, email, password string) (credential, error) {
	resp, body, err := r.postJSON(ctx, "/auth/register", map[string]string{"email": email, "password": password}, nil)
	if err != nil {
		return credential{}, err
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return credential{}, fmt.Errorf("POST /auth/register: status %d: %.200s", resp.StatusCode, body)
	}
	var reg struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(body, &reg)
	cred := credential{cookies: resp.Cookies(), jwt: reg.Token}
	if len(cred.cookies) == 0 && cred.jwt == "" {
		return credential{}, fmt.Errorf("POST /auth/register: no session cookie and no token in the answer")
	}
	resp, body, err = r.postJSON(ctx, "/auth/tokens", map[string]string{"name": "devflow-loadgen"}, cred.signIn)
	if err != nil {
		return credential{}, err
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return credential{}, fmt.Errorf("POST /auth/tokens: status %d: %.200s", resp.StatusCode, body)
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.Token == "" {
		return credential{}, fmt.Errorf("POST /auth/tokens: no token in the answer: %.200s", body)
	}
	cred.token = tok.Token
	return cred, nil
}

func (r *runner) postJSON(ctx context.Context, path string, v any, decorate func(*http.Request)) (*http.Response, []byte, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.o.baseURL+path, bytes.NewReader(payload))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if decorate != nil {
		decorate(req)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}

// progress draws one updating line on stderr until stop is done; the returned channel
// closes once the line is cleared.
func (r *runner) progress(stop context.Context, start time.Time, obs *observer) <-chan struct{} {
	done := make(chan struct{})
	if r.o.quiet {
		go func() { <-stop.Done(); close(done) }()
		return done
	}
	total := r.o.events // the bar counts events, or seconds when time bounds the run
	if total == 0 {
		total = int64(r.o.duration / time.Second)
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(r.stderr),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionClearOnFinish(),
	)
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop.Done():
				_ = bar.Finish()
				_ = bar.Clear()
				return
			case <-tick.C:
			}
			elapsed := time.Since(start)
			if r.o.events > 0 {
				_ = bar.Set64(r.sent.Load())
			} else {
				_ = bar.Set64(int64(elapsed / time.Second))
			}
			desc := fmt.Sprintf("%8.0f ev/s  accepted %d  errors %d", float64(r.accepted.Load())/elapsed.Seconds(),
				r.accepted.Load(), r.failed.Load())
			desc += obs.progressText()
			bar.Describe(desc)
		}
	}()
	return done
}

// waitDrained polls the lag after sending until it is 0, for at most limit.
func (r *runner) waitDrained(ctx context.Context, limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	deadline := start.Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		l, err := r.lag(qctx)
		cancel()
		if err == nil && l.caughtUp() {
			return time.Since(start), true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start), false
}
