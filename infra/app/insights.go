package app

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
	"github.com/devflow/backend/infra/insights"
	"github.com/devflow/backend/infra/metrics"
	"github.com/devflow/backend/infra/scheduler"
	"github.com/devflow/backend/projections"
)

// InsightsModule is the insights area (its projection is in allProjections):
// the recommendation endpoints (group "routes"), and the insight scheduler, started
// and stopped with the app when INSIGHTS_ENABLED allows it.
var InsightsModule = fx.Module("insights",
	fx.Provide(
		newInsightsLocker,
		newInsightsReadModel,
		insights.NewActivity,
		newInsightsProvider,
		newEvaluator,
		newActHandler,
		fx.Annotate(newRecommendationsRoutes, fx.ResultTags(`group:"routes"`)),
	),
	fx.Invoke(runScheduler),
)

func newInsightsLocker(lc fx.Lifecycle, pool *pgxpool.Pool) (*insights.Locker, error) {
	l, err := insights.NewLocker(context.Background(), pool, insights.LockSlots)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(l.Close))
	return l, nil
}

func newInsightsReadModel(pool *pgxpool.Pool, store eventlog.Store, engine *projections.Engine) *insights.ReadModel {
	return insights.NewReadModel(pool, store, engine, insights.CatchUpLimit)
}

// insightsProvider is the resolved INSIGHTS_PROVIDER with its LLM (nil unless gemini).
type insightsProvider struct {
	kind cmdinsights.Provider
	llm  cmdinsights.LLM
}

type insightsProviderParams struct {
	fx.In
	Config  config.Config
	Log     *slog.Logger
	Metrics *metrics.Metrics `optional:"true"`
}

func newInsightsProvider(p insightsProviderParams) (insightsProvider, error) {
	kind, err := cmdinsights.ResolveProvider(string(p.Config.InsightsProvider), p.Config.GoogleAPIKey != "")
	if err != nil {
		return insightsProvider{}, err
	}
	switch kind {
	case cmdinsights.ProviderGeminiNotConfigured:
		p.Log.Warn("INSIGHTS_PROVIDER is gemini but GOOGLE_API_KEY is not set: every evaluation skips with gemini_not_configured")
	case cmdinsights.ProviderGemini:
		client, err := gemini.New(context.Background(), gemini.Config{
			APIKey: p.Config.GoogleAPIKey, Model: p.Config.GeminiModel, BaseURL: p.Config.GoogleGeminiBaseURL})
		if err != nil {
			return insightsProvider{}, err
		}
		return insightsProvider{kind: kind, llm: observedLLM{llm: client, metrics: p.Metrics}}, nil
	}
	return insightsProvider{kind: kind}, nil
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
	Provider insightsProvider
	Store    eventlog.Store
	Locker   *insights.Locker
	Read     *insights.ReadModel
	Activity *insights.Activity
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

func newActHandler(store eventlog.Store, read *insights.ReadModel, log *slog.Logger) cmdinsights.ActHandler {
	return cmdinsights.NewActHandler(store, read, nil, log)
}

func newRecommendationsRoutes(api *httpapi.API, pool *pgxpool.Pool, eval *cmdinsights.Evaluator, act cmdinsights.ActHandler) httpapi.Routes {
	return recommendationsapi.NewHandler(api, pool, eval, act)
}

type schedulerParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    config.Config
	Provider  insightsProvider
	Pool      *pgxpool.Pool
	Evaluator *cmdinsights.Evaluator
	Activity  *insights.Activity
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
		Concurrency: insights.SchedulerConcurrency,
		OnTick:      func() { p.Metrics.SchedulerTick("insights") },
	}, p.Log)
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
}
