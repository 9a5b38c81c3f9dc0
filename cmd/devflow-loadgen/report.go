package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the run's outcome; its JSON form is the machine-readable output.
type report struct {
	// AcceptedToRaw is the headline with a baseline: accepted events/s with the
	// projections live ÷ the baseline's raw CopyFrom events/s, in the same run.
	AcceptedToRaw     *float64         `json:"accepted_to_raw_ratio,omitempty"`
	Baseline          *baselineReport  `json:"baseline,omitempty"`
	BaseURL           string           `json:"base_url"`
	Workload          string           `json:"workload"` // with "heartbeats", events are heartbeats
	Users             int              `json:"users"`
	BatchSize         int              `json:"batch_size"`
	TargetRate        float64          `json:"target_events_per_second"` // 0: flat out
	ElapsedSeconds    float64          `json:"elapsed_seconds"`
	Requests          int64            `json:"requests"`
	EventsSent        int64            `json:"events_sent"`
	EventsAccepted    int64            `json:"events_accepted"`
	EventsDuplicate   int64            `json:"events_duplicate"`
	EventsRejected    int64            `json:"events_rejected"`
	AcceptedPerSecond float64          `json:"accepted_events_per_second"`
	LatencyMS         percentiles      `json:"latency_ms"`
	Errors            map[string]int64 `json:"errors_by_status"` // status code or "transport"
	Lag               *lagReport       `json:"projection_lag,omitempty"`
	Freshness         *freshnessReport `json:"read_after_write,omitempty"`
	RSS               *rssReport       `json:"server_rss_bytes,omitempty"`
	StatusBar         *statusBarReport `json:"statusbar,omitempty"`
}

type percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

type lagReport struct {
	Errors       int       `json:"errors"`
	LastError    string    `json:"last_error,omitempty"`
	DuringRun    *lagPhase `json:"during_run,omitempty"`    // sampled while the clients sent
	AfterSending *lagPhase `json:"after_sending,omitempty"` // the drain, and one last sample
	DrainSeconds *float64  `json:"drain_seconds,omitempty"` // after sending, time to lag 0
}

type lagPhase struct {
	Samples int          `json:"samples"`
	Events  *percentiles `json:"events,omitempty"`
	Seconds *percentiles `json:"seconds,omitempty"`
}

func lagPhaseOf(s lagSamples) *lagPhase {
	if len(s.events) == 0 && len(s.seconds) == 0 {
		return nil
	}
	p := &lagPhase{Samples: max(len(s.events), len(s.seconds))}
	if len(s.events) > 0 {
		e := percentilesOf(s.events)
		p.Events = &e
	}
	if len(s.seconds) > 0 {
		sec := percentilesOf(s.seconds)
		p.Seconds = &sec
	}
	return p
}

type rssReport struct {
	Samples int   `json:"samples"`
	First   int64 `json:"first"`
	Max     int64 `json:"max"`
	Last    int64 `json:"last"`
	// MaxByTenth is the largest sample of each tenth of the run (from 10 samples
	// on), so that a soak shows whether memory levels off or keeps growing.
	MaxByTenth []int64 `json:"max_by_tenth,omitempty"`
	Error      string  `json:"error,omitempty"`
}

// maxByTenth is the largest of each tenth of samples; nil below 10 samples.
func maxByTenth(samples []int64) []int64 {
	n := len(samples)
	if n < 10 {
		return nil
	}
	out := make([]int64, 10)
	for i := range out {
		out[i] = slices.Max(samples[i*n/10 : (i+1)*n/10])
	}
	return out
}

