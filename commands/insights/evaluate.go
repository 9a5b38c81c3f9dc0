package insights

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/insight"
	"github.com/devflow/backend/domain/recommendation"
)

// Provider is the resolved INSIGHTS_PROVIDER (decision D24).
type Provider int

// The providers an evaluation can meet at gate 1 (the zero value is none of them).
const (
	ProviderOff Provider = iota + 1
	ProviderGeminiNotConfigured
	ProviderGemini
	ProviderRules
)

// ResolveProvider applies 9.1: auto is gemini when a key is set, otherwise rules;
// gemini without a key is "not configured".
func ResolveProvider(setting string, hasKey bool) (Provider, error) {
	switch setting {
	case "", "auto":
		if hasKey {
			return ProviderGemini, nil
		}
		return ProviderRules, nil
	case "gemini":
		if hasKey {
			return ProviderGemini, nil
		}
		return ProviderGeminiNotConfigured, nil
	case "rules":
		return ProviderRules, nil
	case "off":
		return ProviderOff, nil
	}
	return 0, fmt.Errorf("INSIGHTS_PROVIDER: unknown value %q", setting)
}

// Mode says who asked for an evaluation.
type Mode string

// Modes: the trigger endpoint's real and force, and the scheduler.
const (
	ModeReal      Mode = "real"
	ModeForce     Mode = "force"
	ModeScheduled Mode = "scheduled"
)

// Outcome is an evaluation's result (9.1 step 8, or a skip).
type Outcome struct {
	Skipped          bool
	Reason           string // when skipped
	Rule             string
	StateType        string
	RecommendationID *ids.ID // nil for a normal outcome
}

// Config is the evaluation policy.
type Config struct {
	Provider   Provider
	Thresholds insight.Thresholds
	Cooldown   recommendation.Cooldown
	// VisibleWait bounds the wait for the read model after an append; past it the
	// outcome is still returned (the events are committed) and a warning is logged.
	VisibleWait time.Duration
}

// Deps are the evaluator's ports. LLM may be nil unless Config.Provider is gemini.
type Deps struct {
	Store    eventlog.Store
	Locker   Locker
	Read     ReadModel
	Sessions Sessions
	Metrics  DailyMetrics
	LLM      LLM
	Now      func() time.Time // nil: time.Now
	Log      *slog.Logger     // nil: slog.Default()
}

// Evaluator runs evaluations and demo triggers.
type Evaluator struct {
	cfg Config
	d   Deps
}

