// Command devflow-loadgen simulates VS Code extension clients against a devFlow API (or
// the Node implementation: it speaks only the public HTTP API). It registers one user
// per client, mints an API token for each, then sends realistic telemetry batches at a
// fixed rate or flat out, for a duration or an event count, and reports accepted
// events/s, request latency percentiles, errors by status and, when told where to look,
// projection lag (while sending and after) and server RSS. With -baseline copy it first
// measures the raw CopyFrom ceiling of the server's own database for the same writers,
// batch size and duration, and reports accepted events/s as a share of it; with
// -freshness it times how long an accepted event takes to show on the dashboard. With
// -workload heartbeats the clients are WakaTime plugins posting heartbeat arrays; with
// -statusbar-rate it also times the plugins' status-bar read for a user with a year of
// history.
//
//	devflow-loadgen --base-url http://127.0.0.1:3000/api/v1 --users 20 --batch 100 \
//	    --rate 10000 --duration 60s --lag-url http://127.0.0.1:3000/metrics --pid 1234
//	devflow-loadgen --users 8 --batch 100 --duration 60s --baseline copy \
//	    --database-url "$DATABASE_URL" --lag-url http://127.0.0.1:3000/metrics --freshness
//	devflow-loadgen --workload heartbeats --users 8 --batch 100 --duration 30s --baseline copy \
//	    --database-url "$DATABASE_URL" --lag-url http://127.0.0.1:3000/metrics --statusbar-rate 200
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command-line settings of one run.
type options struct {
	baseURL     string
	users       int
	batch       int
	rate        float64
	duration    time.Duration
	events      int64
	timeout     time.Duration
	jsonOut     bool
	quiet       bool
	pid         int
	lagURL      string
	databaseURL string
	baseline    string
	freshness   bool
	devflowBin  string
	sample      time.Duration
	drain       time.Duration
	seed        uint64
	workload    string
	// statusbarRate > 0 adds the statusbar/today read probe (statusbar.go).
	statusbarRate float64
	historyDays   int
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("devflow-loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.baseURL, "base-url", "http://127.0.0.1:3000/api/v1", "API base URL, including /api/v1")
	fs.IntVar(&o.users, "users", 10, "simulated extension clients, one registered user and API token each")
	fs.IntVar(&o.batch, "batch", 100, "events per telemetry request")
	fs.Float64Var(&o.rate, "rate", 0, "target events/s across all clients; 0 sends flat out")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long to send; without it, -events alone bounds the run")
	fs.Int64Var(&o.events, "events", 0, "stop after sending this many events (0: no limit)")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "per-request timeout")
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON instead of a table")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line")
	fs.IntVar(&o.pid, "pid", 0, "server process id: sample its RSS from /proc/PID/status (without it, RSS comes from a Prometheus -lag-url)")
	fs.StringVar(&o.lagURL, "lag-url", "", "projection lag source: a Prometheus /metrics URL of devFlow, or a URL answering JSON projection status")
	fs.StringVar(&o.databaseURL, "database-url", "", "the server's database: for -baseline, and, without -lag-url, the projection lag source (run '<devflow-bin> projections status --json' with this DATABASE_URL)")
	fs.StringVar(&o.baseline, "baseline", "", "'copy': before the HTTP run, raw pgx CopyFrom of the same rows into a copy of the events table in -database-url (one transaction per batch, -users writers, same -batch and -duration or -events; dropped afterwards), and report accepted/raw")
	fs.BoolVar(&o.freshness, "freshness", false, "read-after-write probe: every -sample-interval one editor_switch from an extra user, timed from its 202 until GET /metrics/context-switching counts it")
	fs.StringVar(&o.devflowBin, "devflow-bin", "devflow", "devflow binary for the lag from -database-url")
	fs.DurationVar(&o.sample, "sample-interval", time.Second, "how often to sample projection lag and RSS")
	fs.DurationVar(&o.drain, "drain-timeout", 0, "after sending, wait up to this long for the projection lag to reach 0 and report how long it took")
	fs.Uint64Var(&o.seed, "seed", 0, "workload seed (0: random); session ids are always fresh")
	fs.StringVar(&o.workload, "workload", workloadExtension, "'extension': devFlow's VS Code extension (POST /telemetry); 'heartbeats': WakaTime plugins through wakatime-cli (POST /users/current/heartbeats.bulk, -batch heartbeats a request)")
	fs.Float64Var(&o.statusbarRate, "statusbar-rate", 0, "also read GET /users/current/statusbar/today this many times a second while sending, for a user with -history-days of heartbeats imported first with '<devflow-bin> import wakapi' (needs -database-url)")
	fs.IntVar(&o.historyDays, "history-days", 365, "days of history of the statusbar probe's user")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	durationSet := false
	fs.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "duration" })
	if o.events > 0 && !durationSet {
		o.duration = 0 // the event count is the bound
	}
	u, err := url.Parse(o.baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("-base-url %q: want an absolute http(s) URL such as http://127.0.0.1:3000/api/v1", o.baseURL)
	}
	o.baseURL = strings.TrimRight(o.baseURL, "/")
	switch {
	case o.users < 1:
		return o, errors.New("-users must be at least 1")
	case o.batch < 1:
		return o, errors.New("-batch must be at least 1")
	case o.rate < 0:
		return o, errors.New("-rate must not be negative")
	case o.events < 0 || o.duration < 0:
		return o, errors.New("-events and -duration must not be negative")
	case o.events == 0 && o.duration == 0:
		return o, errors.New("give -duration or -events: a run must be bounded")
	case o.sample <= 0 || o.timeout <= 0:
		return o, errors.New("-sample-interval and -timeout must be positive")
	case o.baseline != "" && o.baseline != "copy":
		return o, fmt.Errorf("-baseline %q: the one baseline is 'copy'", o.baseline)
	case o.baseline != "" && o.databaseURL == "":
		return o, errors.New("-baseline copy needs -database-url, the server's own database")
	case o.workload != workloadExtension && o.workload != workloadHeartbeats:
		return o, fmt.Errorf("-workload %q: want %q or %q", o.workload, workloadExtension, workloadHeartbeats)
	case o.statusbarRate < 0 || o.historyDays < 1:
		return o, errors.New("-statusbar-rate must not be negative and -history-days must be at least 1")
	case o.statusbarRate > 0 && o.databaseURL == "":
		return o, errors.New("-statusbar-rate needs -database-url: the probe's history is imported with '<devflow-bin> import wakapi'")
	case o.baseline != "" && o.rate > 0:
		return o, errors.New("-baseline measures a ceiling: run flat out, without -rate")
	}
	return o, nil
}

// run is the whole command; it returns the exit code (2: bad usage, 1: the run could not
// start or finish, 0: a report was printed, whatever the server answered).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "devflow-loadgen:", err)
		return 2
	}
	rep, err := newRunner(o, stderr).run(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "devflow-loadgen:", err)
		return 1
	}
	if o.jsonOut {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeTable(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "devflow-loadgen:", err)
		return 1
	}
	return 0
}