// percentilesOf uses the nearest-rank method on a sorted copy.
func percentilesOf(xs []float64) percentiles {
	if len(xs) == 0 {
		return percentiles{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return percentiles{P50: rank(0.50), P95: rank(0.95), P99: rank(0.99), Max: s[len(s)-1]}
}

func (r *runner) report(elapsed time.Duration, obs *observer, drained time.Duration, drainOK bool) *report {
	r.mu.Lock()
	ms := make([]float64, len(r.latencies))
	for i, d := range r.latencies {
		ms[i] = float64(d.Microseconds()) / 1000
	}
	failures := make(map[string]int64, len(r.failures))
	for k, v := range r.failures {
		failures[k] = v
	}
	r.mu.Unlock()

	rep := &report{
		BaseURL: r.o.baseURL, Workload: r.o.workload, Users: r.o.users, BatchSize: r.o.batch, TargetRate: r.o.rate,
		ElapsedSeconds: elapsed.Seconds(),
		Requests:       r.requests.Load(), EventsSent: r.sent.Load(),
		EventsAccepted: r.accepted.Load(), EventsDuplicate: r.duplicates.Load(), EventsRejected: r.rejected.Load(),
		LatencyMS: percentilesOf(ms), Errors: failures,
	}
	if elapsed > 0 {
		rep.AcceptedPerSecond = float64(rep.EventsAccepted) / elapsed.Seconds()
	}

	obs.mu.Lock()
	defer obs.mu.Unlock()
	if r.lag != nil {
		l := &lagReport{Errors: obs.lagErrors,
			DuringRun: lagPhaseOf(obs.lag[whileSending]), AfterSending: lagPhaseOf(obs.lag[afterSending])}
		if obs.lastLagErr != nil {
			l.LastError = obs.lastLagErr.Error()
		}
		if drainOK {
			s := drained.Seconds()
			l.DrainSeconds = &s
		}
		rep.Lag = l
	}
	if r.o.pid != 0 || len(obs.rss) > 0 {
		rr := &rssReport{Samples: len(obs.rss)}
		if len(obs.rss) > 0 {
			rr.First, rr.Last, rr.Max = obs.rss[0], obs.rss[len(obs.rss)-1], slices.Max(obs.rss)
			rr.MaxByTenth = maxByTenth(obs.rss)
		}
		if obs.rssErr != nil {
			rr.Error = obs.rssErr.Error()
		}
		rep.RSS = rr
	}
	return rep
}

// setBaseline adds the baseline, when there is one, and the ratio to it.
func (rep *report) setBaseline(b *baselineReport) {
	rep.Baseline = b
	if b != nil && b.EventsPerSecond > 0 {
		ratio := rep.AcceptedPerSecond / b.EventsPerSecond
		rep.AcceptedToRaw = &ratio
	}
}

func (rep *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func (rep *report) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	target := "flat out"
	if rep.TargetRate > 0 {
		target = fmt.Sprintf("%.0f events/s", rep.TargetRate)
	}
	if rep.AcceptedToRaw != nil {
		row("accepted / raw CopyFrom", "%.2f (%.0f / %.0f events/s)", *rep.AcceptedToRaw, rep.AcceptedPerSecond, rep.Baseline.EventsPerSecond)
	}
	row("target", "%s, %s workload, %d users, batches of %d, %s", rep.BaseURL, rep.Workload, rep.Users, rep.BatchSize, target)
	if b := rep.Baseline; b != nil {
		row("baseline: raw CopyFrom", "%.0f events/s (%d events by %d writers in %.1f s, one transaction per batch)",
			b.EventsPerSecond, b.EventsCopied, b.Writers, b.ElapsedSeconds)
	}
	row("elapsed", "%.1f s", rep.ElapsedSeconds)
	row("requests", "%d", rep.Requests)
	row("events sent", "%d", rep.EventsSent)
	row("events accepted", "%d (duplicates %d, rejected %d)", rep.EventsAccepted, rep.EventsDuplicate, rep.EventsRejected)
	row("accepted events/s", "%.0f", rep.AcceptedPerSecond)
	row("latency p50/p95/p99", "%.1f / %.1f / %.1f ms (max %.1f)", rep.LatencyMS.P50, rep.LatencyMS.P95, rep.LatencyMS.P99, rep.LatencyMS.Max)
	if len(rep.Errors) == 0 {
		row("errors", "none")
	} else {
		keys := make([]string, 0, len(rep.Errors))
		for k := range rep.Errors {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s: %d", k, rep.Errors[k])
		}
		row("errors", "%s", strings.Join(parts, ", "))
	}
	if l := rep.Lag; l != nil {
		lagRows := func(when string, p *lagPhase) {
			if p == nil {
				return
			}
			if s := p.Seconds; s != nil {
				row("projection lag "+when+" p50/p99/max", "%.3f / %.3f / %.3f s (%d samples)", s.P50, s.P99, s.Max, p.Samples)
			}
			if e := p.Events; e != nil {
				row("projection lag (events) "+when+" p50/p99/max", "%.0f / %.0f / %.0f", e.P50, e.P99, e.Max)
			}
		}
		lagRows("during the run", l.DuringRun)
		lagRows("after sending", l.AfterSending)
		if l.DrainSeconds != nil {
			row("drained after sending", "%.2f s", *l.DrainSeconds)
		}
		if l.Errors > 0 {
			row("lag sampling errors", "%d (last: %s)", l.Errors, l.LastError)
		}
	}
	if f := rep.Freshness; f != nil {
		if f.MS != nil {
			row("read-after-write p50/p99/max", "%.0f / %.0f / %.0f ms (%d of %d probes seen)", f.MS.P50, f.MS.P99, f.MS.Max, f.Seen, f.Probes)
		} else {
			row("read-after-write", "no probe seen (%d probes)", f.Probes)
		}
		if f.Errors > 0 {
			row("freshness probe errors", "%d (last: %s)", f.Errors, f.LastError)
		}
	}
	if s := rep.StatusBar; s != nil {
		row("statusbar/today p50/p99/max", "%.1f / %.1f / %.1f ms (%d reads at %.0f/s; history %d days, %d heartbeats, seeded in %.1f s; today %.0f s)",
			s.LatencyMS.P50, s.LatencyMS.P99, s.LatencyMS.Max, s.Requests, s.Rate, s.HistoryDays, s.HistoryHeartbeats, s.SeedSeconds, s.TodaySeconds)
		if len(s.Errors) > 0 {
			row("statusbar errors", "%v", s.Errors)
		}
	}
	if s := rep.RSS; s != nil {
		if s.Samples > 0 {
			mb := func(b int64) float64 { return float64(b) / (1 << 20) }
			row("server RSS first/max/last", "%.1f / %.1f / %.1f MB", mb(s.First), mb(s.Max), mb(s.Last))
			if s.MaxByTenth != nil {
				tenths := make([]string, len(s.MaxByTenth))
				for i, b := range s.MaxByTenth {
					tenths[i] = fmt.Sprintf("%.0f", mb(b))
				}
				row("server RSS max by tenth of the run", "%s MB", strings.Join(tenths, " / "))
			}
		} else {
			row("server RSS", "unavailable: %s", s.Error)
		}
	}
	return tw.Flush()
}
