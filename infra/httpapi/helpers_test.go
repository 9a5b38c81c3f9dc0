package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/httpapi/httpapitest"
	"github.com/go-chi/chi/v5"
)

// testAuthenticator accepts the credentials in its map; "db-down" fails like a database
// outage; everything else is unauthenticated. It records what it was asked.
type testAuthenticator struct {
	mu    sync.Mutex
	seen  []string
	users map[string]Principal
}

func (a *testAuthenticator) Authenticate(_ context.Context, credential string) (Principal, error) {
	a.mu.Lock()
	a.seen = append(a.seen, credential)
	a.mu.Unlock()
	if credential == "db-down" {
		return Principal{}, errors.New("dial tcp 10.0.0.5:5432: connection refused")
	}
	if p, ok := a.users[credential]; ok {
		return p, nil
	}
	return Principal{}, ErrUnauthenticated
}

var (
	aliceID = ids.MustParse("fedf1d98-c503-49a8-a576-9d634cc2d9b5")
	bobID   = ids.MustParse("2fb73e17-63e6-4a60-a7be-09f2f9676e34")
	tokenID = ids.MustParse("70d14de4-2290-4487-ba8b-4bba9d4acf10")
)

func newTestAuthenticator() *testAuthenticator {
	return &testAuthenticator{users: map[string]Principal{
		"jwt-alice":  {UserID: aliceID, Provider: "password"},
		"jwt-bob":    {UserID: bobID, Provider: "github"},
		"dvf_bobtok": {UserID: bobID, APIToken: true, TokenID: tokenID},
	}}
}

// testRoutes exercises the helpers the areas use.
type testRoutes struct{ api *API }

func (tr testRoutes) Routes(r chi.Router) {
	r.Get("/test/panic", func(w http.ResponseWriter, r *http.Request) {
		panic("secret internal detail: password=hunter2")
	})
	r.Get("/test/panic-after-write", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"partial":`))
		panic("late failure")
	})
	r.Get("/test/fail", func(w http.ResponseWriter, r *http.Request) {
		InternalError(w, r, errors.New(`pq: relation "users" does not exist`))
	})
	r.Post("/test/decode", func(w http.ResponseWriter, r *http.Request) {
		doc, ok := ReadJSON(w, r)
		if !ok {
			return
		}
		WriteJSON(w, http.StatusOK, doc)
	})
	r.Post("/test/raw", func(w http.ResponseWriter, r *http.Request) {
		body, ok := ReadBody(w, r)
		if !ok {
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{"len": len(body), "body": string(body)})
	})
	r.Post("/test/small", func(w http.ResponseWriter, r *http.Request) {
		body, ok := ReadBodyLimit(w, r, 100)
		if !ok {
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{"len": len(body)})
	})
	r.Post("/test/validate/{schema}", func(w http.ResponseWriter, r *http.Request) {
		doc, ok := ValidateBody(w, r, chi.URLParam(r, "schema"))
		if !ok {
			return
		}
		WriteJSON(w, http.StatusOK, doc)
	})
	r.With(tr.api.Authenticated).Post("/test/whoami", func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if !ok {
			t := "no principal in context"
			WriteError(w, http.StatusInternalServerError, t)
			return
		}
		// The body is read only after authentication (contract 2.2).
		if _, ok := ReadJSON(w, r); !ok {
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{
			"user_id": p.UserID, "api_token": p.APIToken, "admin": tr.api.IsAdmin(p),
		})
	})
	r.Get("/test/request-id", func(w http.ResponseWriter, r *http.Request) {
		Logger(r.Context()).Info("handler line")
		WriteJSON(w, http.StatusOK, map[string]string{"request_id": RequestID(r.Context())})
	})
	r.Get("/test/html", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"s": "<b>&</b>"})
	})
}

type testServer struct {
	*httptest.Server
	api  *API
	auth *testAuthenticator
	logs *httpapitest.Logs
}

func testConfig() config.Config {
	return config.Config{
		CORSAllowedOrigins: []string{"https://app.example.com", "http://127.0.0.1:4173"},
		AdminUserIDs:       []ids.ID{aliceID},
		ShutdownTimeout:    5e9,
	}
}

func newTestServer(t *testing.T, checks ...ReadinessCheck) *testServer {
	t.Helper()
	logs := &httpapitest.Logs{}
	auth := newTestAuthenticator()
	api := New(Params{
		Config:        testConfig(),
		Logger:        slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Authenticator: auth,
		Checks:        checks,
	})
	api.Mount(testRoutes{api: api})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, api: api, auth: auth, logs: logs}
}

type response struct {
	*http.Response
	body []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// do sends one request; headers are given as "Name", "value" pairs.
func (s *testServer) do(t *testing.T, method, path string, body io.Reader, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Response: resp, body: b}
}

func jsonBody(s string) io.Reader { return strings.NewReader(s) }

const jsonCT = "application/json; charset=utf-8"

// expectJSON asserts status, the JSON content type and the exact body.
func expectJSON(t *testing.T, r response, status int, body string) {
	t.Helper()
	if r.StatusCode != status {
		t.Errorf("status = %d, want %d (body %s)", r.StatusCode, status, r.body)
	}
	if ct := r.Header.Get("Content-Type"); ct != jsonCT {
		t.Errorf("Content-Type = %q, want %q", ct, jsonCT)
	}
	if string(r.body) != body {
		t.Errorf("body = %s\n want %s", r.body, body)
	}
}

func newHTTPTestServer(t *testing.T, api *API) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return srv
}
