package authapi

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"

	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/oauth"
)

func (rt *Routes) oauthStart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	location, err := rt.h.OAuth.Start(r.Context(), chi.URLParam(r, "provider"), q.Get("client_type"), q.Get("display"))
	if errors.Is(err, oauth.ErrUnsupportedProvider) {
		httpapi.WriteError(w, http.StatusBadRequest, "Unsupported provider")
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	redirect(w, location)
}

// redirect answers 302 to location, used verbatim (a deep link such as vscode://… must
// not be resolved against the request path), without a body.
func redirect(w http.ResponseWriter, location string) {
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusFound)
}

type providerErrorJSON struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func (rt *Routes) oauthCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	provider := chi.URLParam(r, "provider")
	// The provider's own error comes first and leaves the state unused.
	if e := q.Get("error"); e != "" {
		httpapi.WriteJSON(w, http.StatusBadRequest, providerErrorJSON{Error: "Provider error", Code: e})
		return
	}
	// Neither reaches SQL or the provider unless it is text: a state that is not is
	// unknown, and a code that is not was never issued (the state stays unused).
	state, ok := httpapi.QueryText(q, "state")
	if !ok {
		httpapi.WriteError(w, http.StatusBadRequest, "Invalid or expired state")
		return
	}
	code, ok := httpapi.QueryText(q, "code")
	if !ok {
		httpapi.WriteValidation(w, "code must be valid UTF-8 text without NUL characters", nil)
		return
	}
	profile, clientType, err := rt.h.OAuth.Callback(r.Context(), provider, state, code)
	switch {
	case errors.Is(err, oauth.ErrInvalidState):
		httpapi.WriteError(w, http.StatusBadRequest, "Invalid or expired state")
		return
	case errors.Is(err, oauth.ErrProviderRequest):
		httpapi.Logger(r.Context()).Warn("oauth provider request failed", "provider", provider, "error", err.Error())
		httpapi.WriteError(w, http.StatusBadGateway, "Provider request failed")
		return
	case err != nil:
		httpapi.InternalError(w, r, err)
		return
	}
	sess, err := rt.h.SignInOAuth.Handle(r.Context(), profile)
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	httpapi.Logger(r.Context()).Info("oauth sign-in", "user_id", sess.User.ID.String(), "provider", provider, "client_type", clientType)
	if clientType == oauth.ClientVSCode {
		redirect(w, rt.h.Config.VSCodeDeepLink+"?token="+url.QueryEscape(sess.JWT))
		return
	}
	rt.setSessionCookie(w, sess.JWT)
	redirect(w, rt.h.Config.WebAppURL)
}
