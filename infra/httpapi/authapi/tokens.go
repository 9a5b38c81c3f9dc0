package authapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/httpapi"
)

const msgTokensForbidden = "API tokens cannot manage other tokens"

type createdTokenJSON struct {
	ID        ids.ID `json:"id"`
	Name      string `json:"name"`
	Token     string `json:"token"`
	Prefix    string `json:"token_prefix"`
	CreatedAt string `json:"created_at"`
}

type tokenJSON struct {
	ID         ids.ID  `json:"id"`
	Name       string  `json:"name"`
	Prefix     string  `json:"token_prefix"`
	LastUsedAt *string `json:"last_used_at"`
	CreatedAt  string  `json:"created_at"`
	RevokedAt  *string `json:"revoked_at"`
}

type tokenListJSON struct {
	Tokens []tokenJSON `json:"tokens"`
}

// createToken checks in the Node order: authentication (middleware), body, then the
// JWT-only rule.
func (rt *Routes) createToken(w http.ResponseWriter, r *http.Request) {
	doc, ok := httpapi.ValidateBody(w, r, "createToken")
	if !ok {
		return
	}
	p, _ := httpapi.PrincipalFrom(r.Context())
	if p.APIToken {
		httpapi.WriteError(w, http.StatusForbidden, msgTokensForbidden)
		return
	}
	token, plaintext, err := rt.h.IssueToken.Handle(r.Context(), p.UserID, bodyString(doc, "name"))
	if errors.Is(err, accounts.ErrUserNotFound) {
		httpapi.WriteError(w, http.StatusNotFound, "User not found")
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	httpapi.Logger(r.Context()).Info("api token issued", "user_id", p.UserID.String(), "token_id", token.ID.String())
	httpapi.WriteJSON(w, http.StatusCreated, createdTokenJSON{
		ID: token.ID, Name: token.Name, Token: plaintext, Prefix: token.Prefix, CreatedAt: httpapi.FormatTime(token.CreatedAt),
	})
}

func (rt *Routes) listTokens(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	if p.APIToken {
		httpapi.WriteError(w, http.StatusForbidden, msgTokensForbidden)
		return
	}
	tokens, err := rt.h.Queries.Tokens(r.Context(), p.UserID)
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	out := tokenListJSON{Tokens: make([]tokenJSON, 0, len(tokens))}
	for _, t := range tokens {
		out.Tokens = append(out.Tokens, tokenJSON{
			ID: t.ID, Name: t.Name, Prefix: t.Prefix, CreatedAt: httpapi.FormatTime(t.CreatedAt),
			LastUsedAt: optionalTime(t.LastUsedAt), RevokedAt: optionalTime(t.RevokedAt),
		})
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

func (rt *Routes) revokeToken(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	if p.APIToken {
		httpapi.WriteError(w, http.StatusForbidden, msgTokensForbidden)
		return
	}
	err := rt.h.RevokeToken.Handle(r.Context(), p.UserID, chi.URLParam(r, "id"))
	if errors.Is(err, accounts.ErrTokenNotFound) {
		httpapi.WriteError(w, http.StatusNotFound, "Token not found")
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	httpapi.Logger(r.Context()).Info("api token revoked", "user_id", p.UserID.String(), "token_id", chi.URLParam(r, "id"))
	w.WriteHeader(http.StatusNoContent)
}

func optionalTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := httpapi.FormatTime(*t)
	return &s
}
