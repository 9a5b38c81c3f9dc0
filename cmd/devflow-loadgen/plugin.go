package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"path"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/domain/ids"
)

// The simulated WakaTime plugin sends what wakatime-cli sends (its heartbeat JSON, its
// User-Agent, X-Machine-Name, the API key as HTTP Basic): a heartbeat when the file
// changes, on every save (is_write, with the lines added and deleted since the last
// one) and while typing in one file, now and then a debugging or building spell, in a
// few projects of several languages. Times come from a simulated clock that starts
// heartbeatLead before the run and strictly increases per client, so heartbeats stay
// within the server's HEARTBEAT_MAX_AGE (14 days by default) for a long flat-out run.

// heartbeatLead is how far before the run the simulated clocks start.
const heartbeatLead = 13 * 24 * time.Hour

// wakaHeartbeat is a heartbeat as wakatime-cli sends it.
type wakaHeartbeat struct {
	Entity           string   `json:"entity"`
	Type             string   `json:"type"`
	Category         string   `json:"category"`
	Time             float64  `json:"time"`
	Project          string   `json:"project"`
	ProjectRootCount int      `json:"project_root_count"`
	Branch           string   `json:"branch"`
	Language         string   `json:"language"`
	Dependencies     []string `json:"dependencies,omitempty"`
	Lines            int      `json:"lines"`
	LineNo           int      `json:"lineno"`
	CursorPos        int      `json:"cursorpos"`
	LineAdditions    int      `json:"line_additions"`
	LineDeletions    int      `json:"line_deletions"`
	IsWrite          bool     `json:"is_write"`
}

// pluginLanguages are WakaTime's language names for the workspaces' files.
var pluginLanguages = map[string]string{
	".ts": "TypeScript", ".py": "Python", ".go": "Go", ".json": "JSON", ".md": "Markdown",
	".ipynb": "Jupyter", ".mod": "Go", "": "Makefile",
}

var pluginDependencies = map[string][]string{
	"TypeScript": {"express", "zod", "vitest"},
	"Python":     {"numpy", "pandas", "torch"},
	"Go":         {"github.com/jackc/pgx/v5", "go.uber.org/fx"},
}

// The editors a plugin user may have: wakatime-cli's User-Agent names the editor and
// its plugin.
var pluginEditors = []string{
	"wakatime/v1.102.1 (linux-6.8.0-45-generic-x86_64) go1.23.1 vim/9.1.0 vim-wakatime/11.2.0",
	"wakatime/v1.102.1 (darwin-23.6.0-arm64) go1.23.1 IntelliJ IDEA/2024.2.3 intellij-wakatime/15.0.3",
	"wakatime/v1.102.1 (linux-6.8.0-45-generic-x86_64) go1.23.1 neovim/0.10.1 vim-wakatime/11.2.0",
	"wakatime/v1.102.1 (windows-10.0.22631-x86_64) go1.23.1 emacs/29.4 wakatime-mode/1.0.2",
	"wakatime/v1.102.1 (darwin-23.6.0-arm64) go1.23.1 Sublime Text/4180 sublime-wakatime/11.1.1",
}

type pluginFile struct {
	path, language string
	lines, cursor  int
	added, deleted int // since the last save
}

// plugin is one simulated WakaTime plugin (one editor of one user).
type plugin struct {
	rng       *rand.Rand
	userAgent string
	machine   string
	now       time.Time
	project   int
	files     [][]*pluginFile // per project
	active    *pluginFile
	branch    string
	category  string
	spell     int // heartbeats left in a debugging or building spell
}

func newPlugin(seed uint64, i int, start time.Time) *plugin {
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	p := &plugin{rng: rng, userAgent: pluginEditors[rng.IntN(len(pluginEditors))],
		machine: fmt.Sprintf("dev-box-%d", i), now: start.Add(time.Duration(i) * time.Second),
		branch: []string{"main", "feature/search", "fix/timeouts"}[rng.IntN(3)], category: "coding"}
	for _, proj := range projects {
		var fs []*pluginFile
		for _, rel := range proj.files {
			lines := 20 + rng.IntN(600)
			fs = append(fs, &pluginFile{path: "/home/dev/" + proj.name + "/" + rel,
				language: pluginLanguages[path.Ext(rel)], lines: lines, cursor: 1 + rng.IntN(lines)})
		}
		p.files = append(p.files, fs)
	}
	p.project = rng.IntN(len(projects))
	p.active = p.files[p.project][0]
	return p
}

