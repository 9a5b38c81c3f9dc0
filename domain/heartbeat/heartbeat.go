// Package heartbeat is the domain of WakaTime heartbeats: what any editor's WakaTime
// plugin sends through wakatime-cli. It validates a heartbeat, derives its id from the
// user and its content (a resend is a duplicate, as telemetry's decision D16), parses
// the editor, operating system and plugin from the wakatime-cli User-Agent, and turns
// heartbeats into durations the WakaTime way; the devFlow extension's client events
// count as sampled activity heartbeats (Activity). It is pure Go: no I/O.
//
// Each heartbeat is one HeartbeatRecorded event in its user's stream
// "heartbeats-<user uuid>": the heartbeat object is kept whole (unknown fields too),
// beside the fields the server adds (user agent, editor, OS, plugin, machine).
package heartbeat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
)

// TypeRecorded is the event type of a heartbeat in the log.
const TypeRecorded = "HeartbeatRecorded"

// SchemaVersion is the schema version of HeartbeatRecorded payloads.
const SchemaVersion = 1

// StreamID is the stream of a user's heartbeats. One stream per user: a request's
// heartbeats (an offline queue may span days) go into one append of one stream, and a
// user's heartbeats read back in the order the durations need.
func StreamID(user ids.ID) string { return "heartbeats-" + user.String() }

// Heartbeat types (the "type" field).
const (
	EntityFile   = "file"
	EntityApp    = "app"
	EntityDomain = "domain"
	EntityURL    = "url"
)

// DefaultCategory is the category of a heartbeat that names none.
const DefaultCategory = "coding"

// Bounds of heartbeat values; no real editor comes near them.
const (
	maxEntityLen = 4096 // code points, like telemetry's paths
	maxNameLen   = 255  // project, branch, language, category, ...
	maxCount     = 10_000_000
	maxFuture    = 24 * time.Hour // clock skew we tolerate
)

// Heartbeat is one heartbeat as the read models need it.
type Heartbeat struct {
	ID            ids.ID    `json:"-"`
	Time          time.Time `json:"-"`
	Entity        string    `json:"entity"`
	Type          string    `json:"type"`
	Category      string    `json:"category"`
	Project       string    `json:"project"`
	Branch        string    `json:"branch"`
	Language      string    `json:"language"`
	IsWrite       bool      `json:"is_write"`
	Lines         int64     `json:"lines"`
	LineAdditions int64     `json:"line_additions"`
	LineDeletions int64     `json:"line_deletions"`
	// Added by the server, stored beside the heartbeat as sent: whatever the sent
	// heartbeat holds under these names (a plugin may send "editor": 5) is not read.
	UserAgent string `json:"-"`
	Editor    string `json:"-"`
	OS        string `json:"-"`
	Plugin    string `json:"-"`
	Machine   string `json:"-"`
}

// Client is what the server knows of the sender of a request.
type Client struct {
	UserAgent string // the User-Agent header (a heartbeat's own user_agent wins)
	Machine   string // the X-Machine-Name header
}

// recorded is the stored payload: the heartbeat as sent, and what the server added.
type recorded struct {
	Heartbeat json.RawMessage `json:"heartbeat"`
	UserAgent string          `json:"user_agent"`
	Editor    string          `json:"editor"`
	OS        string          `json:"os"`
	Plugin    string          `json:"plugin"`
	Machine   string          `json:"machine"`
}

// ErrInvalid marks a heartbeat that cannot be stored; the error says why.
var ErrInvalid = errors.New("invalid heartbeat")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

var eventNamespace = ids.MustParse("9d3f7b2e-4a61-4c8e-b0d5-3e7a1f6c2b94")

// Parse validates one heartbeat object sent by user and returns it with the event to
// append. Heartbeats older than maxAge before now are rejected. (A request's heartbeats
// are parsed faster by one Parser.)
func Parse(user ids.ID, raw json.RawMessage, c Client, now time.Time, maxAge time.Duration) (Heartbeat, eventlog.EventData, error) {
	return NewParser(user, c, now, maxAge).Parse(raw)
}

