// Package telemetryapi is the HTTP side of telemetry ingest: POST /api/v1/telemetry
// (contract 3.15) translated to the ingest command (the area is assembled in
// infra/app).
package telemetryapi

import (
	"errors"
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"

	cmdtelemetry "github.com/devflow/backend/commands/telemetry"
	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/telemetry"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/metrics"
)

// Handler serves POST /telemetry.
type Handler struct {
	api     *httpapi.API
	ingest  *cmdtelemetry.IngestHandler
	maxBody int64
	metrics *metrics.Metrics
	// bodies are body buffers (*[]byte) kept between requests, so that a warm ingest
	// reads each body into room it has.
	bodies sync.Pool
}

// minKeptBody is the smallest body buffer kept: small bodies cost little to allocate
// (and {} is shared).
const minKeptBody = 64 << 10

// NewHandler builds the handler; maxBody is TELEMETRY_MAX_BODY_BYTES. m may be nil.
func NewHandler(api *httpapi.API, ingest *cmdtelemetry.IngestHandler, maxBody int64, m *metrics.Metrics) *Handler {
	if api == nil || ingest == nil {
		panic("telemetryapi: nil dependency")
	}
	return &Handler{api: api, ingest: ingest, maxBody: maxBody, metrics: m}
}

// Routes registers the endpoint; authentication runs before the body is read.
func (h *Handler) Routes(r chi.Router) {
	r.With(h.api.Authenticated).Post("/telemetry", h.post)
}

type acceptedBody struct {
	Message        string                   `json:"message"`
	AcceptedCount  int                      `json:"accepted_count"`
	DuplicateCount int                      `json:"duplicate_count"`
	RejectedCount  int                      `json:"rejected_count"`
	Rejected       []cmdtelemetry.Rejection `json:"rejected"`
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, _ := httpapi.PrincipalFrom(ctx)
	var buf []byte
	if kept, ok := h.bodies.Get().(*[]byte); ok {
		buf = *kept
	}
	body, ok := httpapi.ReadBodyInto(w, r, h.maxBody, buf)
	if !ok {
		return
	}
	defer h.keep(body)
	res, err := h.ingest.Handle(ctx, cmdtelemetry.Caller{User: p.UserID, UserVerified: p.APIToken, RequestID: httpapi.RequestID(ctx)}, body)
	var invalid *cmdtelemetry.ValidationError
	switch {
	case err == nil:
	case errors.Is(err, cmdtelemetry.ErrMalformed):
		httpapi.WriteValidation(w, "malformed JSON", nil)
		return
	case errors.As(err, &invalid):
		httpapi.Logger(ctx).Info("telemetry rejected", "errors", len(invalid.Details))
		httpapi.WriteValidation(w, httpapi.SchemaMismatch, invalid.Details)
		return
	case errors.Is(err, accounts.ErrUserNotFound):
		httpapi.WriteError(w, http.StatusNotFound, "User not found")
		return
	case errors.Is(err, telemetry.ErrSessionOwnedByAnotherUser):
		httpapi.Logger(ctx).Info("telemetry session ownership conflict")
		httpapi.WriteError(w, http.StatusConflict, "Session ownership conflict")
		return
	default:
		httpapi.InternalError(w, r, err)
		return
	}
	h.metrics.EventsIngested(res.Accepted, res.Duplicates, res.RejectedCount)
	if res.RejectedCount > 0 {
		httpapi.Logger(ctx).Info("telemetry events quarantined", "quarantined", res.RejectedCount, "accepted", res.Accepted)
	}
	rejected := res.Rejected
	if rejected == nil {
		rejected = []cmdtelemetry.Rejection{}
	}
	httpapi.WriteJSON(w, http.StatusAccepted, acceptedBody{
		Message: "Telemetry accepted", AcceptedCount: res.Accepted, DuplicateCount: res.Duplicates,
		RejectedCount: res.RejectedCount, Rejected: rejected,
	})
}

// keep offers body's room to the next request; nothing refers to it once the
// response is written.
func (h *Handler) keep(body []byte) {
	if cap(body) < minKeptBody {
		return
	}
	body = body[:0]
	h.bodies.Put(&body)
}
