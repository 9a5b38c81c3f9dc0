// Package metricsapi serves the metrics endpoints: GET /metrics/churn and
// GET /metrics/context-switching from the metrics read models (contract 3.16, 3.17),
// and POST /metrics/etl/run, the ETL run command (3.18, decision D14).
package metricsapi

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	cmdetl "github.com/devflow/backend/commands/etl"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/queries/metrics"
)

// Handler serves the metrics endpoints.
type Handler struct {
	api     *httpapi.API
	queries *metrics.Queries
	etl     *cmdetl.RunHandler
}

// NewHandler builds the handler.
func NewHandler(api *httpapi.API, queries *metrics.Queries, etl *cmdetl.RunHandler) *Handler {
	if api == nil || queries == nil || etl == nil {
		panic("metricsapi: nil dependency")
	}
	return &Handler{api: api, queries: queries, etl: etl}
}

// Routes registers the endpoints (auth kind either; the ETL run checks admin itself).
func (h *Handler) Routes(r chi.Router) {
	r = r.With(h.api.Authenticated)
	r.Get("/metrics/churn", h.churn)
	r.Get("/metrics/context-switching", h.contextSwitching)
	r.Post("/metrics/etl/run", h.etlRun)
}

const dateLayout = "2006-01-02"

// window closes every metrics answer: how the numbers were counted, and for which days
// at which grain.
type window struct {
	Definition string `json:"definition"`
	From       string `json:"from"`
	To         string `json:"to"`
	Grain      string `json:"grain"`
}

type churnDay struct {
	Date         string   `json:"date"`
	LinesAdded   int64    `json:"lines_added"`
	LinesDeleted int64    `json:"lines_deleted"`
	Ratio        *float64 `json:"ratio"`
}

type churnDaily struct {
	Ratio        *float64   `json:"ratio"`
	LinesAdded   int64      `json:"total_lines_added"`
	LinesDeleted int64      `json:"total_lines_deleted"`
	Series       []churnDay `json:"series"`
	window
}

// churnSession has metrics.SessionChurn's fields, so one converts to the other.
type churnSession struct {
	SessionID    ids.ID   `json:"session_id"`
	Ratio        *float64 `json:"ratio"`
	LinesAdded   int64    `json:"total_lines_added"`
	LinesDeleted int64    `json:"total_lines_deleted"`
}

type churnSessions struct {
	Sessions []churnSession `json:"sessions"`
	window
}

// topFile has metrics.FileCount's fields.
type topFile struct {
	Path  string `json:"path"`
	Count int64  `json:"count"`
}

type switchDay struct {
	Date             string `json:"date"`
	SwitchCount      int64  `json:"switch_count"`
	RapidSwitchCount int64  `json:"rapid_switch_count"`
}

type switchesDaily struct {
	SwitchCount      int64       `json:"switch_count"`
	RapidSwitchCount int64       `json:"rapid_switch_count"`
	TopFiles         []topFile   `json:"top_files"`
	Series           []switchDay `json:"series"`
	window
}

type switchSession struct {
	SessionID        ids.ID    `json:"session_id"`
	SwitchCount      int64     `json:"switch_count"`
	RapidSwitchCount int64     `json:"rapid_switch_count"`
	TopFiles         []topFile `json:"top_files"`
}

type switchesSessions struct {
	Sessions []switchSession `json:"sessions"`
	window
}

// params reads from, to and grain (3.16, only "session" selects the session grain)
// into the answer's window.
func params(w http.ResponseWriter, r *http.Request, definition string) (metrics.Range, window, bool) {
	q := r.URL.Query()
	rng, err := metrics.ParseRange(q.Get("from"), q.Get("to"))
	if err != nil {
		invalid(w, err)
		return rng, window{}, false
	}
	win := window{Definition: definition, From: rng.From.Format(dateLayout), To: rng.To.Format(dateLayout), Grain: "daily"}
	if q.Get("grain") == "session" {
		win.Grain = "session"
	}
	return rng, win, true
}

func invalid(w http.ResponseWriter, err error) {
	var inv *metrics.InvalidError
	if errors.As(err, &inv) {
		httpapi.WriteValidation(w, inv.Message, nil)
		return
	}
	httpapi.WriteError(w, http.StatusBadRequest, "Validation failed")
}

