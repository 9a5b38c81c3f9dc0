// Package metrics is devFlow's Prometheus instrumentation: one private registry, the
// collectors the operator scrapes at GET /metrics, and small recording methods the rest of
// the service calls. Every method is safe on a nil *Metrics, so a package can record
// unconditionally whether or not metrics are wired in (tests, CLI commands).
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config says where /metrics is served.
type Config struct {
	// Addr, when set (METRICS_ADDR, e.g. ":9090"), serves /metrics on its own listener so
	// it can stay off the public port; when empty, /metrics is mounted on the main router.
	Addr string
}

// Metrics owns the registry and every devFlow collector.
type Metrics struct {
	cfg Config
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpInFlight prometheus.Gauge

	eventsIngested    prometheus.Counter
	eventsDuplicated  prometheus.Counter
	eventsQuarantined prometheus.Counter

	llmCalls    *prometheus.CounterVec
	llmFailures *prometheus.CounterVec
	llmDuration *prometheus.HistogramVec

	schedulerTicks *prometheus.CounterVec
}

// New builds the registry with the devFlow series plus the Go runtime and process
// collectors (process_resident_memory_bytes is the RSS the benchmarks report).
func New(cfg Config) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		cfg: cfg,
		reg: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "devflow_http_requests_total",
			Help: "HTTP requests by method, route pattern and status code.",
		}, []string{"method", "route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "devflow_http_request_duration_seconds",
			Help:    "HTTP request latency by method, route pattern and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route", "status"}),
		httpInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "devflow_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		eventsIngested: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "devflow_events_ingested_total",
			Help: "Valid telemetry events newly stored (accepted minus duplicates).",
		}),
		eventsDuplicated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "devflow_events_duplicated_total",
			Help: "Valid telemetry events already stored, hence not stored again.",
		}),
		eventsQuarantined: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "devflow_events_quarantined_total",
			Help: "Invalid telemetry events set aside in the quarantine.",
		}),
		llmCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "devflow_llm_calls_total",
			Help: "Insight provider calls by provider.",
		}, []string{"provider"}),
		llmFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "devflow_llm_failures_total",
			Help: "Insight provider calls that failed, by provider.",
		}, []string{"provider"}),
		llmDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "devflow_llm_call_duration_seconds",
			Help:    "Insight provider call latency by provider.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 25, 30},
		}, []string{"provider"}),
		schedulerTicks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "devflow_scheduler_ticks_total",
			Help: "Background scheduler ticks run by this replica, by job.",
		}, []string{"job"}),
	}
	reg.MustRegister(
		m.httpRequests, m.httpDuration, m.httpInFlight,
		m.eventsIngested, m.eventsDuplicated, m.eventsQuarantined,
		m.llmCalls, m.llmFailures, m.llmDuration,
		m.schedulerTicks,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry exposes the registry for tests and for packages that own a custom collector.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the Prometheus text exposition. A failing collector (say, the
// projection status query) is logged by promhttp and the other series are still served.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Mount registers GET /metrics on the main router unless Config.Addr gives /metrics a
// listener of its own (then the public port does not expose it).
func (m *Metrics) Mount(r chi.Router) {
	if m == nil || m.cfg.Addr != "" {
		return
	}
	r.Method(http.MethodGet, "/metrics", m.Handler())
}

// Middleware counts and times every request by chi route pattern (never the raw path,
// which would give one series per id) and status. It works both inside a chi router
// (r.Use) and wrapped around one.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Outside a chi router there is no route context yet; providing one lets the
		// router fill in the pattern we read after it returns.
		rctx := chi.RouteContext(r.Context())
		if rctx == nil {
			rctx = chi.NewRouteContext()
			r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rctx))
		}
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		m.httpInFlight.Inc()
		start := time.Now()
		defer func() {
			m.httpInFlight.Dec()
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK // the handler wrote nothing: net/http sends 200
			}
			route := rctx.RoutePattern()
			if route == "" {
				route = "unmatched"
			}
			labels := prometheus.Labels{"method": methodLabel(r.Method), "route": route, "status": strconv.Itoa(status)}
			m.httpRequests.With(labels).Inc()
			m.httpDuration.With(labels).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(ww, r)
	})
}

// methodLabel bounds the label's values: arbitrary methods would each make a series.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return "OTHER"
}

// EventsIngested records one telemetry request's outcome; pass the 202 response's
// accepted_count, duplicate_count and rejected_count as they are (accepted includes the
// duplicates, decision D16).
func (m *Metrics) EventsIngested(accepted, duplicates, quarantined int) {
	if m == nil {
		return
	}
	if n := accepted - duplicates; n > 0 {
		m.eventsIngested.Add(float64(n))
	}
	if duplicates > 0 {
		m.eventsDuplicated.Add(float64(duplicates))
	}
	if quarantined > 0 {
		m.eventsQuarantined.Add(float64(quarantined))
	}
}

// LLMCall records one insight provider call ("gemini", "rules"): its latency and, when
// err is not nil, a failure.
func (m *Metrics) LLMCall(provider string, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.llmCalls.WithLabelValues(provider).Inc()
	m.llmDuration.WithLabelValues(provider).Observe(took.Seconds())
	if err != nil {
		m.llmFailures.WithLabelValues(provider).Inc()
	}
}

// SchedulerTick records one tick of a background job ("insights", "pairing_cleanup")
// on the replica that runs it.
func (m *Metrics) SchedulerTick(job string) {
	if m == nil {
		return
	}
	m.schedulerTicks.WithLabelValues(job).Inc()
}

// ObservePool exports the pool's statistics, read at every scrape.
func (m *Metrics) ObservePool(pool *pgxpool.Pool) {
	if m == nil || pool == nil {
		return
	}
	m.reg.MustRegister(newPoolCollector(pool))
}

// ObserveProjections exports per-projection checkpoint, head and lag gauges, asking
// status at every scrape (bounded by a 5 s timeout).
func (m *Metrics) ObserveProjections(status ProjectionStatusFunc) {
	if m == nil || status == nil {
		return
	}
	m.reg.MustRegister(&projectionCollector{status: status})
}
