package authapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	cmdaccounts "github.com/devflow/backend/commands/accounts"
	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/auth"
	"github.com/devflow/backend/infra/httpapi"
)

type userJSON struct {
	ID       ids.ID  `json:"id"`
	Username string  `json:"username"`
	Email    *string `json:"email"`
	Provider string  `json:"provider"`
}

func toUserJSON(u accounts.User) userJSON {
	return userJSON{ID: u.ID, Username: u.Username, Email: u.Email, Provider: string(u.Provider)}
}

type sessionJSON struct {
	User  userJSON `json:"user"`
	Token string   `json:"token"`
}

// bodyString reads a string field of a schema-validated body.
func bodyString(doc any, field string) string {
	m, _ := doc.(map[string]any)
	s, _ := m[field].(string)
	return s
}

func (rt *Routes) register(w http.ResponseWriter, r *http.Request) {
	doc, ok := httpapi.ValidateBody(w, r, "register")
	if !ok {
		return
	}
	sess, err := rt.h.Register.Handle(r.Context(), cmdaccounts.Register{
		Email: bodyString(doc, "email"), Password: bodyString(doc, "password"), Username: bodyString(doc, "username"),
	})
	if errors.Is(err, accounts.ErrEmailTaken) {
		httpapi.WriteError(w, http.StatusConflict, "Email already registered")
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	httpapi.Logger(r.Context()).Info("user registered", "user_id", sess.User.ID.String(), "provider", string(sess.User.Provider))
	rt.setSessionCookie(w, sess.JWT)
	httpapi.WriteJSON(w, http.StatusCreated, sessionJSON{User: toUserJSON(sess.User), Token: sess.JWT})
}

func (rt *Routes) login(w http.ResponseWriter, r *http.Request) {
	doc, ok := httpapi.ValidateBody(w, r, "login")
	if !ok {
		return
	}
	sess, err := rt.h.Login.Handle(r.Context(), cmdaccounts.Login{
		Email: bodyString(doc, "email"), Password: bodyString(doc, "password"),
	})
	var throttled *cmdaccounts.ThrottledError
	switch {
	case errors.As(err, &throttled):
		w.Header().Set("Retry-After", strconv.Itoa(int(throttled.RetryAfter/time.Second)))
		httpapi.WriteError(w, http.StatusTooManyRequests, "Too many attempts")
	case errors.Is(err, accounts.ErrInvalidCredentials):
		httpapi.WriteError(w, http.StatusUnauthorized, "Invalid credentials")
	case err != nil:
		httpapi.InternalError(w, r, err)
	default:
		rt.setSessionCookie(w, sess.JWT)
		httpapi.WriteJSON(w, http.StatusOK, sessionJSON{User: toUserJSON(sess.User), Token: sess.JWT})
	}
}

func (rt *Routes) me(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	u, err := rt.h.Queries.User(r.Context(), p.UserID)
	if errors.Is(err, accounts.ErrUserNotFound) {
		httpapi.WriteError(w, http.StatusNotFound, "User not found")
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, toUserJSON(u))
}

// updateMe sets the caller's time zone (the only setting so far) and answers the user
// with it.
func (rt *Routes) updateMe(w http.ResponseWriter, r *http.Request) {
	doc, ok := httpapi.ValidateBody(w, r, "updateMe")
	if !ok {
		return
	}
	p, _ := httpapi.PrincipalFrom(r.Context())
	zone := bodyString(doc, "time_zone")
	err := rt.h.SetTimeZone.Handle(r.Context(), p.UserID, zone)
	switch {
	case errors.Is(err, accounts.ErrInvalidTimeZone):
		httpapi.WriteValidation(w, "time_zone must be an IANA time zone name such as Europe/Berlin", nil)
		return
	case errors.Is(err, accounts.ErrUserNotFound):
		httpapi.WriteError(w, http.StatusNotFound, "User not found")
		return
	case err != nil:
		httpapi.InternalError(w, r, err)
		return
	}
	u, err := rt.h.Queries.User(r.Context(), p.UserID)
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		userJSON
		TimeZone string `json:"time_zone"`
	}{toUserJSON(u), zone})
}

func (rt *Routes) logout(w http.ResponseWriter, r *http.Request) {
	for _, name := range []string{httpapi.SessionCookie, httpapi.LegacySessionCookie} {
		c := rt.cookie(name, "")
		c.MaxAge = -1 // written as Max-Age=0
		c.Expires = time.Unix(0, 0)
		http.SetCookie(w, c)
	}
	w.WriteHeader(http.StatusNoContent)
}

// setSessionCookie sets dvf_session to the JWT for the JWT's lifetime (decision D1).
func (rt *Routes) setSessionCookie(w http.ResponseWriter, jwt string) {
	c := rt.cookie(httpapi.SessionCookie, jwt)
	c.MaxAge = int(auth.SessionLifetime / time.Second)
	c.Expires = rt.h.Now().Add(auth.SessionLifetime)
	http.SetCookie(w, c)
}

// cookie has the attributes of contract 2.5: HttpOnly, Path=/, no Domain; in
// production Secure and SameSite=None (the dashboard may be cross-site), elsewhere
// SameSite=Lax without Secure (browsers drop Secure cookies over plain http).
func (rt *Routes) cookie(name, value string) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if rt.h.Config.IsProduction() {
		c.Secure, c.SameSite = true, http.SameSiteNoneMode
	}
	return c
}
