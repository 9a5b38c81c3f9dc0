package authapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/pairing"
	"github.com/devflow/backend/infra/httpapi"
)

type pairingJSON struct {
	PairingID       ids.ID `json:"pairing_id"`
	UserCode        string `json:"user_code"`
	VerificationURI string `json:"verification_uri"`
	ExpiresIn       int    `json:"expires_in"`
}

type exchangeJSON struct {
	Status string `json:"status"`
	Token  string `json:"token,omitempty"`
}

type expiredJSON struct {
	Status string `json:"status"`
	Error  string `json:"error"`
}

// startPairing ignores any body: the extension sends none.
func (rt *Routes) startPairing(w http.ResponseWriter, r *http.Request) {
	p, err := rt.h.StartPairing.Handle(r.Context())
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	httpapi.Logger(r.Context()).Info("pairing created", "pairing_id", p.ID().String())
	httpapi.WriteJSON(w, http.StatusCreated, pairingJSON{
		PairingID:       p.ID(),
		UserCode:        string(p.UserCode()),
		VerificationURI: rt.h.Config.FrontendURL + "/extension/pair",
		ExpiresIn:       int(pairing.TTL.Seconds()),
	})
}

func (rt *Routes) approvePairing(w http.ResponseWriter, r *http.Request) {
	caller, _ := httpapi.PrincipalFrom(r.Context())
	if caller.APIToken {
		httpapi.WriteError(w, http.StatusForbidden, "API tokens cannot approve pairings")
		return
	}
	p, err := rt.h.ApprovePairing.Handle(r.Context(), caller.UserID, chi.URLParam(r, "user_code"))
	switch {
	case errors.Is(err, pairing.ErrNotFound):
		httpapi.WriteError(w, http.StatusNotFound, "Pairing not found or expired")
	case errors.Is(err, pairing.ErrExpired):
		httpapi.WriteError(w, http.StatusGone, "Pairing expired")
	case errors.Is(err, pairing.ErrAlreadyUsed):
		httpapi.WriteError(w, http.StatusConflict, "Pairing already used")
	case errors.Is(err, accounts.ErrUserNotFound):
		httpapi.WriteError(w, http.StatusNotFound, "User not found")
	case err != nil:
		httpapi.InternalError(w, r, err)
	default:
		httpapi.Logger(r.Context()).Info("pairing approved", "pairing_id", p.ID().String(),
			"user_id", caller.UserID.String(), "token_id", p.TokenID().String())
		httpapi.WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
	}
}

func (rt *Routes) exchangePairing(w http.ResponseWriter, r *http.Request) {
	rawID := chi.URLParam(r, "pairing_id")
	res, err := rt.h.ExchangePairing.Handle(r.Context(), rawID)
	if errors.Is(err, pairing.ErrRateLimited) {
		httpapi.WriteError(w, http.StatusTooManyRequests, "Too many requests")
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	switch res.Outcome {
	case pairing.OutcomeExpired:
		httpapi.WriteJSON(w, http.StatusGone, expiredJSON{Status: "expired", Error: "Pairing expired"})
	case pairing.OutcomeApproved:
		httpapi.Logger(r.Context()).Info("pairing consumed", "pairing_id", strings.ToLower(rawID))
		httpapi.WriteJSON(w, http.StatusOK, exchangeJSON{Status: string(res.Outcome), Token: res.Token})
	default:
		httpapi.WriteJSON(w, http.StatusOK, exchangeJSON{Status: string(res.Outcome)})
	}
}
