package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/devflow/backend/domain/ids"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID   ids.ID
	Provider string    // "password", "google" or "github" for JWTs; empty for API tokens
	APIToken bool      // the credential was an API token (dvf_…), not a JWT
	TokenID  ids.ID    // the API token's id when APIToken
	IssuedAt time.Time // when a JWT was minted (its sign-in); zero for API tokens
}

// Authenticator verifies a credential (a JWT or a dvf_ API token, contract 2.4). It
// returns ErrUnauthenticated (possibly wrapped) for every invalid credential; any other
// error means the check itself failed (e.g. the database is down) and becomes a 500,
// never a 401.
type Authenticator interface {
	Authenticate(ctx context.Context, credential string) (Principal, error)
}

// ErrUnauthenticated marks a credential that is missing, malformed, expired, revoked or
// otherwise invalid.
var ErrUnauthenticated = errors.New("unauthenticated")

// Session cookie names (decision D1): dvf_session is preferred, session is the legacy one.
const (
	SessionCookie       = "dvf_session"
	LegacySessionCookie = "session"
)

type principalKey struct{}

// ContextWithPrincipal returns ctx carrying p, as Authenticated does.
func ContextWithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller that Authenticated stored in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// credential extracts the request's credential in the contract's order (2.4): an
// Authorization header starting with exactly "Bearer " wins and never falls back to a
// cookie, even when what follows is empty or invalid; otherwise a non-empty dvf_session
// cookie, otherwise a non-empty legacy session cookie. "" means no credential.
func credential(r *http.Request) string {
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return bearer
	}
	for _, name := range []string{SessionCookie, LegacySessionCookie} {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// Authenticated is the middleware of auth kind "either": it authenticates the request
// before anything reads the body, answers 401 {"error":"Unauthorized"} for a missing or
// invalid credential and 500 when the check itself fails, and otherwise puts the
// Principal into the request context (PrincipalFrom). The jwt-only and admin 403s are the
// handlers' business (Principal.APIToken, IsAdmin).
func (a *API) Authenticated(next http.Handler) http.Handler {
	return a.AuthenticatedBy(credential)(next)
}

// AuthenticatedBy is Authenticated with the credential taken from the request by
// extract ("" for none), for APIs whose clients send it in another form.
func (a *API) AuthenticatedBy(extract func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler { return a.authenticated(extract, next) }
}

func (a *API) authenticated(extract func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred := extract(r)
		if cred == "" || a.auth == nil {
			WriteError(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		p, err := a.auth.Authenticate(r.Context(), cred)
		if errors.Is(err, ErrUnauthenticated) {
			WriteError(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		if err != nil {
			InternalError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(ContextWithPrincipal(r.Context(), p)))
	})
}

// IsAdmin reports whether p's user is listed in ADMIN_USER_IDS. It does not look at
// p.APIToken: the admin endpoint rejects API tokens with its own message first.
func (a *API) IsAdmin(p Principal) bool {
	for _, id := range a.cfg.AdminUserIDs {
		if id == p.UserID {
			return true
		}
	}
	return false
}