// gap is the time to the next heartbeat: mostly typing and switching, now and then a
// pause, rarely a break over the keystroke timeout. Heartbeats come closer than
// wakatime-cli's (which sends one per file and 2 minutes unless the file changes or is
// saved), so that a flat-out run of a minute stays within HEARTBEAT_MAX_AGE.
func (p *plugin) gap() time.Duration {
	return mixedGap(p.rng, 0.001, gapRange{16 * time.Minute, 45 * time.Minute},
		0.02, gapRange{20 * time.Second, 100 * time.Second}, gapRange{500 * time.Millisecond, 2500 * time.Millisecond})
}

// next is the plugin's next heartbeat.
func (p *plugin) next() wakaHeartbeat {
	p.now = p.now.Add(p.gap())
	switch r := p.rng.Float64(); {
	case r < 0.01: // another project
		p.project = p.rng.IntN(len(p.files))
		p.active = p.files[p.project][p.rng.IntN(len(p.files[p.project]))]
	case r < 0.25: // another file
		fs := p.files[p.project]
		p.active = fs[p.rng.IntN(len(fs))]
	}
	if p.spell > 0 {
		p.spell--
	} else {
		p.category = "coding"
		if p.rng.IntN(400) == 0 {
			p.category, p.spell = []string{"debugging", "building"}[p.rng.IntN(2)], 5+p.rng.IntN(30)
		}
	}
	f := p.active
	// Typing since the last heartbeat.
	if p.rng.IntN(3) == 0 {
		k := p.rng.IntN(8)
		f.added, f.lines = f.added+k, f.lines+k
	}
	if p.rng.IntN(5) == 0 {
		k := min(p.rng.IntN(4), f.lines-1)
		f.deleted, f.lines = f.deleted+k, f.lines-k
	}
	f.cursor = min(max(f.cursor+p.rng.IntN(21)-10, 1), f.lines)
	h := wakaHeartbeat{Entity: f.path, Type: "file", Category: p.category,
		Time: math.Round(float64(p.now.UnixMicro())/1e3) / 1e3, Project: projects[p.project].name, ProjectRootCount: 4,
		Branch: p.branch, Language: f.language, Dependencies: pluginDependencies[f.language],
		Lines: f.lines, LineNo: f.cursor, CursorPos: 1 + p.rng.IntN(80)}
	if p.rng.IntN(6) == 0 { // a save: the lines changed since the last one
		h.IsWrite, h.LineAdditions, h.LineDeletions = true, f.added, f.deleted
		f.added, f.deleted = 0, 0
	}
	return h
}

func (p *plugin) batch(n int) []wakaHeartbeat {
	out := make([]wakaHeartbeat, n)
	for i := range out {
		out[i] = p.next()
	}
	return out
}

// basicAuth is the Authorization header wakatime-cli sends: Basic base64(api key).
func basicAuth(key string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(key)) }

// errPastTheServersFuture stops a client whose simulated clock would reach the future
// the server refuses (a day ahead).
var errPastTheServersFuture = errors.New("the simulated clock reached a day ahead of now: run shorter (-duration, -events)")

func (p *plugin) request(baseURL string, cr credential, n int, sentAt time.Time) (*http.Request, error) {
	beats := p.batch(n)
	if p.now.After(sentAt.Add(23 * time.Hour)) {
		return nil, errPastTheServersFuture
	}
	body := appendHeartbeats(make([]byte, 0, 64+len(beats)*384), beats)
	req, err := postRequest(baseURL+"/users/current/heartbeats.bulk", body, basicAuth(cr.token))
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", p.userAgent)
	req.Header.Set("X-Machine-Name", p.machine)
	return req, nil
}