// answer writes 200 with body, or the query's failure.
func answer(w http.ResponseWriter, r *http.Request, body any, err error) {
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}

func (h *Handler) churn(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	rng, win, ok := params(w, r, metrics.ChurnDefinition)
	if !ok {
		return
	}
	if win.Grain == "session" {
		rows, err := h.queries.ChurnSessions(r.Context(), p.UserID, rng)
		out := churnSessions{Sessions: make([]churnSession, len(rows)), window: win}
		for i, s := range rows {
			out.Sessions[i] = churnSession(s)
		}
		answer(w, r, out, err)
		return
	}
	c, err := h.queries.ChurnDaily(r.Context(), p.UserID, rng)
	out := churnDaily{Ratio: c.Ratio, LinesAdded: c.LinesAdded, LinesDeleted: c.LinesDeleted, Series: make([]churnDay, len(c.Series)), window: win}
	for i, d := range c.Series {
		out.Series[i] = churnDay{Date: d.Date.Format(dateLayout), LinesAdded: d.LinesAdded, LinesDeleted: d.LinesDeleted, Ratio: d.Ratio}
	}
	answer(w, r, out, err)
}

func (h *Handler) contextSwitching(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	rng, win, ok := params(w, r, metrics.ContextSwitchesDefinition)
	if !ok {
		return
	}
	raw, present := r.URL.Query()["top_n"]
	var first string
	if present {
		first = raw[0]
	}
	topN, err := metrics.ParseTopN(first, present)
	if err != nil {
		invalid(w, err)
		return
	}
	if win.Grain == "session" {
		rows, err := h.queries.SwitchesSessions(r.Context(), p.UserID, rng, topN)
		out := switchesSessions{Sessions: make([]switchSession, len(rows)), window: win}
		for i, s := range rows {
			out.Sessions[i] = switchSession{SessionID: s.SessionID, SwitchCount: s.SwitchCount, RapidSwitchCount: s.RapidSwitchCount, TopFiles: topFiles(s.TopFiles)}
		}
		answer(w, r, out, err)
		return
	}
	s, err := h.queries.SwitchesDaily(r.Context(), p.UserID, rng, topN)
	out := switchesDaily{SwitchCount: s.SwitchCount, RapidSwitchCount: s.RapidSwitchCount, TopFiles: topFiles(s.TopFiles),
		Series: make([]switchDay, len(s.Series)), window: win}
	for i, d := range s.Series {
		out.Series[i] = switchDay{Date: d.Date.Format(dateLayout), SwitchCount: d.SwitchCount, RapidSwitchCount: d.RapidSwitchCount}
	}
	answer(w, r, out, err)
}

func topFiles(in []metrics.FileCount) []topFile {
	out := make([]topFile, len(in))
	for i, f := range in {
		out[i] = topFile(f)
	}
	return out
}

type etlBody struct {
	Processed       int64 `json:"processed_count"`
	WatermarkBefore int64 `json:"watermark_before"`
	WatermarkAfter  int64 `json:"watermark_after"`
	DurationMS      int64 `json:"duration_ms"`
}

func (h *Handler) etlRun(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	if p.APIToken {
		httpapi.WriteError(w, http.StatusForbidden, "API tokens cannot trigger ETL")
		return
	}
	if !h.api.IsAdmin(p) {
		httpapi.WriteError(w, http.StatusForbidden, "Admin only")
		return
	}
	res, err := h.etl.Handle(r.Context())
	switch {
	case errors.Is(err, cmdetl.ErrInFlight):
		httpapi.WriteError(w, http.StatusConflict, "ETL pass already in flight")
	case errors.Is(err, cmdetl.ErrTimedOut):
		httpapi.WriteError(w, http.StatusServiceUnavailable, "Projection catch-up timed out")
	case err != nil:
		httpapi.InternalError(w, r, err)
	default:
		httpapi.WriteJSON(w, http.StatusOK, etlBody{Processed: res.Processed, WatermarkBefore: res.Before, WatermarkAfter: res.After,
			DurationMS: res.Duration.Milliseconds()})
	}
}
