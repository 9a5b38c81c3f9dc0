// Package wakatimeapi is the WakaTime-compatible API, the one every editor's WakaTime
// plugin speaks through wakatime-cli (api_url = http://HOST/api/v1): heartbeat ingest
// and the reads plugins and dashboards use (status bar, summaries, stats, projects,
// heartbeats, the user). It is mounted under /api/v1 and, for users moving from Wakapi,
// under /api/compat/wakatime/v1. The API key is a devFlow dvf_ token.
package wakatimeapi

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"

	cmdheartbeats "github.com/devflow/backend/commands/heartbeats"
	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/httpapi"
	qheartbeats "github.com/devflow/backend/queries/heartbeats"
)

// CompatPrefix is the alias Wakapi's users already have in their plugins' settings.
const CompatPrefix = "/api/compat/wakatime/v1"

// Handler serves the WakaTime-compatible endpoints.
type Handler struct {
	api     *httpapi.API
	record  *cmdheartbeats.RecordHandler
	queries *qheartbeats.Queries
	maxBody int64
	timeout float64 // WAKATIME_TIMEOUT_MINUTES, as the reads report it
	// buffers (*[]byte) keep the room of heartbeat requests' bodies and answers between
	// requests.
	buffers sync.Pool
}

// NewHandler builds the handler; maxBody bounds a heartbeat request's body.
func NewHandler(api *httpapi.API, record *cmdheartbeats.RecordHandler, queries *qheartbeats.Queries, maxBody int64, timeoutMinutes float64) *Handler {
	if api == nil || record == nil || queries == nil {
		panic("wakatimeapi: nil dependency")
	}
	return &Handler{api: api, record: record, queries: queries, maxBody: maxBody, timeout: timeoutMinutes}
}

// Routes registers the endpoints; authentication runs before the body is read.
func (h *Handler) Routes(r chi.Router) {
	r.Route("/users/{user}", func(r chi.Router) {
		r.Use(h.api.AuthenticatedBy(apiKey), h.onlyCurrent)
		r.Get("/", h.getUser)
		r.Post("/heartbeats", h.postHeartbeats)
		r.Post("/heartbeats.bulk", h.postHeartbeats)
		r.Get("/heartbeats", h.getHeartbeats)
		r.Get("/statusbar/today", h.statusBar)
		r.Get("/summaries", h.summaries)
		r.Get("/stats", h.stats)
		r.Get("/stats/{range}", h.stats)
		r.Get("/all_time_since_today", h.allTime)
		r.Get("/projects", h.projects)
	})
}

// apiKey takes the key from every form WakaTime clients send: Authorization "Basic
// base64(key)" (wakatime-cli), "Bearer base64(key)", "Bearer key", or ?api_key=key.
// Only a dvf_ API token counts; anything else is no credential.
func apiKey(r *http.Request) string {
	key := r.URL.Query().Get("api_key")
	if key == "" {
		auth := r.Header.Get("Authorization")
		if v, ok := strings.CutPrefix(auth, "Basic "); ok {
			key = decodeKey(v)
		} else if v, ok := strings.CutPrefix(auth, "Bearer "); ok {
			key = v
			if !strings.HasPrefix(v, accounts.TokenPrefix) {
				key = decodeKey(v)
			}
		}
	}
	if !strings.HasPrefix(key, accounts.TokenPrefix) {
		return ""
	}
	return key
}

func decodeKey(v string) string {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil {
		return ""
	}
	key, _, _ := strings.Cut(string(b), ":") // some clients send "key:" as user:password
	return key
}

// onlyCurrent lets a caller name themselves ("current", their id or username) and
// nobody else: another user's name is 403, never their data.
func (h *Handler) onlyCurrent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := chi.URLParam(r, "user")
		if name == "current" {
			next.ServeHTTP(w, r)
			return
		}
		p, _ := httpapi.PrincipalFrom(r.Context())
		if id, err := ids.Parse(name); err == nil && id == p.UserID {
			next.ServeHTTP(w, r)
			return
		}
		u, err := h.queries.User(r.Context(), p.UserID)
		if err != nil && !errors.Is(err, accounts.ErrUserNotFound) {
			httpapi.InternalError(w, r, err)
			return
		}
		if err == nil && u.Username == name {
			next.ServeHTTP(w, r)
			return
		}
		httpapi.WriteError(w, http.StatusForbidden, "Forbidden")
	})
}

// user reads the caller's user (for its time zone); false when it answered.
func (h *Handler) user(w http.ResponseWriter, r *http.Request) (qheartbeats.User, bool) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	u, err := h.queries.User(r.Context(), p.UserID)
	if errors.Is(err, accounts.ErrUserNotFound) {
		httpapi.WriteError(w, http.StatusNotFound, "User not found")
		return u, false
	}
	if err != nil {
		httpapi.InternalError(w, r, err)
		return u, false
	}
	return u, true
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request) {
	u, ok := h.user(w, r)
	if !ok {
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"id": u.ID, "username": u.Username, "display_name": u.Username, "full_name": u.Username,
		"timezone": u.TimeZone, "timeout": h.timeout, "created_at": httpapi.FormatTime(u.CreatedAt),
	}})
}