// appendHeartbeats appends beats as json.Marshal writes them, at a fraction of its cost:
// the load generator shares the CPU with the server it measures.
func appendHeartbeats(b []byte, beats []wakaHeartbeat) []byte {
	b = append(b, '[')
	for i, h := range beats {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(append(b, `{"entity":`...), h.Entity)
		b = appendJSONString(append(b, `,"type":`...), h.Type)
		b = appendJSONString(append(b, `,"category":`...), h.Category)
		b = appendJSONFloat(append(b, `,"time":`...), h.Time)
		b = appendJSONString(append(b, `,"project":`...), h.Project)
		b = strconv.AppendInt(append(b, `,"project_root_count":`...), int64(h.ProjectRootCount), 10)
		b = appendJSONString(append(b, `,"branch":`...), h.Branch)
		b = appendJSONString(append(b, `,"language":`...), h.Language)
		if len(h.Dependencies) > 0 {
			b = append(b, `,"dependencies":[`...)
			for j, d := range h.Dependencies {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, d)
			}
			b = append(b, ']')
		}
		b = strconv.AppendInt(append(b, `,"lines":`...), int64(h.Lines), 10)
		b = strconv.AppendInt(append(b, `,"lineno":`...), int64(h.LineNo), 10)
		b = strconv.AppendInt(append(b, `,"cursorpos":`...), int64(h.CursorPos), 10)
		b = strconv.AppendInt(append(b, `,"line_additions":`...), int64(h.LineAdditions), 10)
		b = strconv.AppendInt(append(b, `,"line_deletions":`...), int64(h.LineDeletions), 10)
		b = strconv.AppendBool(append(b, `,"is_write":`...), h.IsWrite)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendJSONString appends s as json.Marshal writes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			enc, _ := json.Marshal(s) // escapes, or UTF-8 to check
			return append(b, enc...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

// appendJSONFloat appends f as json.Marshal writes it.
func appendJSONFloat(b []byte, f float64) []byte {
	if f >= 1e-6 && f < 1e21 { // no exponent
		return strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	enc, _ := json.Marshal(f)
	return append(b, enc...)
}

// tally counts the per-heartbeat answers of a 201: [{"data": …}, 201] is stored (a
// resend too: the API answers it like a first send), anything else rejected.
func (p *plugin) tally(body []byte, n int) (accepted, duplicates, rejected int64) {
	pairs, ok := responsePairs(body)
	if !ok || len(pairs) != n {
		return 0, 0, int64(n)
	}
	for _, pair := range pairs {
		parts, ok := heartbeat.Split(pair)
		switch {
		case !ok:
			return 0, 0, int64(n) // not the answer's shape
		case len(parts) == 2 && string(parts[1]) == "201":
			accepted++
		default:
			rejected++
		}
	}
	return accepted, 0, rejected
}

// responsePairs is the "responses" array of a bulk answer: split without decoding it
// when the answer is as devFlow writes it (json.Unmarshal decoding every pair cost the
// load generator more CPU than the server's parse of the heartbeats), through
// encoding/json otherwise.
func responsePairs(body []byte) ([]json.RawMessage, bool) {
	if rest, ok := bytes.CutPrefix(body, []byte(`{"responses":`)); ok {
		if list, ok := bytes.CutSuffix(rest, []byte("}")); ok {
			if pairs, ok := heartbeat.Split(list); ok {
				return pairs, true
			}
		}
	}
	var reply struct {
		Responses []json.RawMessage `json:"responses"`
	}
	if json.Unmarshal(body, &reply) != nil {
		return nil, false
	}
	return reply.Responses, true
}

// stored is the HeartbeatRecorded events the API appends for the next n heartbeats, as
// rows of the events table.
func (p *plugin) stored(n int, user string, versions map[string]int64) ([][]any, error) {
	uid, err := ids.Parse(user)
	if err != nil {
		return nil, err
	}
	meta, err := json.Marshal(eventlog.Metadata{UserID: user, ReceivedAt: time.Now().UTC(), RequestID: ids.New().String()})
	if err != nil {
		return nil, err
	}
	stream := heartbeat.StreamID(uid)
	client := heartbeat.Client{UserAgent: p.userAgent, Machine: p.machine}
	beats := p.batch(n)
	if p.now.After(time.Now().Add(23 * time.Hour)) {
		return nil, errPastTheServersFuture
	}
	rows := make([][]any, 0, n)
	for _, h := range beats {
		raw, err := json.Marshal(h)
		if err != nil {
			return nil, err
		}
		_, ev, err := heartbeat.Parse(uid, raw, client, time.Now(), heartbeatLead+24*time.Hour)
		if err != nil {
			return nil, err
		}
		versions[stream]++
		rows = append(rows, []any{[16]byte(ev.ID), stream, versions[stream], ev.Type, ev.SchemaVersion, []byte(ev.Data), meta})
	}
	return rows, nil
}
