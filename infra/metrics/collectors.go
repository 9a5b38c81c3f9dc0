package metrics

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// ProjectionStatus is one projection's progress through the log, as the engine reports it.
type ProjectionStatus struct {
	Name string
	// Checkpoint and Head are the same monotonic measure of log position (for the
	// Postgres log, the global sequence) for the projection's checkpoint and the log's
	// last event.
	Checkpoint uint64
	Head       uint64
	// LagEvents counts the events after the checkpoint; LagSeconds is the age of the
	// oldest of them (0 when caught up), the number the lag target is stated in.
	LagEvents  uint64
	LagSeconds float64
	// Parked counts the events the projection could not apply and set aside.
	Parked uint64
}

// ProjectionStatusFunc reports every projection's status; the projection engine
// provides it.
type ProjectionStatusFunc func(ctx context.Context) ([]ProjectionStatus, error)

var (
	projCheckpointDesc = prometheus.NewDesc("devflow_projection_checkpoint",
		"Log position of the projection's checkpoint.", []string{"projection"}, nil)
	projHeadDesc = prometheus.NewDesc("devflow_projection_head",
		"Log position of the last event in the log.", []string{"projection"}, nil)
	projLagEventsDesc = prometheus.NewDesc("devflow_projection_lag_events",
		"Events in the log not yet applied by the projection.", []string{"projection"}, nil)
	projLagSecondsDesc = prometheus.NewDesc("devflow_projection_lag_seconds",
		"Age of the oldest event not yet applied by the projection (0 when caught up).", []string{"projection"}, nil)
	projParkedDesc = prometheus.NewDesc("devflow_projection_parked_events",
		"Events the projection could not apply and parked (devflow projections retry-parked re-applies them).", []string{"projection"}, nil)
)

type projectionCollector struct{ status ProjectionStatusFunc }

func (c *projectionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- projCheckpointDesc
	ch <- projHeadDesc
	ch <- projLagEventsDesc
	ch <- projLagSecondsDesc
	ch <- projParkedDesc
}

func (c *projectionCollector) Collect(ch chan<- prometheus.Metric) {
	// Scrapes carry no context; bound the query so a stuck database cannot pile them up.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	all, err := c.status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(projLagEventsDesc, err)
		return
	}
	for _, s := range all {
		ch <- prometheus.MustNewConstMetric(projCheckpointDesc, prometheus.GaugeValue, float64(s.Checkpoint), s.Name)
		ch <- prometheus.MustNewConstMetric(projHeadDesc, prometheus.GaugeValue, float64(s.Head), s.Name)
		ch <- prometheus.MustNewConstMetric(projLagEventsDesc, prometheus.GaugeValue, float64(s.LagEvents), s.Name)
		ch <- prometheus.MustNewConstMetric(projLagSecondsDesc, prometheus.GaugeValue, s.LagSeconds, s.Name)
		ch <- prometheus.MustNewConstMetric(projParkedDesc, prometheus.GaugeValue, float64(s.Parked), s.Name)
	}
}

type poolMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*pgxpool.Stat) float64
}

func newPoolMetric(name, help string, kind prometheus.ValueType, value func(*pgxpool.Stat) float64) poolMetric {
	return poolMetric{desc: prometheus.NewDesc("devflow_db_pool_"+name, help, nil, nil), kind: kind, value: value}
}

var poolMetrics = []poolMetric{
	newPoolMetric("acquired_conns", "Connections currently checked out.", prometheus.GaugeValue,
		func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }),
	newPoolMetric("idle_conns", "Idle connections in the pool.", prometheus.GaugeValue,
		func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }),
	newPoolMetric("constructing_conns", "Connections being established.", prometheus.GaugeValue,
		func(s *pgxpool.Stat) float64 { return float64(s.ConstructingConns()) }),
	newPoolMetric("total_conns", "Connections in the pool (acquired, idle and constructing).", prometheus.GaugeValue,
		func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) }),
	newPoolMetric("max_conns", "Maximum size of the pool.", prometheus.GaugeValue,
		func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }),
	newPoolMetric("acquires_total", "Successful connection acquisitions.", prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.AcquireCount()) }),
	newPoolMetric("acquire_duration_seconds_total", "Total time spent acquiring connections.", prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return s.AcquireDuration().Seconds() }),
	newPoolMetric("empty_acquires_total", "Acquisitions that had to wait for a connection.", prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }),
	newPoolMetric("canceled_acquires_total", "Acquisitions canceled by their context.", prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.CanceledAcquireCount()) }),
	newPoolMetric("new_conns_total", "Connections opened.", prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.NewConnsCount()) }),
}

type poolCollector struct{ pool *pgxpool.Pool }

func newPoolCollector(pool *pgxpool.Pool) *poolCollector { return &poolCollector{pool: pool} }

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, pm := range poolMetrics {
		ch <- pm.desc
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	for _, pm := range poolMetrics {
		ch <- prometheus.MustNewConstMetric(pm.desc, pm.kind, pm.value(s))
	}
}
