package wakatimeapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	cmdheartbeats "github.com/devflow/backend/commands/heartbeats"
	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/httpapi"
)

// The bulk answer is written by hand; it must be what WriteJSON writes of the values.
func TestWriteResponses_WritesWhatWriteJSONWrites(t *testing.T) {
	at := time.UnixMicro(1799999000123456).UTC()
	var outcomes []cmdheartbeats.Outcome
	for _, entity := range []string{"/src/a.go", `C:\dev\"x".go`, "/src/<é>&\u2028.go", "tab\there", "bad \xff utf-8", ""} {
		outcomes = append(outcomes, cmdheartbeats.Outcome{Heartbeat: heartbeat.Heartbeat{ID: ids.New(), Entity: entity, Type: "file", Category: "coding", Time: at}})
		at = at.Add(1500 * time.Millisecond)
	}
	outcomes = append(outcomes,
		cmdheartbeats.Outcome{Heartbeat: heartbeat.Heartbeat{ID: ids.New(), Entity: "e", Type: "app", Category: "debugging", Time: time.Unix(1799999000, 0)}},
		cmdheartbeats.Outcome{Err: errors.New(`invalid heartbeat: time is older than 336h0m0s`)},
		cmdheartbeats.Outcome{Err: errors.New("invalid \"heartbeat\" <\n>")},
	)
	want := httptest.NewRecorder()
	responses := make([][2]any, len(outcomes))
	for i, o := range outcomes {
		if o.Err != nil {
			responses[i] = [2]any{map[string]string{"error": o.Err.Error()}, http.StatusBadRequest}
			continue
		}
		responses[i] = [2]any{map[string]any{"data": toHeartbeatJSON(o.Heartbeat)}, http.StatusCreated}
	}
	httpapi.WriteJSON(want, http.StatusCreated, map[string]any{"responses": responses})

	got := httptest.NewRecorder()
	(&Handler{}).writeResponses(got, outcomes)
	if got.Code != want.Code || got.Body.String() != want.Body.String() {
		t.Errorf("wrote %d %s\nwant %d %s", got.Code, got.Body, want.Code, want.Body)
	}
	for _, h := range []string{"Content-Type", "Content-Length"} {
		if got.Header().Get(h) != want.Header().Get(h) {
			t.Errorf("%s: %q, want %q", h, got.Header().Get(h), want.Header().Get(h))
		}
	}
}