// parseAny is Parse for any JSON: encoding/json decodes the heartbeat into a map, and
// json.Marshal of the map (keys sorted) is its canonical form.
func (p *Parser) parseAny(raw []byte) (Heartbeat, eventlog.EventData, error) {
	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers are kept exactly as sent
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return Heartbeat{}, eventlog.EventData{}, invalid("not a JSON object")
	}
	h, err := read(fields, p.now, p.maxAge)
	if err != nil {
		return Heartbeat{}, eventlog.EventData{}, err
	}
	h.UserAgent = p.client.UserAgent
	if ua, ok := fields["user_agent"].(string); ok && ua != "" {
		h.UserAgent = ua
	}
	h.Editor, h.OS, h.Plugin = ParseUserAgent(h.UserAgent)
	h.Machine = p.client.Machine
	if utf8.RuneCountInString(h.Machine) > maxNameLen || utf8.RuneCountInString(h.UserAgent) > maxEntityLen {
		return Heartbeat{}, eventlog.EventData{}, invalid("machine name or user agent too long")
	}

	canonical, err := json.Marshal(fields) // map keys sorted: the same content, the same bytes
	if err != nil {
		return Heartbeat{}, eventlog.EventData{}, invalid("not storable: %v", err)
	}
	h.ID = p.id(canonical)

	data, err := json.Marshal(recorded{Heartbeat: canonical, UserAgent: h.UserAgent, Editor: h.Editor, OS: h.OS, Plugin: h.Plugin, Machine: h.Machine})
	if err != nil {
		return Heartbeat{}, eventlog.EventData{}, invalid("not storable: %v", err)
	}
	return h, eventlog.EventData{
		ID: h.ID, Type: TypeRecorded, SchemaVersion: SchemaVersion, Data: data,
		Metadata: eventlog.Metadata{UserID: p.userText, Client: h.Plugin},
	}, nil
}

func read(f map[string]any, now time.Time, maxAge time.Duration) (Heartbeat, error) {
	var h Heartbeat
	var err error
	if h.Entity, err = stringField(f, "entity", maxEntityLen); err != nil {
		return h, err
	}
	if h.Entity == "" {
		return h, invalid("entity is required")
	}
	if h.Type, err = stringField(f, "type", maxNameLen); err != nil {
		return h, err
	}
	switch h.Type {
	case EntityFile, EntityApp, EntityDomain, EntityURL:
	default:
		return h, invalid("type must be one of file, app, domain, url")
	}
	if h.Category, err = stringField(f, "category", maxNameLen); err != nil {
		return h, err
	}
	if h.Category == "" {
		h.Category = DefaultCategory
	}
	for _, s := range []struct {
		name string
		dst  *string
	}{{"project", &h.Project}, {"branch", &h.Branch}, {"language", &h.Language}} {
		if *s.dst, err = stringField(f, s.name, maxNameLen); err != nil {
			return h, err
		}
	}
	for _, n := range []struct {
		name string
		dst  *int64
	}{{"lines", &h.Lines}, {"line_additions", &h.LineAdditions}, {"line_deletions", &h.LineDeletions},
		{"lineno", nil}, {"cursorpos", nil}, {"project_root_count", nil}} {
		v, err := countField(f, n.name)
		if err != nil {
			return h, err
		}
		if n.dst != nil {
			*n.dst = v
		}
	}
	switch w := f["is_write"].(type) {
	case nil:
	case bool:
		h.IsWrite = w
	default:
		return h, invalid("is_write must be a boolean")
	}
	if deps, ok := f["dependencies"]; ok && deps != nil {
		list, ok := deps.([]any)
		if !ok {
			return h, invalid("dependencies must be an array of strings")
		}
		for _, d := range list {
			if _, ok := d.(string); !ok {
				return h, invalid("dependencies must be an array of strings")
			}
		}
	}
	t, ok := f["time"].(json.Number)
	if !ok {
		return h, invalid("time must be a number of Unix seconds")
	}
	if h.Time, err = unixSeconds(t); err != nil {
		return h, err
	}
	if h.Time.Before(now.Add(-maxAge)) {
		return h, invalid("time is older than %s", maxAge)
	}
	if h.Time.After(now.Add(maxFuture)) {
		return h, invalid("time is in the future")
	}
	return h, nil
}

