package telemetryapi_test

import (
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/httpapi/httpapitest"
	"github.com/devflow/backend/infra/httpapi/telemetryapi/telemetryapitest"
)

const telemetryLimit = 8 << 20

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// 100 token holders announcing 8 MiB and sending a byte every 100 ms are each cut off
// with 408 and a closed connection; while they hang on, the heap holds what they sent
// (not 800 MiB of announced bodies) and another user's batch is accepted.
func TestSlowBodies_AreCutOffWithoutHoldingMemory(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true,
		BodyLimits: httpapi.BodyLimits{Grace: 2 * time.Second, InFlight: 1 << 40}})
	slow, normal := e.NewUser(), e.NewUser()
	before := heapInUse()

	clients := make([]*httpapitest.SlowBody, 100)
	for i := range clients {
		clients[i] = httpapitest.StartSlowBody(t, e.Addr, "POST", httpapi.Prefix+"/telemetry", bearer(slow.Token), telemetryLimit, 100*time.Millisecond)
	}
	during := heapInUse()
	mustAccept(t, post(t, e, normal.Token, extensionBatch(sid)))

	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			a, err := c.Result()
			if err != nil {
				t.Error(err)
				return
			}
			if a.Status != http.StatusRequestTimeout || !a.Closed ||
				string(a.Body) != `{"error":"Request timeout","message":"request body arrived too slowly"}` {
				t.Errorf("slow client: %d %s, connection closed %v; want 408 and closed", a.Status, a.Body, a.Closed)
			}
		})
	}
	wg.Wait()
	t.Logf("heap in use: %d MiB before, %d MiB with the slow clients connected", before>>20, during>>20)
	// Generous: the announced bodies alone would be 800 MiB.
	if grown := int64(during) - int64(before); grown > 64<<20 {
		t.Errorf("heap in use grew by %d MiB with 100 slow clients connected", grown>>20)
	}
}

// A body that keeps up the minimum rate may take longer than the grace period.
func TestSlowBodies_SteadyUploadAboveTheMinimumRateIsAccepted(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true,
		BodyLimits: httpapi.BodyLimits{Grace: 500 * time.Millisecond, MinRate: 4 << 10}})
	u := e.NewUser()
	body := extensionBatch(sid)
	body = append(body[:len(body)-1:len(body)-1], []byte(`,"padding":"`+strings.Repeat("x", 16<<10)+`"}`)...)
	// Eight pieces 250 ms apart: past the grace period, at about twice the minimum rate.
	pr, pw := io.Pipe()
	go func() {
		step := (len(body) + 7) / 8
		for start := 0; start < len(body); start += step {
			if start > 0 {
				time.Sleep(250 * time.Millisecond)
			}
			_, _ = pw.Write(body[start:min(start+step, len(body))])
		}
		_ = pw.Close()
	}()
	req, err := http.NewRequest("POST", e.URL+"/telemetry", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+u.Token)
	res, err := e.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	mustAccept(t, telemetryapitest.Response{Status: res.StatusCode, Body: b})
}

// Beyond the in-flight budget a body gets 429 with Retry-After at once; the budget comes
// back when the requests holding it end.
func TestSlowBodies_BeyondTheBudgetIs429(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true,
		BodyLimits: httpapi.BodyLimits{Grace: 2 * time.Second, InFlight: 2 * telemetryLimit}})
	u := e.NewUser()
	// Three announced 8 MiB bodies: two fit, whichever comes last does not.
	answers := make([]httpapitest.Answer, 3)
	var wg sync.WaitGroup
	for i := range answers {
		c := httpapitest.StartSlowBody(t, e.Addr, "POST", httpapi.Prefix+"/telemetry", bearer(u.Token), telemetryLimit, 100*time.Millisecond)
		wg.Go(func() {
			var err error
			if answers[i], err = c.Result(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	slices.SortFunc(answers, func(a, b httpapitest.Answer) int { return a.Status - b.Status })
	if answers[0].Status != http.StatusRequestTimeout || answers[1].Status != http.StatusRequestTimeout {
		t.Errorf("the two bodies within the budget got %d and %d, want 408 (too slow)", answers[0].Status, answers[1].Status)
	}
	over := answers[2]
	if over.Status != http.StatusTooManyRequests || string(over.Body) != `{"error":"Too many requests"}` || over.Header.Get("Retry-After") != "1" {
		t.Errorf("the body beyond the budget got %d %s Retry-After %q, want 429 with Retry-After 1", over.Status, over.Body, over.Header.Get("Retry-After"))
	}
	// Their share is back once their requests have ended (each ends just after its
	// answer is written).
	r := post(t, e, u.Token, extensionBatch(sid))
	for ; r.Status == http.StatusTooManyRequests; r = post(t, e, u.Token, extensionBatch(sid)) {
		time.Sleep(10 * time.Millisecond)
	}
	mustAccept(t, r)
}
