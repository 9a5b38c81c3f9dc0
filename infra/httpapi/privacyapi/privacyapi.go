// Package privacyapi is the HTTP side of a user's rights over their data: the export
// (GET /me/export) and the erasure (DELETE /me). Both take a JWT (cookie or Bearer),
// never an API token: an extension's token must not download or delete an account.
package privacyapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/privacy"
)

// Routes serves the endpoints.
type Routes struct {
	s   *privacy.Service
	api *httpapi.API
}

// NewRoutes builds the routes; api provides the authentication middleware.
func NewRoutes(s *privacy.Service, api *httpapi.API) *Routes { return &Routes{s: s, api: api} }

// Routes registers the endpoints.
func (rt *Routes) Routes(r chi.Router) {
	authed := r.With(rt.api.Authenticated)
	authed.Get("/me/export", rt.export)
	authed.Delete("/me", rt.erase)
}

func jwtCaller(w http.ResponseWriter, r *http.Request) (httpapi.Principal, bool) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	if p.APIToken {
		httpapi.WriteError(w, http.StatusForbidden, "JWT required")
		return p, false
	}
	return p, true
}

func (rt *Routes) export(w http.ResponseWriter, r *http.Request) {
	p, ok := jwtCaller(w, r)
	if !ok {
		return
	}
	started := false
	out := writerFunc(func(b []byte) (int, error) {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Header().Set("Content-Disposition", `attachment; filename="devflow-export.jsonl"`)
			w.WriteHeader(http.StatusOK)
		}
		return w.Write(b)
	})
	flush := func() {
		if f, ok := w.(http.Flusher); ok && started {
			f.Flush()
		}
	}
	err := rt.s.Export(r.Context(), p.UserID, out, flush)
	switch {
	case errors.Is(err, accounts.ErrUserNotFound) && !started:
		httpapi.WriteError(w, http.StatusNotFound, "User not found")
	case err != nil && !started:
		httpapi.InternalError(w, r, err)
	case err != nil:
		// Half an export is sent already: end it short, so the client sees a failure.
		httpapi.Logger(r.Context()).Error("export failed mid-stream", "error", err.Error())
		panic(http.ErrAbortHandler)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func (rt *Routes) erase(w http.ResponseWriter, r *http.Request) {
	p, ok := jwtCaller(w, r)
	if !ok {
		return
	}
	doc, ok := httpapi.ValidateBody(w, r, "eraseMe")
	if !ok {
		return
	}
	m, _ := doc.(map[string]any)
	password, _ := m["password"].(string)
	err := rt.s.Reauthenticate(r.Context(), p.UserID, password, p.IssuedAt)
	if err == nil {
		err = rt.s.Erase(r.Context(), p.UserID)
	}
	switch {
	case errors.Is(err, accounts.ErrUserNotFound):
		httpapi.WriteError(w, http.StatusNotFound, "User not found")
	case errors.Is(err, accounts.ErrInvalidCredentials):
		httpapi.WriteError(w, http.StatusUnauthorized, "Invalid credentials")
	case errors.Is(err, privacy.ErrSignInAgain):
		httpapi.WriteError(w, http.StatusUnauthorized, "Sign in again")
	case err != nil:
		httpapi.InternalError(w, r, err)
	default:
		httpapi.Logger(r.Context()).Info("user erased their account", "user_id", p.UserID.String())
		for _, name := range []string{httpapi.SessionCookie, httpapi.LegacySessionCookie} {
			http.SetCookie(w, &http.Cookie{Name: name, Path: "/", HttpOnly: true, MaxAge: -1, Expires: time.Unix(0, 0)})
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