// NewEvaluator builds an evaluator; it panics on a missing port (a wiring bug).
func NewEvaluator(cfg Config, d Deps) *Evaluator {
	if d.Store == nil || d.Locker == nil || d.Read == nil || d.Sessions == nil || d.Metrics == nil {
		panic("insights: nil port")
	}
	if cfg.Provider < ProviderOff || cfg.Provider > ProviderRules {
		panic("insights: no provider")
	}
	if cfg.Provider == ProviderGemini && d.LLM == nil {
		panic("insights: gemini provider without an LLM")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if cfg.VisibleWait <= 0 {
		cfg.VisibleWait = 5 * time.Second
	}
	return &Evaluator{cfg: cfg, d: d}
}

// Evaluate runs the pipeline of 9.1 for user under the user's lock. ModeForce first
// expires the pending recommendation and skips the cooldown gate (9.2).
func (e *Evaluator) Evaluate(ctx context.Context, user ids.ID, mode Mode) (Outcome, error) {
	var out Outcome
	err := e.d.Locker.WithUserLock(ctx, user, func(ctx context.Context) error {
		var err error
		out, err = e.evaluate(ctx, user, mode)
		return err
	})
	if err != nil {
		return Outcome{}, err
	}
	log := e.d.Log.With("user_id", user.String(), "mode", string(mode))
	if out.Skipped {
		log.Info("insight evaluation skipped", "reason", out.Reason)
	} else {
		log.Info("insight evaluated", "rule", out.Rule, "state_type", out.StateType, "recommendation_id", idString(out.RecommendationID))
	}
	return out, nil
}

func (e *Evaluator) evaluate(ctx context.Context, user ids.ID, mode Mode) (Outcome, error) {
	if err := e.d.Read.CatchUp(ctx); err != nil {
		return Outcome{}, fmt.Errorf("read models: %w", err)
	}
	if mode == ModeForce {
		// Expiry happens whatever the later gates decide (9.2).
		pos, err := e.expirePending(ctx, user)
		if err != nil {
			return Outcome{}, err
		}
		e.waitVisible(ctx, pos)
	}
	now := e.d.Now()

	// 1. Provider.
	switch e.cfg.Provider {
	case ProviderOff:
		return skipped(ReasonProviderOff), nil
	case ProviderGeminiNotConfigured:
		return skipped(ReasonGeminiNotConfigured), nil
	}
	// 2. Cooldown (decision D3); force skips it.
	if mode != ModeForce {
		latest, err := e.d.Read.Latest(ctx, user)
		if err != nil {
			return Outcome{}, err
		}
		if e.cfg.Cooldown.Blocks(latest, now) {
			return skipped(ReasonCooldown), nil
		}
	}
	// 3. Current session.
	session, found, err := e.d.Sessions.Current(ctx, user)
	if err != nil {
		return Outcome{}, fmt.Errorf("current session: %w", err)
	}
	if !found {
		return skipped(ReasonNoSession), nil
	}
	// 4. Today's metrics (UTC day).
	today, err := e.d.Metrics.Day(ctx, user, now.UTC())
	if err != nil {
		return Outcome{}, fmt.Errorf("today's metrics: %w", err)
	}
	facts := insight.Facts{SessionStart: session.StartTime, Now: now, Today: today}
	// 5. Rules.
	rule, fired := e.cfg.Thresholds.FirstRule(facts)
	if !fired {
		return skipped(ReasonNoRuleFired), nil
	}
	// 6. Provider call.
	input := insight.NewInput(rule, facts)
	ev := insight.Evaluated{UserID: user, SessionID: session.ID, Mode: string(mode), TriggeredRule: rule}
	var reply insight.Reply
	if e.cfg.Provider == ProviderRules {
		reply, ev.Source = insight.RulesReply(input, e.cfg.Thresholds), insight.SourceRules
	} else {
		ev.Source = insight.SourceGemini
		reply, err = e.d.LLM.Generate(ctx, input)
		if err != nil {
			if errors.Is(ctx.Err(), context.Canceled) { // the caller went away; not the model's failure
				return Outcome{}, ctx.Err()
			}
			e.d.Log.Warn("gemini call failed", "user_id", user.String(), "rule", rule, "error", err.Error())
			return skipped(ReasonLLMFailed), nil
		}
		if err := insight.Guard(input, reply); err != nil {
			e.d.Log.Warn("gemini reply downgraded by the hallucination guard", "user_id", user.String(), "rule", rule,
				"state_type", reply.StateType, "reason", err.Error())
			ev.Downgraded, ev.GuardFailure, ev.OriginalState = true, err.Error(), reply.StateType
			reply = insight.Downgrade(reply)
		}
	}
	ev.StateType, ev.ConfidenceScore = reply.StateType, insight.Round2(reply.ConfidenceScore)

	// 7. Persist.
	var issued *recommendation.Issued
	if reply.StateType != insight.StateNormal {
		reasoning, r := reply.Reasoning, rule
		issued = &recommendation.Issued{
			RecommendationID: ids.New(), UserID: user, SessionID: session.ID,
			StateType: reply.StateType, ConfidenceScore: reply.ConfidenceScore, RecommendationType: reply.RecommendationType,
			RecommendationText: reply.RecommendationText, Reasoning: &reasoning, Evidence: reply.Evidence,
			TriggeredRule: &r, Source: ev.Source,
		}
	}
	pos, err := e.persist(ctx, user, &ev, issued)
	if err != nil {
		return Outcome{}, err
	}
	e.waitVisible(ctx, pos)
	return Outcome{Rule: rule, StateType: reply.StateType, RecommendationID: ev.RecommendationID}, nil
}

// persist appends, in one call, the expiry of every pending recommendation of the user,
// the evaluation (when ev is set) and the new recommendation (when issued is set), with
// their times set to now (9.1 step 7). A user action that ended a pending
// recommendation in the meantime fails its stream's expected version; that stream is
// then left out and the rest appended again with the same event ids.
func (e *Evaluator) persist(ctx context.Context, user ids.ID, ev *insight.Evaluated, issued *recommendation.Issued) (eventlog.Position, error) {
	pending, err := e.d.Read.PendingIDs(ctx, user)
	if err != nil {
		return eventlog.Position{}, err
	}
	now := e.d.Now()
	var tail []eventlog.Append
	if ev != nil {
		ev.EvaluatedAt = now
		if issued != nil {
			ev.RecommendationID = &issued.RecommendationID
		}
		tail = append(tail, eventlog.Append{StreamID: insight.StreamID(user), Expected: eventlog.Any(),
			Events: []eventlog.EventData{evaluatedEvent(*ev)}})
	}
	if issued != nil {
		issued.CreatedAt = now
		data, err := recommendation.Issue(*issued)
		if err != nil {
			return eventlog.Position{}, err
		}
		tail = append(tail, eventlog.Append{StreamID: recommendation.StreamID(issued.RecommendationID),
			Expected: eventlog.NoStream(), Events: []eventlog.EventData{data}})
	}
	expiries := make(map[string]eventlog.Append, len(pending))
	order := make([]string, 0, len(pending))
	for _, id := range pending {
		stream := recommendation.StreamID(id)
		// Pending means the stream holds only its issue event (revision 0).
		expiries[stream] = eventlog.Append{StreamID: stream, Expected: eventlog.Exact(0),
			Events: []eventlog.EventData{recommendation.Ending(id, user, recommendation.Expired, now)}}
		order = append(order, stream)
	}
	for attempt := 0; ; attempt++ {
		appends := make([]eventlog.Append, 0, len(order)+len(tail))
		for _, s := range order {
			if a, ok := expiries[s]; ok {
				appends = append(appends, a)
			}
		}
		appends = append(appends, tail...)
		if len(appends) == 0 {
			return eventlog.Position{}, nil
		}
		results, err := e.d.Store.Append(ctx, appends...)
		var conflict *eventlog.ConflictError
		if errors.As(err, &conflict) && attempt < len(order) {
			if _, ok := expiries[conflict.StreamID]; ok {
				delete(expiries, conflict.StreamID) // already ended by its user
				continue
			}
		}
		if err != nil {
			return eventlog.Position{}, fmt.Errorf("append insight events: %w", err)
		}
		return lastPosition(results), nil
	}
}

// expirePending ends every pending recommendation of the user (force, 9.2).
func (e *Evaluator) expirePending(ctx context.Context, user ids.ID) (eventlog.Position, error) {
	return e.persist(ctx, user, nil, nil)
}

// waitVisible waits, bounded, until the read model shows what was appended up to pos.
func (e *Evaluator) waitVisible(ctx context.Context, pos eventlog.Position) {
	waitVisible(ctx, e.d.Read, pos, e.cfg.VisibleWait, e.d.Log)
}

func waitVisible(ctx context.Context, rm ReadModel, pos eventlog.Position, limit time.Duration, log *slog.Logger) {
	if pos == (eventlog.Position{}) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := rm.WaitFor(ctx, pos); err != nil {
		log.Warn("recommendations read model did not catch up in time", "position", pos.String(), "error", err.Error())
	}
}

func lastPosition(results []eventlog.AppendResult) eventlog.Position {
	var last eventlog.Position
	for _, r := range results {
		if last.Less(r.Position) {
			last = r.Position
		}
	}
	return last
}

func evaluatedEvent(ev insight.Evaluated) eventlog.EventData {
	data, err := json.Marshal(ev)
	if err != nil { // plain struct: cannot happen
		panic(err)
	}
	return eventlog.EventData{ID: ids.New(), Type: insight.EventEvaluated, SchemaVersion: 1, Data: data,
		Metadata: eventlog.Metadata{UserID: ev.UserID.String()}}
}

func skipped(reason string) Outcome { return Outcome{Skipped: true, Reason: reason} }

func idString(id *ids.ID) string {
	if id == nil {
		return ""
	}
	return id.String()
}
