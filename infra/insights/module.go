package insights

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	cmdinsights "github.com/devflow/backend/commands/insights"
	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/insight"
	"github.com/devflow/backend/domain/recommendation"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/gemini"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/httpapi/recommendationsapi"
	"github.com/devflow/backend/infra/metrics"
	"github.com/devflow/backend/infra/scheduler"
	"github.com/devflow/backend/projections"
)

// Process-wide limits. A running evaluation holds one lock connection (for up to the
// 25 s LLM call), so LockSlots caps evaluations in flight on this replica; the scheduler
// uses at most SchedulerConcurrency of them, leaving room for triggers.
const (
	LockSlots            = 4
	SchedulerConcurrency = 2
)

// Module is the insights area (its projection is in the app's registry):
// the recommendation endpoints (group "routes"), and the insight scheduler, started
// and stopped with the app when INSIGHTS_ENABLED allows it.
var Module = fx.Module("insights",
	fx.Provide(
		newLocker,
		newReadModel,
		NewActivity,
		newProvider,
		newEvaluator,
		newActHandler,
		fx.Annotate(newRoutes, fx.ResultTags(`group:"routes"`)),
	),
	fx.Invoke(runScheduler),
)

func newLocker(lc fx.Lifecycle, pool *pgxpool.Pool) (*Locker, error) {
	l, err := NewLocker(context.Background(), pool, LockSlots)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(l.Close))
	return l, nil
}

func newReadModel(pool *pgxpool.Pool, store eventlog.Store, engine *projections.Engine) *ReadModel {
	return NewReadModel(pool, store, engine, CatchUpLimit)
}

// provider is the resolved INSIGHTS_PROVIDER with its LLM (nil unless gemini).
type provider struct {
	kind cmdinsights.Provider
	llm  cmdinsights.LLM
}

type providerParams struct {
	fx.In
	Config  config.Config
	Log     *slog.Logger
	Metrics *metrics.Metrics `optional:"true"`
}

func newProvider(p providerParams) (provider, error) {
	kind, err := cmdinsights.ResolveProvider(string(p.Config.InsightsProvider), p.Config.GoogleAPIKey != "")
	if err != nil {
		return provider{}, err
	}
	switch kind {
	case cmdinsights.ProviderGeminiNotConfigured:
		p.Log.Warn("INSIGHTS_PROVIDER is gemini but GOOGLE_API_KEY is not set: every evaluation skips with gemini_not_configured")
	case cmdinsights.ProviderGemini:
		client, err := gemini.New(context.Background(), gemini.Config{
			APIKey: p.Config.GoogleAPIKey, Model: p.Config.GeminiModel, BaseURL: p.Config.GoogleGeminiBaseURL})
		if err != nil {
			return provider{}, err
		}
		return provider{kind: kind, llm: observedLLM{llm: client, metrics: p.Metrics}}, nil
	}
	return provider{kind: kind}, nil
}

// observedLLM records each Gemini call in the Prometheus metrics.
type observedLLM struct {
	llm     cmdinsights.LLM
	metrics *metrics.Metrics
}

func (o observedLLM) Generate(ctx context.Context, in insight.Input) (insight.Reply, error) {
	start := time.Now()
	r, err := o.llm.Generate(ctx, in)
	o.metrics.LLMCall(insight.SourceGemini, time.Since(start), err)
	return r, err
}

type evaluatorParams struct {
	fx.In
	Config   config.Config
	Provider provider
	Store    eventlog.Store
	Locker   *Locker
	Read     *ReadModel
	Activity *Activity
	Log      *slog.Logger
}

func newEvaluator(p evaluatorParams) *cmdinsights.Evaluator {
	c := p.Config
	return cmdinsights.NewEvaluator(cmdinsights.Config{
		Provider: p.Provider.kind,
		Thresholds: insight.Thresholds{
			VeryLongSessionMin: c.RuleVeryLongSessionMin,
			LongSessionMin:     c.RuleLongSessionMin,
			HighChurnRatio:     c.RuleHighChurnRatio,
			RapidSwitchCount:   c.RuleRapidSwitchCount,
			DeleteHeavyTotal:   c.RuleDeleteHeavyTotal,
		},
		Cooldown: recommendation.Cooldown{Pending: c.InsightCooldown, Snooze: c.SnoozeDuration},
	}, cmdinsights.Deps{Store: p.Store, Locker: p.Locker, Read: p.Read, Sessions: p.Activity, Metrics: p.Activity,
		LLM: p.Provider.llm, Log: p.Log})
}

func newActHandler(store eventlog.Store, read *ReadModel, log *slog.Logger) cmdinsights.ActHandler {
	return cmdinsights.NewActHandler(store, read, nil, log)
}

func newRoutes(api *httpapi.API, pool *pgxpool.Pool, eval *cmdinsights.Evaluator, act cmdinsights.ActHandler) httpapi.Routes {
	return recommendationsapi.NewHandler(api, pool, eval, act)
}

type schedulerParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    config.Config
	Provider  provider
	Pool      *pgxpool.Pool
	Evaluator *cmdinsights.Evaluator
	Activity  *Activity
	Log       *slog.Logger
	Metrics   *metrics.Metrics `optional:"true"`
}

// runScheduler starts the scheduler with the app unless INSIGHTS_ENABLED is off, or
// the provider is off (every evaluation would skip, 9.12 lets it stay idle).
func runScheduler(p schedulerParams) {
	if !p.Config.InsightsEnabled {
		p.Log.Info("insight scheduler disabled (INSIGHTS_ENABLED)")
		return
	}
	if p.Provider.kind == cmdinsights.ProviderOff {
		p.Log.Info("insight scheduler idle: INSIGHTS_PROVIDER=off")
		return
	}
	s := scheduler.New(p.Pool, p.Evaluator, p.Activity, scheduler.Config{
		Interval:    p.Config.InsightCheckInterval,
		Window:      p.Config.InsightActivityWindow,
		Concurrency: SchedulerConcurrency,
		OnTick:      func() { p.Metrics.SchedulerTick("insights") },
	}, p.Log)
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
}