func stringField(f map[string]any, name string, maxLen int) (string, error) {
	switch v := f[name].(type) {
	case nil:
		return "", nil
	case string:
		if utf8.RuneCountInString(v) > maxLen {
			return "", invalid("%s is longer than %d characters", name, maxLen)
		}
		if strings.ContainsRune(v, 0) {
			return "", invalid("%s contains a NUL character", name) // PostgreSQL text cannot hold it
		}
		return v, nil
	}
	return "", invalid("%s must be a string", name)
}

func countField(f map[string]any, name string) (int64, error) {
	v, ok := f[name]
	if !ok || v == nil {
		return 0, nil
	}
	n, isNum := v.(json.Number)
	i, err := n.Int64()
	if !isNum || err != nil || i < 0 || i > maxCount {
		return 0, invalid("%s must be a whole number from 0 to %d", name, maxCount)
	}
	return i, nil
}

// unixSeconds reads float Unix seconds, to the microsecond PostgreSQL keeps.
func unixSeconds(n json.Number) (time.Time, error) {
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f <= 0 || f >= 253402300800 { // 10000-01-01
		return time.Time{}, invalid("time must be a positive number of Unix seconds")
	}
	return time.UnixMicro(int64(math.Round(f * 1e6))).UTC(), nil
}

// ErrUnknownSchemaVersion is returned for a payload version this binary cannot read.
var ErrUnknownSchemaVersion = errors.New("unknown schema version")

// Decode reads a stored HeartbeatRecorded payload of the given schema version.
func Decode(schemaVersion int, data []byte) (Heartbeat, error) {
	if schemaVersion != SchemaVersion {
		return Heartbeat{}, fmt.Errorf("%s v%d: %w", TypeRecorded, schemaVersion, ErrUnknownSchemaVersion)
	}
	if h, ok := decodePlain(data); ok {
		return h, nil
	}
	return decodeAny(data)
}

// decodeAny is Decode for any JSON, through encoding/json.
func decodeAny(data []byte) (Heartbeat, error) {
	var r recorded
	if err := json.Unmarshal(data, &r); err != nil {
		return Heartbeat{}, err
	}
	var h Heartbeat
	if err := json.Unmarshal(r.Heartbeat, &h); err != nil {
		return Heartbeat{}, err
	}
	var t struct {
		Time json.Number `json:"time"`
	}
	if err := json.Unmarshal(r.Heartbeat, &t); err != nil {
		return Heartbeat{}, err
	}
	var err error
	if h.Time, err = unixSeconds(t.Time); err != nil {
		return Heartbeat{}, err
	}
	if h.Category == "" {
		h.Category = DefaultCategory
	}
	h.UserAgent, h.Editor, h.OS, h.Plugin, h.Machine = r.UserAgent, r.Editor, r.OS, r.Plugin, r.Machine
	return h, nil
}

// ParseUserAgent reads wakatime-cli's User-Agent,
// "wakatime/v1.73.0 (linux-5.15.0-x86_64) go1.20.1 vscode/1.80.0 vscode-wakatime/24.0.0":
// the OS is the first word in the parentheses, the plugin the last "<editor>-wakatime/…"
// word and the editor its prefix. Parts it cannot find are empty.
func ParseUserAgent(ua string) (editor, os, plugin string) {
	if open := strings.IndexByte(ua, '('); open >= 0 {
		if end := strings.IndexByte(ua[open:], ')'); end > 0 {
			inside := ua[open+1 : open+end]
			os, _, _ = strings.Cut(inside, "-")
			os = strings.TrimSpace(os)
		}
	}
	words := strings.Fields(ua)
	for i := len(words) - 1; i > 0; i-- {
		name, _, _ := strings.Cut(words[i], "/")
		if e, ok := strings.CutSuffix(name, "-wakatime"); ok && e != "" {
			return e, os, words[i]
		}
	}
	return "", os, ""
}
