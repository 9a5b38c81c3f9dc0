package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/devflow/backend/domain/ids"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID   ids.ID
	Provider string // "password", "google" or "github" for JWTs; empty for API tokens
	APIToken bool   // the credential was an API token (dvf_…), not a JWT
	TokenID  ids.ID // the API token's id when APIToken
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticate(r)
		if !a.answerFailure(w, r, err) {
			next.ServeHTTP(w, r.WithContext(ContextWithPrincipal(r.Context(), p)))
		}
	})
}

func (a *API) authenticate(r *http.Request) (Principal, error) {
	cred := credential(r)
	if cred == "" || a.auth == nil {
		return Principal{}, ErrUnauthenticated
	}
	return a.auth.Authenticate(r.Context(), cred)
}

// answerFailure answers a failed authentication (401, or 500 when the check itself
// failed) and reports whether it did.
func (a *API) answerFailure(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrUnauthenticated):
		WriteError(w, http.StatusUnauthorized, "Unauthorized")
	default:
		InternalError(w, r, err)
	}
	return true
}

// Authentication is a request's authentication running in the background, for a
// handler that meanwhile does work not depending on the caller (reading and checking a
// large body). The handler must call Finish before it answers, so the caller still
// learns of a bad credential first (401 before 400 or 413), as with Authenticated.
type Authentication struct {
	api  *API
	done chan struct{}
	p    Principal
	err  error
	cut  bool // Guard stopped reading the body
}

// StartAuthentication begins authenticating r (auth kind "either").
func (a *API) StartAuthentication(r *http.Request) *Authentication {
	au := &Authentication{api: a, done: make(chan struct{})}
	go func() {
		defer close(au.done)
		au.p, au.err = a.authenticate(r)
	}()
	return au
}

// Guard wraps a request body so that reading it stops once the authentication has
// failed: a stranger's upload is not read to the end. The handler must read the body
// on the goroutine that calls Finish.
func (au *Authentication) Guard(body io.ReadCloser) io.ReadCloser {
	return guardedBody{ReadCloser: body, au: au}
}

type guardedBody struct {
	io.ReadCloser
	au *Authentication
}

var errAuthenticationFailed = errors.New("authentication failed")

func (g guardedBody) Read(p []byte) (int, error) {
	select {
	case <-g.au.done:
		if g.au.err != nil {
			g.au.cut = true
			return 0, errAuthenticationFailed
		}
	default:
	}
	return g.ReadCloser.Read(p)
}

// Finish waits for the authentication. On failure it answers (401 or 500) and returns
// ok=false.
func (au *Authentication) Finish(w http.ResponseWriter, r *http.Request) (p Principal, ok bool) {
	<-au.done
	if au.cut {
		// The rest of the body is still on its way: without this, the server would
		// read up to 256 KB of it before answering, to keep the connection.
		w.Header().Set("Connection", "close")
	}
	if au.api.answerFailure(w, r, au.err) {
		return Principal{}, false
	}
	return au.p, true
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
