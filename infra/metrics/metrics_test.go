package metrics_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/metrics"
)

// scrape fetches url and parses the text exposition.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: status %d: %s", url, resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return families
}

// value returns the value of the series of family name whose labels include want, and
// whether there is one. Histograms report their sample count.
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := families[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	v, ok := value(families, name, want)
	if !ok {
		t.Fatalf("no series %s%v in the exposition", name, want)
	}
	return v
}

// newAPI builds a router shaped like the service's: the middleware on the root, an
// /api/v1 sub-router, /metrics mounted on the root.
func newAPI(m *metrics.Metrics) *httptest.Server {
	root := chi.NewRouter()
	root.Use(m.Middleware)
	m.Mount(root)
	root.Route("/api/v1", func(r chi.Router) {
		r.Get("/recommendations/{id}", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotFound)
		})
		r.Post("/telemetry", func(w http.ResponseWriter, r *http.Request) {
			m.EventsIngested(5, 2, 1)
			w.WriteHeader(http.StatusAccepted)
		})
	})
	return httptest.NewServer(root)
}

func TestMetrics_HTTPSeriesByRoutePatternAndStatusMove(t *testing.T) {
	m := metrics.New(metrics.Config{})
	srv := newAPI(m)
	defer srv.Close()

	post := func() {
		resp, err := http.Post(srv.URL+"/api/v1/telemetry", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get := func(path string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	post()
	get("/api/v1/recommendations/6f1c3a52-0000-4000-8000-000000000001")
	get("/api/v1/recommendations/6f1c3a52-0000-4000-8000-000000000002")
	get("/no/such/path")

	before := scrape(t, srv.URL+"/metrics")
	telemetry := map[string]string{"method": "POST", "route": "/api/v1/telemetry", "status": "202"}
	recs := map[string]string{"method": "GET", "route": "/api/v1/recommendations/{id}", "status": "404"}
	unmatched := map[string]string{"method": "GET", "route": "unmatched", "status": "404"}
	if got := mustValue(t, before, "devflow_http_requests_total", telemetry); got != 1 {
		t.Errorf("telemetry requests = %v, want 1", got)
	}
	if got := mustValue(t, before, "devflow_http_requests_total", recs); got != 2 {
		t.Errorf("requests by pattern = %v, want 2 (one series for both ids)", got)
	}
	if got := mustValue(t, before, "devflow_http_requests_total", unmatched); got != 1 {
		t.Errorf("unmatched requests = %v, want 1", got)
	}
	if got := mustValue(t, before, "devflow_http_request_duration_seconds", telemetry); got != 1 {
		t.Errorf("telemetry latency samples = %v, want 1", got)
	}
	for name, want := range map[string]float64{
		"devflow_events_ingested_total":    3,
		"devflow_events_duplicated_total":  2,
		"devflow_events_quarantined_total": 1,
	} {
		if got := mustValue(t, before, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// The process collector is what the benchmarks read RSS from.
	mustValue(t, before, "process_resident_memory_bytes", nil)

	post()
	after := scrape(t, srv.URL+"/metrics")
	if got := mustValue(t, after, "devflow_http_requests_total", telemetry); got != 2 {
		t.Errorf("telemetry requests after a second POST = %v, want 2", got)
	}
	if got := mustValue(t, after, "devflow_events_ingested_total", nil); got != 6 {
		t.Errorf("ingested after a second POST = %v, want 6", got)
	}
	// The scrape before was itself counted.
	if got := mustValue(t, after, "devflow_http_requests_total", map[string]string{"route": "/metrics", "status": "200"}); got < 1 {
		t.Errorf("/metrics requests = %v, want at least 1", got)
	}
}

func TestMetrics_MiddlewareAroundARouterSeesThePattern(t *testing.T) {
	m := metrics.New(metrics.Config{})
	r := chi.NewRouter()
	r.Get("/api/v1/health", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"status":"ok"}`)) })
	srv := httptest.NewServer(m.Middleware(r))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	exp := httptest.NewServer(m.Handler())
	defer exp.Close()
	got := mustValue(t, scrape(t, exp.URL), "devflow_http_requests_total",
		map[string]string{"method": "GET", "route": "/api/v1/health", "status": "200"})
	if got != 1 {
		t.Errorf("health requests = %v, want 1", got)
	}
}

func TestMetrics_LLMSchedulerProjectionsAndPool(t *testing.T) {
	m := metrics.New(metrics.Config{})
	statuses := []metrics.ProjectionStatus{{Name: "metrics", Checkpoint: 90, Head: 100, LagEvents: 10, LagSeconds: 0.25, Parked: 2}}
	m.ObserveProjections(func(ctx context.Context) ([]metrics.ProjectionStatus, error) { return statuses, nil })
	// pgxpool connects lazily: a pool that never reached a server still has statistics.
	pool, err := pgxpool.New(context.Background(), "postgres://devflow@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	m.ObservePool(pool)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	m.LLMCall("gemini", 300*time.Millisecond, nil)
	m.LLMCall("gemini", 25*time.Second, errors.New("deadline exceeded"))
	m.LLMCall("rules", time.Millisecond, nil)
	m.SchedulerTick("insights")
	m.SchedulerTick("insights")

	got := scrape(t, srv.URL)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"devflow_llm_calls_total", map[string]string{"provider": "gemini"}, 2},
		{"devflow_llm_failures_total", map[string]string{"provider": "gemini"}, 1},
		{"devflow_llm_call_duration_seconds", map[string]string{"provider": "gemini"}, 2},
		{"devflow_llm_calls_total", map[string]string{"provider": "rules"}, 1},
		{"devflow_scheduler_ticks_total", map[string]string{"job": "insights"}, 2},
		{"devflow_projection_checkpoint", map[string]string{"projection": "metrics"}, 90},
		{"devflow_projection_head", map[string]string{"projection": "metrics"}, 100},
		{"devflow_projection_lag_events", map[string]string{"projection": "metrics"}, 10},
		{"devflow_projection_lag_seconds", map[string]string{"projection": "metrics"}, 0.25},
		{"devflow_projection_parked_events", map[string]string{"projection": "metrics"}, 2},
		{"devflow_db_pool_max_conns", nil, float64(pool.Config().MaxConns)},
		{"devflow_db_pool_acquired_conns", nil, 0},
	}
	for _, c := range checks {
		if v := mustValue(t, got, c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	for _, name := range []string{"devflow_db_pool_idle_conns", "devflow_db_pool_total_conns",
		"devflow_db_pool_acquires_total", "devflow_db_pool_empty_acquires_total"} {
		mustValue(t, got, name, nil)
	}

	// The gauges follow the engine from one scrape to the next.
	statuses[0].Checkpoint, statuses[0].LagEvents, statuses[0].LagSeconds = 100, 0, 0
	got = scrape(t, srv.URL)
	if v := mustValue(t, got, "devflow_projection_lag_events", map[string]string{"projection": "metrics"}); v != 0 {
		t.Errorf("lag after catching up = %v, want 0", v)
	}
}

func TestMetrics_FailingProjectionStatusKeepsTheOtherSeries(t *testing.T) {
	m := metrics.New(metrics.Config{})
	m.ObserveProjections(func(ctx context.Context) ([]metrics.ProjectionStatus, error) {
		return nil, errors.New("database unreachable")
	})
	m.SchedulerTick("insights")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	got := scrape(t, srv.URL)
	if v := mustValue(t, got, "devflow_scheduler_ticks_total", map[string]string{"job": "insights"}); v != 1 {
		t.Errorf("scheduler ticks = %v, want 1", v)
	}
	if _, ok := got["devflow_projection_lag_events"]; ok {
		t.Error("lag series served although the status query failed")
	}
}

func TestMetrics_NilIsANoOp(t *testing.T) {
	var m *metrics.Metrics
	m.EventsIngested(1, 0, 0)
	m.LLMCall("gemini", time.Second, nil)
	m.SchedulerTick("insights")
	m.ObservePool(nil)
	m.ObserveProjections(nil)
	r := chi.NewRouter()
	m.Mount(r)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	rec := httptest.NewRecorder()
	m.Middleware(ok).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusTeapot {
		t.Errorf("nil middleware changed the response: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil Mount served /metrics: %d", rec.Code)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestModule_MetricsAddrServesOnItsOwnPortAndNotOnTheMainRouter(t *testing.T) {
	addr := freeAddr(t)
	var m *metrics.Metrics
	app := fxtest.New(t, metrics.Module, fx.Supply(config.Config{MetricsAddr: addr}), fx.Populate(&m))
	app.RequireStart()
	defer app.RequireStop()

	m.SchedulerTick("pairing_cleanup")
	got := scrape(t, "http://"+addr+"/metrics")
	if v := mustValue(t, got, "devflow_scheduler_ticks_total", map[string]string{"job": "pairing_cleanup"}); v != 1 {
		t.Errorf("ticks on the metrics port = %v, want 1", v)
	}

	// The operators' port serves the Go profiler too; the public router does not.
	prof, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(prof.Body)
	prof.Body.Close()
	if prof.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("pprof on the metrics port: %d %.80s", prof.StatusCode, body)
	}

	main := newAPI(m)
	defer main.Close()
	if resp, err := http.Get(main.URL + "/debug/pprof/"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("main router /debug/pprof/: %v, %v", resp, err)
	}
	resp, err := http.Get(main.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("main router /metrics with METRICS_ADDR set: status %d, want 404", resp.StatusCode)
	}
}
