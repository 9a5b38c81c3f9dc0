package wakatimeapi

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	cmdheartbeats "github.com/devflow/backend/commands/heartbeats"
	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/domain/ids"
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
	var buf []byte
	if kept, ok := h.buffers.Get().(*[]byte); ok {
		buf = *kept
	}
	body, ok := httpapi.ReadBodyInto(w, r, h.maxBody, buf)
	if !ok {
		return
	}
	defer h.keep(body)
	trimmed := bytes.TrimSpace(body)
	single := len(trimmed) > 0 && trimmed[0] == '{'
	items := []json.RawMessage{trimmed}
	if !single {
		var ok bool
		if items, ok = heartbeat.Split(trimmed); !ok && json.Unmarshal(trimmed, &items) != nil {
			httpapi.WriteError(w, http.StatusBadRequest, "body must be a heartbeat object or an array of heartbeats")
			return
		}
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
	h.writeResponses(w, outcomes)
}

// keptBuffer is the smallest buffer kept for the next request: smaller ones cost
// little to allocate.
const keptBuffer = 16 << 10

// keep offers b's room to the next request's body or answer; nothing refers to it once
// the answer is written (the heartbeats and their payloads are copies).
func (h *Handler) keep(b []byte) {
	if cap(b) < keptBuffer {
		return
	}
	b = b[:0]
	h.buffers.Put(&b)
}

// writeResponses answers a bulk request: 201 with {"responses": [[{"data": …}, 201] |
// [{"error": …}, 400], …]}, as httpapi.WriteJSON writes it, without building the
// values it would encode.
func (h *Handler) writeResponses(w http.ResponseWriter, outcomes []cmdheartbeats.Outcome) {
	var body []byte
	if kept, ok := h.buffers.Get().(*[]byte); ok {
		body = *kept
	}
	body = slices.Grow(body[:0], 64+len(outcomes)*192)
	defer h.keep(body)
	body = append(body, `{"responses":[`...)
	for i, o := range outcomes {
		if i > 0 {
			body = append(body, ',')
		}
		if o.Err != nil {
			body = append(appendString(append(body, `[{"error":`...), o.Err.Error()), `},400]`...)
			continue
		}
		body = appendHeartbeat(append(body, `[{"data":`...), o.Heartbeat)
		body = append(body, `},201]`...)
	}
	body = append(body, "]}"...)
	header := w.Header()
	header.Set("Content-Type", "application/json; charset=utf-8")
	header.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(body)
}

// appendHeartbeat appends toHeartbeatJSON(hb) as JSON.
func appendHeartbeat(b []byte, hb heartbeat.Heartbeat) []byte {
	j := heartbeatJSON{Entity: hb.Entity, Type: hb.Type, Category: hb.Category, Time: float64(hb.Time.UnixMicro()) / 1e6}
	b = appendID(append(b, `{"id":"`...), hb.ID)
	b = appendString(append(b, `","entity":`...), j.Entity)
	b = appendString(append(b, `,"type":`...), j.Type)
	b = appendString(append(b, `,"category":`...), j.Category)
	b = append(b, `,"time":`...)
	if j.Time >= 1e-6 && j.Time < 1e21 { // what encoding/json writes without an exponent
		b = strconv.AppendFloat(b, j.Time, 'f', -1, 64)
	} else {
		b = appendEncoded(b, j.Time)
	}
	return append(b, '}')
}

// appendID appends id in its text form, as ids.ID.String writes it.
func appendID(b []byte, id ids.ID) []byte {
	for i, part := range [...][2]int{{0, 4}, {4, 6}, {6, 8}, {8, 10}, {10, 16}} {
		if i > 0 {
			b = append(b, '-')
		}
		b = hex.AppendEncode(b, id[part[0]:part[1]])
	}
	return b
}

// appendString appends s as a JSON string the way httpapi.WriteJSON writes it (no
// HTML escaping).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return appendEncoded(b, s) // escapes, or UTF-8 to check
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

// appendEncoded appends v as httpapi.WriteJSON's encoder writes it.
func appendEncoded(b []byte, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings and numbers always encode
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
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
