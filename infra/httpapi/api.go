// Package httpapi is devFlow's HTTP core: the chi router under /api/v1 with the
// contract's generic behaviour (JSON errors for 404/405/400/413/500, CORS, security
// headers, request ids, access log, HEAD for GET), authentication middleware, request
// body helpers with schema validation against the embedded openapi.yaml, the health and
// readiness probes, and the fx module that runs the HTTP server.
//
// Each area (auth, telemetry, metrics, …) provides an httpapi.Routes in the fx value
// group "routes"; its handlers translate HTTP to commands and queries and use the
// helpers here for bodies, errors and authentication.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/metrics"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.uber.org/fx"
)

// Prefix is the path every endpoint lives under.
const Prefix = "/api/v1"

// Routes is implemented by each area of the API. Routes registers its endpoints on r,
// which is rooted at /api/v1 (so "/auth/me" serves /api/v1/auth/me). r is the area's own
// chi group: r.Use, r.With, r.Group and r.Route are all fine there.
type Routes interface {
	Routes(r chi.Router)
}

// ReadinessCheck is one condition of GET /ready. Check returns nil when ready, or an
// error whose text is a short, non-sensitive reason ("unreachable") shown in the body;
// a Degraded error is shown the same way but leaves the replica ready. Checks bound
// their own time (the database check: 2 s).
type ReadinessCheck interface {
	Name() string
	Check(ctx context.Context) error
}

// Degraded is a readiness finding that does not make the replica unready: something an
// operator should look at that no restart or load balancer fixes (contract 3.2).
type Degraded string

func (d Degraded) Error() string { return string(d) }

// Params are New's dependencies.
type Params struct {
	fx.In

	Config        config.Config
	Logger        *slog.Logger
	Authenticator Authenticator    `optional:"true"` // without one, authenticated routes answer 401
	Checks        []ReadinessCheck `group:"readiness"`
	Metrics       *metrics.Metrics `optional:"true"`
	BodyLimits    BodyLimits       `optional:"true"` // the defaults unless a test sets them
}

// API is the HTTP core. Build it with New, add the areas with Mount, serve Handler.
type API struct {
	cfg     config.Config
	log     *slog.Logger
	auth    Authenticator
	checks  []ReadinessCheck
	metrics *metrics.Metrics
	cors    map[string]bool

	root *chi.Mux
	v1   chi.Router

	readyTimeout time.Duration
	bodyLimits   BodyLimits
	budget       bodyBudget

	shuttingDown atomic.Bool
	listenAddr   atomic.Value // string, set once the server listens
}

// New builds the router with the middleware, the generic error handlers and the
// endpoints of the core (/health, /ready, /openapi.yaml). It compiles the request schemas
// now so a broken openapi.yaml fails start-up.
func New(p Params) *API {
	if _, err := RequestSchemas(); err != nil {
		panic(err) // the embedded description is part of the binary: a bug, not an input
	}
	logger := p.Logger
	if logger == nil {
		logger = slog.Default()
	}
	a := &API{
		cfg:     p.Config,
		log:     logger,
		auth:    p.Authenticator,
		checks:  p.Checks,
		metrics: p.Metrics,
		cors:    map[string]bool{},

		readyTimeout: readyTimeout,
		bodyLimits:   p.BodyLimits.withDefaults(),
	}
	a.budget = newBodyBudget(a.bodyLimits.InFlight)
	for _, origin := range p.Config.CORSAllowedOrigins {
		a.cors[origin] = true
	}

	r := chi.NewRouter()
	// Outermost first: every response, errors and preflights included, gets a request id
	// and the security headers; the access log sees the status the recoverer wrote.
	// Bodies are paced from the start.
	r.Use(a.requestID, securityHeaders, a.metrics.Middleware, a.accessLog, a.recoverer, a.paceBodies, a.corsMiddleware, middleware.GetHead)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { WriteError(w, http.StatusNotFound, "Not found") })
	r.MethodNotAllowed(a.methodNotAllowed)
	a.metrics.Mount(r)
	r.Route(Prefix, func(v1 chi.Router) {
		v1.Get("/health", health)
		v1.Get("/ready", a.ready)
		v1.Get("/openapi.yaml", serveOpenAPI)
		a.v1 = v1
	})
	a.root = r
	return a
}

// Mount registers each area's endpoints under /api/v1, each in its own group. Call it
// before serving.
func (a *API) Mount(routes ...Routes) {
	for _, rt := range routes {
		a.v1.Group(rt.Routes)
	}
}

// MountAt registers routes under prefix instead of /api/v1: an alias for clients that
// know another server's paths. Call it before serving.
func (a *API) MountAt(prefix string, routes Routes) { a.root.Route(prefix, routes.Routes) }

// Handler is the whole API as an http.Handler.
func (a *API) Handler() http.Handler { return a.root }

// BeginShutdown makes /ready answer 503 from now on, so load balancers stop sending new
// requests while in-flight ones drain.
func (a *API) BeginShutdown() { a.shuttingDown.Store(true) }

// ListenAddr is the address the server listens on once Module has started it (useful
// with PORT=0 in tests), or "".
func (a *API) ListenAddr() string {
	s, _ := a.listenAddr.Load().(string)
	return s
}

// methodNotAllowed answers 405 with an Allow header listing the methods the path has.
func (a *API) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		if a.root.Match(chi.NewRouteContext(), m, path) {
			allowed = append(allowed, m)
		} else if m == http.MethodHead && a.root.Match(chi.NewRouteContext(), http.MethodGet, path) {
			allowed = append(allowed, m) // HEAD is answered wherever GET is
		}
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	WriteError(w, http.StatusMethodNotAllowed, "Method not allowed")
}

func health(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument)
}

type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

type notReadyBody struct {
	Error  string            `json:"error"`
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// readyTimeout bounds /ready as a whole even if a check ignores its own limit.
const readyTimeout = 5 * time.Second

// ready runs every readiness check concurrently (decision D8).
func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	if a.shuttingDown.Load() {
		WriteJSON(w, http.StatusServiceUnavailable, notReadyBody{
			Error: "Not ready", Status: "not_ready", Checks: map[string]string{"server": "shutting down"},
		})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.readyTimeout)
	defer cancel()
	results := make([]string, len(a.checks))
	ready := make([]bool, len(a.checks))
	var wg sync.WaitGroup
	for i, c := range a.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], ready[i] = a.runCheck(ctx, c)
		}()
	}
	wg.Wait()

	checks := make(map[string]string, len(a.checks))
	allOK := true
	for i, c := range a.checks {
		checks[c.Name()] = results[i]
		allOK = allOK && ready[i]
	}
	if !allOK {
		WriteJSON(w, http.StatusServiceUnavailable, notReadyBody{Error: "Not ready", Status: "not_ready", Checks: checks})
		return
	}
	WriteJSON(w, http.StatusOK, readyBody{Status: "ready", Checks: checks})
}

// runCheck turns a check's outcome into "ok" or its reason; a panicking check is a
// failed check, not a crashed process.
func (a *API) runCheck(ctx context.Context, c ReadinessCheck) (result string, ready bool) {
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("readiness check panicked", "check", c.Name(), "panic", fmt.Sprint(p))
			result, ready = "check failed", false
		}
	}()
	err := c.Check(ctx)
	var degraded Degraded
	switch {
	case err == nil:
		return "ok", true
	case errors.As(err, &degraded):
		return degraded.Error(), true
	}
	return err.Error(), false
}
