// Package recommendationsapi serves the recommendation endpoints (contract 3.19–3.22):
// the pending recommendation the extension polls, the history the dashboard lists, the
// trigger (real, force, demo) and the user's action on a recommendation.
package recommendationsapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	cmdinsights "github.com/devflow/backend/commands/insights"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/insight"
	"github.com/devflow/backend/domain/recommendation"
	"github.com/devflow/backend/infra/httpapi"
	query "github.com/devflow/backend/queries/recommendations"
)

// Answer deadlines of the trigger (3.21): the extension gives up after 30 s; the LLM
// call inside is capped at 25 s by its adapter.
const (
	evaluateDeadline = 29 * time.Second
	demoDeadline     = 9 * time.Second
)

// retryAfterBehind is the Retry-After, in seconds, of the 503 a trigger answers when a
// read model it decides from is behind the log: long enough for a lagging projection to
// drain a burst of telemetry.
const retryAfterBehind = 5

// The contract's exact sentences.
const (
	msgBehind         = "Projection catch-up timed out"
	msgLimit          = "limit must be a positive integer"
	msgMode           = "mode must be one of real, force, demo"
	msgAction         = "action must be one of accepted, dismissed, snoozed"
	msgNotFound       = "Recommendation not found"
	msgForbidden      = "Forbidden"
	msgAlreadyActedOn = "Recommendation already acted on"
)

// Handler serves the endpoints.
type Handler struct {
	api       *httpapi.API
	pool      *pgxpool.Pool
	evaluator *cmdinsights.Evaluator
	act       cmdinsights.ActHandler
}

// NewHandler builds the handler.
func NewHandler(api *httpapi.API, pool *pgxpool.Pool, evaluator *cmdinsights.Evaluator, act cmdinsights.ActHandler) *Handler {
	if api == nil || pool == nil || evaluator == nil {
		panic("recommendationsapi: nil dependency")
	}
	return &Handler{api: api, pool: pool, evaluator: evaluator, act: act}
}

// Routes registers the endpoints, all of auth kind "either".
func (h *Handler) Routes(r chi.Router) {
	r = r.With(h.api.Authenticated)
	r.Get("/recommendations/pending", h.pending)
	r.Get("/recommendations", h.list)
	r.Post("/recommendations/trigger", h.trigger)
	r.Post("/recommendations/{id}/action", h.action)
}

// view is the recommendation object of 3.19.
type view struct {
	ID                 ids.ID             `json:"id"`
	StateType          string             `json:"state_type"`
	ConfidenceScore    float64            `json:"confidence_score"`
	RecommendationType string             `json:"recommendation_type"`
	RecommendationText string             `json:"recommendation_text"`
	Reasoning          *string            `json:"reasoning"`
	Evidence           []insight.Evidence `json:"evidence"`
	TriggeredRule      *string            `json:"triggered_rule"`
	Source             string             `json:"source"`
	UserAction         *string            `json:"user_action"`
	CreatedAt          string             `json:"created_at"`
}

func toView(v query.View) view {
	evidence := v.Evidence
	if evidence == nil {
		evidence = []insight.Evidence{}
	}
	return view{ID: v.ID, StateType: v.StateType, ConfidenceScore: v.ConfidenceScore, RecommendationType: v.RecommendationType,
		RecommendationText: v.RecommendationText, Reasoning: v.Reasoning, Evidence: evidence, TriggeredRule: v.TriggeredRule,
		Source: v.Source, UserAction: v.UserAction, CreatedAt: httpapi.FormatTime(v.CreatedAt)}
}

func (h *Handler) pending(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	v, err := query.Pending(r.Context(), h.pool, p.UserID)
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	body := struct {
		Recommendation *view `json:"recommendation"`
	}{}
	if v != nil {
		out := toView(*v)
		body.Recommendation = &out
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	limit, ok := parseLimit(r)
	if !ok {
		httpapi.WriteValidation(w, msgLimit, nil)
		return
	}
	views, err := query.List(r.Context(), h.pool, p.UserID, limit)
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	out := make([]view, len(views))
	for i, v := range views {
		out[i] = toView(v)
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Recommendations []view `json:"recommendations"`
	}{out})
}

