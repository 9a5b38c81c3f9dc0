package heartbeats

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/domain/ids"
)

// ImportHandler brings a user's history in from a Wakapi (or WakaTime) heartbeat export.
// Heartbeats get the ids a live send would give them, so importing the same export
// again stores nothing new.
type ImportHandler struct{ record *RecordHandler }

// importChunk is how many heartbeats go into one append.
const importChunk = 1000

// NewImportHandler builds the handler. Imported history is old by nature: no
// HEARTBEAT_MAX_AGE applies.
func NewImportHandler(log Appender) *ImportHandler {
	return &ImportHandler{record: NewRecordHandler(log, 100*365*24*time.Hour, nil)}
}

// Progress counts an import's heartbeats.
type Progress struct {
	Done, Total, Invalid int
}

// ErrNotAnExport is returned for JSON that holds no heartbeat list.
var ErrNotAnExport = errors.New("not a heartbeat export")

// Handle imports export for user, reporting progress after each append.
func (h *ImportHandler) Handle(ctx context.Context, user ids.ID, export []byte, progress func(Progress)) (Progress, error) {
	items, err := exportItems(export)
	if err != nil {
		return Progress{}, err
	}
	p := Progress{Total: len(items)}
	for start := 0; start < len(items); {
		// One append per run of heartbeats from the same machine, at most importChunk.
		machine := items[start].machine
		end := start
		var raws []json.RawMessage
		for end < len(items) && end-start < importChunk && items[end].machine == machine {
			raws = append(raws, items[end].raw)
			end++
		}
		outcomes, err := h.record.Handle(ctx, Record{User: user, Client: heartbeat.Client{Machine: machine}, Heartbeats: raws})
		if err != nil && !errors.Is(err, ErrNoneValid) {
			return p, err
		}
		for _, o := range outcomes {
			if o.Err != nil {
				p.Invalid++
			}
		}
		p.Done += end - start
		if progress != nil {
			progress(p)
		}
		start = end
	}
	return p, nil
}

type exportItem struct {
	machine string
	raw     json.RawMessage
}

// exportItems finds the heartbeats of an export: a top-level array, or an object with
// "heartbeats" or "data" (Wakapi's and this API's heartbeat lists), or WakaTime's data
// dump {"days": [{"heartbeats": […]}]}. Each becomes a heartbeat as wakatime-cli would
// send it: time as Unix seconds, the machine apart, a user agent naming the editor and
// OS when the export has those but no user agent.
func exportItems(export []byte) ([]exportItem, error) {
	var list []map[string]any
	trimmed := bytes.TrimSpace(export)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := unmarshalNumbers(trimmed, &list); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotAnExport, err)
		}
	} else {
		var doc struct {
			Heartbeats []map[string]any `json:"heartbeats"`
			Data       []map[string]any `json:"data"`
			Days       []struct {
				Heartbeats []map[string]any `json:"heartbeats"`
			} `json:"days"`
		}
		if err := unmarshalNumbers(trimmed, &doc); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotAnExport, err)
		}
		list = append(doc.Heartbeats, doc.Data...)
		for _, d := range doc.Days {
			list = append(list, d.Heartbeats...)
		}
		if doc.Heartbeats == nil && doc.Data == nil && doc.Days == nil {
			return nil, ErrNotAnExport
		}
	}
	out := make([]exportItem, 0, len(list))
	for _, f := range list {
		machine := firstString(f, "machine_name_id", "machine")
		if s, ok := f["time"].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				f["time"] = json.Number(fmt.Sprintf("%.6f", float64(t.UnixMicro())/1e6))
			}
		}
		if ua, _ := f["user_agent"].(string); ua == "" {
			editor, os := firstString(f, "editor"), firstString(f, "operating_system", "os")
			if editor != "" || os != "" {
				f["user_agent"] = fmt.Sprintf("wakatime/unset (%s-unknown) import %s-wakatime/unset", os, editor)
			}
		}
		raw, err := json.Marshal(f)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotAnExport, err)
		}
		out = append(out, exportItem{machine: machine, raw: raw})
	}
	return out, nil
}

func unmarshalNumbers(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

func firstString(f map[string]any, names ...string) string {
	for _, n := range names {
		if s, ok := f[n].(string); ok && s != "" {
			return s
		}
	}
	return ""
}
