package wakatimeapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	cmdheartbeats "github.com/devflow/backend/commands/heartbeats"
	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/infra/httpapi"
)

// heartbeatJSON is what a stored heartbeat answers with.
type heartbeatJSON struct {
	ID       string  `json:"id"`
	Entity   string  `json:"entity"`
	Type     string  `json:"type"`
	Category string  `json:"category"`
	Time     float64 `json:"time"`
}

func toHeartbeatJSON(h heartbeat.Heartbeat) heartbeatJSON {
	return heartbeatJSON{ID: h.ID.String(), Entity: h.Entity, Type: h.Type, Category: h.Category,
		Time: float64(h.Time.UnixMicro()) / 1e6}
}

// postHeartbeats takes one heartbeat object (answered {"data": …}) or an array (answered
// {"responses": [[{"data": …}, 201] | [{"error": …}, 400], …]} in order, as
// wakatime-cli reads it). Valid heartbeats are stored even when others are not; with
// none valid the answer is 400.
func (h *Handler) postHeartbeats(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, ok := httpapi.ReadBodyLimit(w, r, h.maxBody)
	if !ok {
		return
	}
	trimmed := bytes.TrimSpace(body)
	single := len(trimmed) > 0 && trimmed[0] == '{'
	var items []json.RawMessage
	if single {
		items = []json.RawMessage{trimmed}
	} else if err := json.Unmarshal(trimmed, &items); err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, "body must be a heartbeat object or an array of heartbeats")
		return
	}
	if len(items) == 0 {
		httpapi.WriteError(w, http.StatusBadRequest, "no heartbeats")
		return
	}
	p, _ := httpapi.PrincipalFrom(ctx)
	outcomes, err := h.record.Handle(ctx, cmdheartbeats.Record{
		User:       p.UserID,
		Client:     heartbeat.Client{UserAgent: r.UserAgent(), Machine: r.Header.Get("X-Machine-Name")},
		RequestID:  httpapi.RequestID(ctx),
		Heartbeats: items,
	})
	switch {
	case errors.Is(err, cmdheartbeats.ErrNoneValid):
		httpapi.WriteError(w, http.StatusBadRequest, noneValidMessage(outcomes))
		return
	case err != nil:
		httpapi.InternalError(w, r, err)
		return
	}
	if single {
		httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"data": toHeartbeatJSON(outcomes[0].Heartbeat)})
		return
	}
	responses := make([][2]any, len(outcomes))
	for i, o := range outcomes {
		if o.Err != nil {
			responses[i] = [2]any{map[string]string{"error": o.Err.Error()}, http.StatusBadRequest}
			continue
		}
		responses[i] = [2]any{map[string]any{"data": toHeartbeatJSON(o.Heartbeat)}, http.StatusCreated}
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"responses": responses})
}

// noneValidMessage names the first few reasons.
func noneValidMessage(outcomes []cmdheartbeats.Outcome) string {
	var reasons []string
	for _, o := range outcomes {
		if len(reasons) == 3 {
			reasons = append(reasons, "…")
			break
		}
		reasons = append(reasons, o.Err.Error())
	}
	return "no valid heartbeat: " + strings.Join(reasons, "; ")
}