// parseLimit applies 3.20: absent is the default; present, it must be base-10 digits
// worth at least 1; anything above the maximum, however large, is the maximum.
func parseLimit(r *http.Request) (int, bool) {
	values, present := r.URL.Query()["limit"]
	if !present {
		return query.DefaultLimit, true
	}
	s := values[0]
	if s == "" {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil { // only digits: too large for an int
		return query.MaxLimit, true
	}
	if n < 1 {
		return 0, false
	}
	return min(n, query.MaxLimit), true
}

// readObject reads an optional JSON body (ReadJSON rules, which answer bad bodies). A
// valid document that is not an object (or null) is returned as ok with isObject false
// so the endpoint can answer its own sentence.
func readObject(w http.ResponseWriter, r *http.Request) (obj map[string]any, isObject bool, ok bool) {
	doc, ok := httpapi.ReadJSON(w, r)
	if !ok {
		return nil, false, false
	}
	if doc == nil { // JSON null is "no body"
		return map[string]any{}, true, true
	}
	obj, isObject = doc.(map[string]any)
	return obj, isObject, true
}

type skippedBody struct {
	Skipped bool   `json:"skipped"`
	Reason  string `json:"reason"`
}

type evaluatedBody struct {
	Skipped          bool    `json:"skipped"`
	Rule             string  `json:"rule"`
	StateType        string  `json:"state_type"`
	RecommendationID *ids.ID `json:"recommendation_id"`
}

type demoBody struct {
	Skipped          bool   `json:"skipped"`
	Mode             string `json:"mode"`
	RecommendationID ids.ID `json:"recommendation_id"`
}

type noSessionBody struct {
	Error   string `json:"error"`
	Skipped bool   `json:"skipped"`
	Reason  string `json:"reason"`
}

func (h *Handler) trigger(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	body, isObject, ok := readObject(w, r)
	if !ok {
		return
	}
	mode, known := "real", isObject
	if isObject {
		switch m := body["mode"].(type) {
		case nil:
		case string:
			mode, known = m, m == "real" || m == "force" || m == "demo"
		default:
			known = false
		}
	}
	if !known {
		httpapi.WriteValidation(w, msgMode, nil)
		return
	}

	if mode == "demo" {
		ctx, cancel := context.WithTimeout(r.Context(), demoDeadline)
		defer cancel()
		id, err := h.evaluator.Demo(ctx, p.UserID)
		if errors.Is(err, cmdinsights.ErrNoSession) {
			httpapi.WriteJSON(w, http.StatusConflict, noSessionBody{Error: "No session", Skipped: true, Reason: cmdinsights.ReasonNoSession})
			return
		}
		if err != nil {
			triggerFailed(w, r, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, demoBody{Mode: "demo", RecommendationID: id})
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), evaluateDeadline)
	defer cancel()
	out, err := h.evaluator.Evaluate(ctx, p.UserID, cmdinsights.Mode(mode))
	if err != nil {
		triggerFailed(w, r, err)
		return
	}
	if out.Skipped {
		httpapi.WriteJSON(w, http.StatusOK, skippedBody{Skipped: true, Reason: out.Reason})
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, evaluatedBody{Rule: out.Rule, StateType: out.StateType, RecommendationID: out.RecommendationID})
}

// triggerFailed answers a trigger that decided nothing: 503 with Retry-After when a
// read model it decides from is behind the log (answering from it could be wrong), 500
// otherwise.
func triggerFailed(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, cmdinsights.ErrReadModelBehind) {
		httpapi.InternalError(w, r, err)
		return
	}
	httpapi.Logger(r.Context()).Warn("trigger not evaluated: read models behind the log", "error", err.Error())
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterBehind))
	httpapi.WriteError(w, http.StatusServiceUnavailable, msgBehind)
}

func (h *Handler) action(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	body, isObject, ok := readObject(w, r)
	if !ok {
		return
	}
	raw, _ := body["action"].(string)
	action, valid := recommendation.ParseUserAction(raw)
	if !isObject || !valid {
		httpapi.WriteValidation(w, msgAction, nil)
		return
	}
	id, err := ids.Parse(chi.URLParam(r, "id"))
	if err != nil {
		httpapi.WriteError(w, http.StatusNotFound, msgNotFound)
		return
	}
	err = h.act.Handle(r.Context(), p.UserID, id, action)
	switch {
	case errors.Is(err, recommendation.ErrNotFound):
		httpapi.WriteError(w, http.StatusNotFound, msgNotFound)
	case errors.Is(err, recommendation.ErrForbidden):
		httpapi.WriteError(w, http.StatusForbidden, msgForbidden)
	case errors.Is(err, recommendation.ErrAlreadyEnded):
		httpapi.WriteError(w, http.StatusConflict, msgAlreadyActedOn)
	case err != nil:
		httpapi.InternalError(w, r, err)
	default:
		httpapi.WriteJSON(w, http.StatusOK, struct {
			ID         ids.ID `json:"id"`
			UserAction string `json:"user_action"`
		}{id, string(action)})
	}
}
