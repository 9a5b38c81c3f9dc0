package recommendationsapi_test

import (
	"encoding/json"
	"testing"

	"github.com/devflow/backend/infra/insights/insightstest"
)

// Query values, path segments and JSON strings PostgreSQL cannot store get a JSON 4xx
// from the recommendation and metrics endpoints that use them, never a 5xx.
func TestHostileText_Answers4xx(t *testing.T) {
	e := insightstest.New(t, insightstest.Options{})
	u := e.NewUser()
	e.Send(u, longSession)
	for _, bad := range []string{"%00", "%ed%a0%80", "%ff", "a%00b"} {
		for _, rq := range []struct{ method, path, body string }{
			{"GET", "/recommendations?limit=" + bad, ""},
			{"POST", "/recommendations/" + bad + "/action", `{"action":"accepted"}`},
			{"GET", "/metrics/churn?from=" + bad, ""},
			{"GET", "/metrics/context-switching?top_n=" + bad, ""},
			{"GET", "/metrics/context-switching/" + bad, ""},
		} {
			var body []byte
			if rq.body != "" {
				body = []byte(rq.body)
			}
			expectClientError(t, rq.method+" "+rq.path, e.Do(rq.method, rq.path, u.Token, body))
		}
	}
	for _, body := range []string{`{"mode":"demo\u0000"}`, "{\"mode\":\"demo\xff\"}", `{"mode":"demo","note":"\u0000"}`} {
		expectClientError(t, "trigger "+body, e.Do("POST", "/recommendations/trigger", u.Token, []byte(body)))
	}
}

func expectClientError(t *testing.T, what string, r resp) {
	t.Helper()
	var body map[string]any
	if r.Status < 400 || r.Status >= 500 || json.Unmarshal(r.Body, &body) != nil {
		t.Errorf("%s: got %s, want a 4xx with a JSON body", what, r)
		return
	}
	if _, ok := body["error"].(string); !ok {
		t.Errorf("%s: body %s has no string error", what, r.Body)
	}
}
