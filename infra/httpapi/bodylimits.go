package httpapi

import (
	"context"
	"io"
	"net/http"
	"time"

	"golang.org/x/sync/semaphore"
)

// BodyLimits bound how request bodies may arrive, so that slow or numerous bodies
// cannot hold the server's memory and connections. A zero field takes its default.
type BodyLimits struct {
	// Grace is how long a body may take before MinRate applies; it also bounds how
	// long the server waits for a body no handler reads. Default 10 s, like the
	// header timeout.
	Grace time.Duration
	// MinRate is the slowest average upload, in bytes per second, a body may keep up
	// after Grace. Default 64 KiB/s: an 8 MiB telemetry body may take 2 min 18 s.
	MinRate int64
	// InFlight bounds the body bytes being read and handled at once, per kind of
	// caller (authenticated or not, so anonymous clients cannot crowd out the
	// extension). A request counts its declared length, or its limit when the length
	// is unknown; one beyond the bound gets 429. Default 64 MiB.
	InFlight int64
}

func (l BodyLimits) withDefaults() BodyLimits {
	if l.Grace <= 0 {
		l.Grace = 10 * time.Second
	}
	if l.MinRate <= 0 {
		l.MinRate = 64 << 10
	}
	if l.InFlight <= 0 {
		l.InFlight = 64 << 20
	}
	return l
}

// bodyBudget is the InFlight bound of both kinds of caller.
type bodyBudget struct {
	size                     int64
	authenticated, anonymous *semaphore.Weighted
}

func newBodyBudget(size int64) bodyBudget {
	return bodyBudget{size: size, authenticated: semaphore.NewWeighted(size), anonymous: semaphore.NewWeighted(size)}
}

type bodyBudgetKey struct{}

// paceBodies gives every request with a body a read deadline that follows the body:
// Grace for its first bytes, then one second more for each MinRate bytes received. A
// client trickling a byte every few seconds is cut off after Grace; a slow but steady
// upload is not. It also hands the body budget to the body helpers through the
// context.
func (a *API) paceBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(context.WithValue(r.Context(), bodyBudgetKey{}, &a.budget))
		if r.ContentLength != 0 {
			p := &pacedBody{body: r.Body, rc: http.NewResponseController(w), start: time.Now(), limits: a.bodyLimits}
			_ = p.rc.SetReadDeadline(p.start.Add(a.bodyLimits.Grace)) // not supported: the server's own timeouts apply
			r.Body = p
		}
		next.ServeHTTP(w, r)
	})
}

// reserveBody takes n bytes of the caller kind's budget until the request ends, or
// answers 429 with Retry-After and returns false.
func reserveBody(w http.ResponseWriter, r *http.Request, n int64) bool {
	budget, _ := r.Context().Value(bodyBudgetKey{}).(*bodyBudget)
	if budget == nil {
		return true // outside the API's router: no budget to keep
	}
	n = min(n, budget.size) // a body limit above the budget still admits one body
	sem := budget.anonymous
	if _, ok := PrincipalFrom(r.Context()); ok {
		sem = budget.authenticated
	}
	if !sem.TryAcquire(n) {
		w.Header().Set("Retry-After", "1")
		WriteError(w, http.StatusTooManyRequests, "Too many requests")
		return false
	}
	// The request's context ends when its handler returns.
	context.AfterFunc(r.Context(), func() { sem.Release(n) })
	return true
}

// pacedBody moves the connection's read deadline forward as the body arrives.
type pacedBody struct {
	body   io.ReadCloser
	rc     *http.ResponseController
	start  time.Time
	limits BodyLimits
	read   int64
}

func (p *pacedBody) Read(b []byte) (int, error) {
	n, err := p.body.Read(b)
	p.read += int64(n)
	switch {
	case err == io.EOF:
		// Complete: the handler may take its time now without the server's background
		// read timing out (which would cancel the request's context).
		_ = p.rc.SetReadDeadline(time.Time{})
	case n > 0:
		earned := time.Duration(float64(p.read) / float64(p.limits.MinRate) * float64(time.Second))
		_ = p.rc.SetReadDeadline(p.start.Add(p.limits.Grace + earned))
	}
	return n, err
}

func (p *pacedBody) Close() error { return p.body.Close() }
