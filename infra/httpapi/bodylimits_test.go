package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/devflow/backend/infra/httpapi/httpapitest"
)

func newLimitedServer(t *testing.T, limits BodyLimits) *testServer {
	t.Helper()
	auth := newTestAuthenticator()
	api := New(Params{Config: testConfig(), Logger: slog.New(slog.DiscardHandler), Authenticator: auth, BodyLimits: limits})
	api.Mount(testRoutes{api: api})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, api: api, auth: auth}
}

// Anonymous bodies have a budget of their own: clients without a credential holding
// all of it get nobody else a 429.
func TestSlowBodies_AnonymousCannotCrowdOutAuthenticated(t *testing.T) {
	s := newLimitedServer(t, BodyLimits{Grace: time.Minute, InFlight: 2 * MaxBodyBytes})
	addr := s.Listener.Addr().String()
	// Three announced 1 MiB bodies without a credential: two fit, the last to come
	// gets its 429 at once while the others hold the anonymous budget.
	answers := make(chan httpapitest.Answer, 3)
	for range 3 {
		c := httpapitest.StartSlowBody(t, addr, "POST", "/api/v1/test/validate/register", nil, MaxBodyBytes, 100*time.Millisecond)
		t.Cleanup(c.Close)
		go func() {
			if a, err := c.Result(); err == nil {
				answers <- a
			}
		}()
	}
	if a := <-answers; a.Status != http.StatusTooManyRequests || string(a.Body) != `{"error":"Too many requests"}` || a.Header.Get("Retry-After") != "1" {
		t.Fatalf("first answer %d %s Retry-After %q, want 429 with Retry-After 1", a.Status, a.Body, a.Header.Get("Retry-After"))
	}
	expectJSON(t, s.do(t, "POST", "/api/v1/test/whoami", strings.NewReader(`{}`), "Content-Type", "application/json", "Authorization", "Bearer jwt-alice"),
		200, `{"admin":true,"api_token":false,"user_id":"fedf1d98-c503-49a8-a576-9d634cc2d9b5"}`)
}

// A body no handler reads (here: no credential) is not waited for beyond the grace
// period: the client gets its 401 and then the connection is closed.
func TestSlowBodies_UnreadBodyIsNotWaitedFor(t *testing.T) {
	s := newLimitedServer(t, BodyLimits{Grace: time.Second})
	c := httpapitest.StartSlowBody(t, s.Listener.Addr().String(), "POST", "/api/v1/test/whoami", nil, 100<<10, 100*time.Millisecond)
	a, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != http.StatusUnauthorized || string(a.Body) != `{"error":"Unauthorized"}` || !a.Closed {
		t.Fatalf("got %d %s, connection closed %v; want 401 and closed", a.Status, a.Body, a.Closed)
	}
}
