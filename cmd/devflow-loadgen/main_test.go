package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeDevflow implements just what the load generator calls: register (sets the session
// cookie), token minting (requires it), and telemetry, which validates every event
// against the contract's required fields and counts what it accepts. /metrics serves a
// projection lag that falls by one at each scrape.
type fakeDevflow struct {
	failEvery int // answer 503 to every n-th telemetry request, storing nothing

	mu         sync.Mutex
	sessions   map[string]bool // cookie values
	tokens     map[string]bool
	telemetry  int
	failed     int
	stored     int64
	invalid    []string
	events     []map[string]any
	lagScrapes int
}

func newFake() *fakeDevflow {
	return &fakeDevflow{sessions: map[string]bool{}, tokens: map[string]bool{}}
}

func (f *fakeDevflow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method + " " + r.URL.Path {
	case "POST /api/v1/auth/register":
		var body struct{ Email, Password string }
		if json.NewDecoder(r.Body).Decode(&body) != nil || !strings.Contains(body.Email, "@") || len(body.Password) < 8 {
			reply(400, map[string]string{"error": "Validation failed"})
			return
		}
		jwt := fmt.Sprintf("jwt-%d", len(f.sessions))
		f.sessions[jwt] = true
		http.SetCookie(w, &http.Cookie{Name: "dvf_session", Value: jwt, Path: "/", HttpOnly: true})
		reply(201, map[string]any{"user": map[string]string{"email": body.Email}, "token": jwt})
	case "POST /api/v1/auth/tokens":
		c, err := r.Cookie("dvf_session")
		if err != nil || !f.sessions[c.Value] {
			reply(401, map[string]string{"error": "Unauthorized"})
			return
		}
		tok := fmt.Sprintf("dvf_%043d", len(f.tokens))
		f.tokens[tok] = true
		reply(201, map[string]any{"id": "x", "name": "devflow-loadgen", "token": tok})
	case "POST /api/v1/telemetry":
		if !f.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] {
			reply(401, map[string]string{"error": "Unauthorized"})
			return
		}
		f.telemetry++
		if f.failEvery > 0 && f.telemetry%f.failEvery == 0 {
			f.failed++
			reply(503, map[string]string{"error": "Service unavailable"})
			return
		}
		var env map[string]any
		if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
			reply(400, map[string]string{"error": "Validation failed", "message": "malformed JSON"})
			return
		}
		if problem := checkEnvelope(env); problem != "" {
			f.invalid = append(f.invalid, problem)
			reply(400, map[string]string{"error": "Validation failed", "message": problem})
			return
		}
		events := env["events"].([]any)
		accepted, rejected := 0, 0
		for i, raw := range events {
			e, _ := raw.(map[string]any)
			if problem := checkEvent(e); problem != "" {
				f.invalid = append(f.invalid, fmt.Sprintf("event %d: %s", i, problem))
				rejected++
				continue
			}
			accepted++
			f.events = append(f.events, e)
		}
		f.stored += int64(accepted)
		reply(202, map[string]any{"message": "Telemetry accepted", "accepted_count": accepted,
			"duplicate_count": 0, "rejected_count": rejected, "rejected": []any{}})
	case "GET /metrics":
		lag := max(0, 3-f.lagScrapes)
		f.lagScrapes++
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE devflow_projection_lag_events gauge\ndevflow_projection_lag_events{projection=\"metrics\"} %d\n", lag)
		fmt.Fprintf(w, "devflow_projection_lag_events{projection=\"sessions\"} 0\n")
		fmt.Fprintf(w, "# TYPE devflow_projection_lag_seconds gauge\ndevflow_projection_lag_seconds{projection=\"metrics\"} %g\n", float64(lag)/10)
		fmt.Fprintf(w, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1.23456789e+08\n")
	default:
		reply(404, map[string]string{"error": "Not found"})
	}
}

