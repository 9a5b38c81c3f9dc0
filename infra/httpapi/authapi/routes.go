package authapi

import (
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/devflow/backend/infra/httpapi"
)

// Routes serves the auth endpoints.
type Routes struct {
	h   Handlers
	api *httpapi.API
}

// NewRoutes builds the routes; api provides the authentication middleware.
func NewRoutes(h Handlers, api *httpapi.API) *Routes {
	if h.Now == nil {
		h.Now = time.Now
	}
	return &Routes{h: h, api: api}
}

// Routes registers the endpoints. The fixed /auth/... paths are registered with the
// pattern /auth/{provider}: chi prefers static segments, so they win, and a GET to a
// fixed path without a GET handler (/auth/register, /auth/pairings) falls through to
// /auth/{provider} and answers 400 Unsupported provider, as the contract requires.
func (rt *Routes) Routes(r chi.Router) {
	authed := r.With(rt.api.Authenticated)

	r.Post("/auth/register", rt.register)
	r.Post("/auth/login", rt.login)
	authed.Get("/auth/me", rt.me)
	authed.Patch("/auth/me", rt.updateMe)
	r.Post("/auth/logout", rt.logout)

	authed.Post("/auth/tokens", rt.createToken)
	authed.Get("/auth/tokens", rt.listTokens)
	authed.Delete("/auth/tokens/{id}", rt.revokeToken)

	r.Post("/auth/pairings", rt.startPairing)
	authed.Post("/auth/pairings/{user_code}/approve", rt.approvePairing)
	r.Post("/auth/pairings/{pairing_id}/exchange", rt.exchangePairing)

	r.Get("/auth/{provider}", rt.oauthStart)
	r.Get("/auth/{provider}/callback", rt.oauthCallback)
}