func isString(v any) bool { _, ok := v.(string); return ok }
func isNumber(v any) bool { _, ok := v.(float64); return ok }
func isBool(v any) bool   { _, ok := v.(bool); return ok }
func isInt(v any) bool    { n, ok := v.(float64); return ok && n == float64(int64(n)) }
func isTime(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

func checkEnvelope(env map[string]any) string {
	if !isString(env["workspace"]) || !isTime(env["machine_timestamp"]) {
		return "workspace or machine_timestamp"
	}
	s, ok := env["session"].(map[string]any)
	if !ok || !isNumber(s["active_minutes"]) || !isNumber(s["idle_minutes"]) || !isInt(s["total_events_collected"]) ||
		!isNumber(s["save_frequency"]) || !isNumber(s["editor_switch_frequency"]) {
		return "session snapshot"
	}
	if events, ok := env["events"].([]any); !ok || len(events) == 0 {
		return "events"
	}
	return ""
}

// checkEvent applies contract 4.2-4.4: the common fields and each type's required ones.
func checkEvent(e map[string]any) string {
	if e == nil || !isString(e["workspace"]) || !isTime(e["timestamp"]) || !isString(e["session_id"]) || len(e["session_id"].(string)) != 36 {
		return "common fields"
	}
	obj := func(k string) map[string]any { m, _ := e[k].(map[string]any); return m }
	fileOK := func() bool { f := obj("file"); return f != nil && isString(f["path"]) && isInt(f["lines"]) }
	switch e["type"] {
	case "file_save":
		if !fileOK() {
			return "file_save file"
		}
	case "text_change":
		m := obj("metrics")
		if !fileOK() || m == nil {
			return "text_change file/metrics"
		}
		for _, k := range []string{"characters_added", "characters_deleted", "change_count", "edit_duration_ms"} {
			if !isInt(m[k]) {
				return "text_change metrics." + k
			}
		}
		for _, k := range []string{"is_large_paste", "is_possible_rewrite", "is_possible_undo_cycle"} {
			if !isBool(m[k]) {
				return "text_change metrics." + k
			}
		}
		ranges, _ := m["affected_line_ranges"].([]any)
		for _, raw := range ranges {
			rg, _ := raw.(map[string]any)
			if rg == nil || !isInt(rg["start"]) || !isInt(rg["end"]) || rg["start"].(float64) < 1 || rg["end"].(float64) < rg["start"].(float64) {
				return "text_change affected_line_ranges"
			}
		}
	case "editor_switch":
		m := obj("metrics")
		if m == nil || !isNumber(m["switch_interval_seconds"]) || !isBool(m["is_cross_module_switch"]) || !isBool(m["is_rapid_context_switching"]) {
			return "editor_switch metrics"
		}
		if obj("to") == nil {
			return "editor_switch to"
		}
	case "debug_session_start":
		if d := obj("debug"); d == nil || !isString(d["name"]) || !isString(d["type"]) {
			return "debug"
		}
	case "terminal_open":
		if t := obj("terminal"); t == nil || !isString(t["name"]) {
			return "terminal"
		}
	case "git_activity":
		if g := obj("git"); g == nil || !isInt(g["changed_files_count"]) {
			return "git"
		}
	default:
		return fmt.Sprintf("unknown type %v", e["type"])
	}
	return ""
}

func runJSON(t *testing.T, args ...string) (report, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append(args, "--json", "--quiet"), &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d, stderr: %s", code, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	return rep, stderr.String()
}

func TestLoadgen_ReportsExactlyTheEventsTheServerAccepted(t *testing.T) {
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()

	rep, _ := runJSON(t, "--base-url", srv.URL+"/api/v1", "--users", "3", "--batch", "50",
		"--rate", "3000", "--duration", "2s")

	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.stored == 0 {
		t.Fatal("the server accepted no events")
	}
	if rep.EventsAccepted != fake.stored {
		t.Errorf("reported accepted %d, the server stored %d", rep.EventsAccepted, fake.stored)
	}
	if rep.EventsSent != fake.stored || rep.EventsRejected != 0 || len(fake.invalid) > 0 {
		t.Errorf("sent %d, rejected %d; the server found invalid: %v", rep.EventsSent, rep.EventsRejected, fake.invalid)
	}
	if rep.Requests != int64(fake.telemetry) || len(rep.Errors) != 0 {
		t.Errorf("requests %d (server saw %d), errors %v", rep.Requests, fake.telemetry, rep.Errors)
	}
	if len(fake.tokens) != 3 {
		t.Errorf("minted %d tokens, want one per user (3)", len(fake.tokens))
	}
	if rep.AcceptedPerSecond <= 0 || rep.LatencyMS.P99 < rep.LatencyMS.P50 || rep.LatencyMS.Max < rep.LatencyMS.P99 {
		t.Errorf("implausible rate or latency: %+v", rep)
	}
	// The rate is a ceiling: 2 s at 3000 events/s (one batch may start at the deadline).
	if rep.EventsSent > 6000+3*50 {
		t.Errorf("sent %d events at -rate 3000 for 2s", rep.EventsSent)
	}
	types := map[string]int{}
	for _, e := range fake.events {
		types[e["type"].(string)]++
	}
	if types["text_change"] <= types["editor_switch"] || types["editor_switch"] == 0 || types["file_save"] == 0 {
		t.Errorf("event mix: %v, want mostly text_change, then switches and saves", types)
	}
}

func TestLoadgen_EventCountErrorsLagAndRSS(t *testing.T) {
	fake := newFake()
	fake.failEvery = 5
	srv := httptest.NewServer(fake)
	defer srv.Close()

	rep, _ := runJSON(t, "--base-url", srv.URL+"/api/v1", "--users", "2", "--batch", "64",
		"--events", "1000", "--rate", "2500", "--lag-url", srv.URL+"/metrics", "--pid", fmt.Sprint(os.Getpid()),
		"--sample-interval", "20ms", "--drain-timeout", "5s")

	fake.mu.Lock()
	defer fake.mu.Unlock()
	if rep.EventsSent != 1000 {
		t.Errorf("sent %d events, want exactly -events 1000", rep.EventsSent)
	}
	if rep.EventsAccepted != fake.stored || fake.failed == 0 {
		t.Errorf("reported accepted %d, the server stored %d (failed %d requests)", rep.EventsAccepted, fake.stored, fake.failed)
	}
	if rep.Errors["503"] != int64(fake.failed) {
		t.Errorf("errors by status %v, the server answered 503 %d times", rep.Errors, fake.failed)
	}
	l := rep.Lag
	if l == nil || l.DuringRun == nil || l.AfterSending == nil {
		t.Fatalf("projection lag not reported both while sending and after: %+v", l)
	}
	for _, p := range []*lagPhase{l.DuringRun, l.AfterSending} {
		if p.Events == nil || p.Seconds == nil || p.Events.Max > 3 || p.Seconds.Max > 0.3 {
			t.Errorf("lag %+v, the server never reported more than 3 events / 0.3 s", p)
		}
	}
	// The fake's lag falls by one a scrape, from 3 to 0: the first sample, taken as
	// sending starts, sees 3, and sending lasts long enough (0.4 s at -rate) to see 0.
	if l.DuringRun.Events.Max != 3 || l.AfterSending.Events.Max != 0 {
		t.Errorf("lag during the run %+v, after it %+v: the phases are mixed up", l.DuringRun.Events, l.AfterSending.Events)
	}
	if l.DrainSeconds == nil {
		t.Errorf("the lag fell to 0 but no drain time was reported: %+v", l)
	}
	if rep.RSS == nil || rep.RSS.Samples == 0 || rep.RSS.Max < 1<<20 {
		t.Errorf("RSS of this test process not sampled: %+v", rep.RSS)
	}
}

func TestLoadgen_RSSFromTheServersMetricsWithoutPID(t *testing.T) {
	srv := httptest.NewServer(newFake())
	defer srv.Close()
	rep, _ := runJSON(t, "--base-url", srv.URL+"/api/v1", "--users", "1", "--events", "100", "--lag-url", srv.URL+"/metrics")
	if rep.RSS == nil || rep.RSS.Samples == 0 || rep.RSS.Max != 123456789 {
		t.Errorf("RSS %+v, want the server's process_resident_memory_bytes 123456789", rep.RSS)
	}
}

func TestLoadgen_SummaryTable(t *testing.T) {
	srv := httptest.NewServer(newFake())
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--base-url", srv.URL + "/api/v1", "--users", "1", "--events", "120", "--batch", "40"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"events accepted", "120 (duplicates 0, rejected 0)", "accepted events/s", "latency p50/p95/p99", "errors", "none"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
}

// A soak's memory reads as the largest sample of each tenth of the run: growth that
// levels off, or growth that goes on.
func TestMaxByTenth_ShowsWhetherMemoryLevelsOff(t *testing.T) {
	var samples []int64
	for i := range 25 {
		samples = append(samples, int64(min(i, 12))) // grows, then stays
	}
	got := maxByTenth(samples)
	want := []int64{1, 4, 6, 9, 11, 12, 12, 12, 12, 12} // tenths [0,2) [2,5) [5,7) [7,10) [10,12) …
	if !slices.Equal(got, want) {
		t.Fatalf("maxByTenth = %v, want %v", got, want)
	}
	if maxByTenth(samples[:9]) != nil {
		t.Fatal("fewer than 10 samples should give no tenths")
	}
}

func TestLoadgen_RefusesUnboundedOrBadRunsAndReportsSetupFailures(t *testing.T) {
	for _, args := range [][]string{
		{"--duration", "0"},
		{"--base-url", "127.0.0.1:3000"},
		{"--base-url", "ftp://example.com"},
		{"--users", "0"},
		{"--baseline", "copy"},
		{"--baseline", "raw", "--database-url", "postgres://x"},
		{"--baseline", "copy", "--database-url", "postgres://x", "--rate", "1000"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", args, code)
		}
	}

	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"error":"Internal server error"}`))
	}))
	defer refuse.Close()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--base-url", refuse.URL + "/api/v1", "--users", "1", "--events", "10", "--quiet"}, &out, &errOut); code != 1 {
		t.Errorf("setup against a failing server: exit %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), "/auth/register: status 500") {
		t.Errorf("setup failure not explained: %q", errOut.String())
	}
}

func TestParseStatusJSON_ListOrWrappedWorstProjectionCounts(t *testing.T) {
	for _, body := range []string{
		`[{"name":"metrics","lag":12,"lag_seconds":0.4},{"name":"sessions","lag":3,"lag_seconds":0.1}]`,
		`{"projections":[{"name":"metrics","lag_events":12,"lag_seconds":0.4},{"name":"sessions","lag_events":0}]}`,
	} {
		l, err := parseStatusJSON([]byte(body))
		if err != nil || l.events != 12 || l.seconds != 0.4 {
			t.Errorf("%s: got %+v, %v; want 12 events, 0.4 s", body, l, err)
		}
	}
	if _, err := parseStatusJSON([]byte(`[{"name":"metrics"}]`)); err == nil {
		t.Error("status without lag fields accepted")
	}
}

// The freshness poller reads the newest probe counted from the first of top_files
// (count descending, then path ascending): every probe's path is counted once, so a
// later probe's path must sort first.
func TestProbePath_LaterProbesSortFirstAndReadBack(t *testing.T) {
	var paths []string
	for n := 1; n <= 12; n++ {
		p := probePath(n)
		if got := probeNumber(p); got != n {
			t.Errorf("probeNumber(%q) = %d, want %d", p, got, n)
		}
		paths = append(paths, p)
	}
	sorted := slices.Clone(paths)
	slices.Sort(sorted)
	slices.Reverse(sorted)
	if !slices.Equal(sorted, paths) {
		t.Errorf("paths in probe order %v do not sort newest first", paths)
	}
	if probeNumber("src/cart/cart.ts") != 0 {
		t.Error("a path that is no probe's read as a probe")
	}
}
