package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/domain/ids"
)

// The simulated plugin sends what wakatime-cli sends: heartbeats the service accepts,
// in time order, in several projects, languages and files, with saves carrying the
// lines changed, mostly coding with spells of debugging or building, and gaps under the
// keystroke timeout but for rare breaks.
func TestPlugin_LooksLikeWakatimeCli(t *testing.T) {
	now := time.Now()
	p := newPlugin(3, 1, now.Add(-heartbeatLead))
	user := ids.New()
	projectsSeen, languages, entities, categories := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]int{}
	var writes, writesWithLines, breaks int
	var last float64
	const n = 20_000
	for _, h := range p.batch(n) {
		raw, _ := json.Marshal(h)
		if _, _, err := heartbeat.Parse(user, raw, heartbeat.Client{UserAgent: p.userAgent, Machine: p.machine}, now, 14*24*time.Hour); err != nil {
			t.Fatalf("the service rejects %s: %v", raw, err)
		}
		if h.Time <= last {
			t.Fatalf("time %f after %f", h.Time, last)
		}
		if last > 0 && h.Time-last >= 15*60 {
			breaks++
		}
		last = h.Time
		projectsSeen[h.Project], languages[h.Language], entities[h.Entity] = true, true, true
		categories[h.Category]++
		if h.IsWrite {
			writes++
			if h.LineAdditions+h.LineDeletions > 0 {
				writesWithLines++
			}
		} else if h.LineAdditions != 0 || h.LineDeletions != 0 {
			t.Fatalf("lines changed on a heartbeat that is no save: %+v", h)
		}
	}
	if len(projectsSeen) < 3 || len(languages) < 4 || len(entities) < 15 {
		t.Errorf("%d projects, %d languages, %d files", len(projectsSeen), len(languages), len(entities))
	}
	if writes < n/10 || writes > n/4 || writesWithLines < writes/2 {
		t.Errorf("%d saves of %d heartbeats, %d with lines changed", writes, n, writesWithLines)
	}
	if categories["coding"] < n*9/10 || categories["debugging"]+categories["building"] == 0 {
		t.Errorf("categories %v", categories)
	}
	if breaks == 0 || breaks > n/100 {
		t.Errorf("%d breaks over the timeout in %d heartbeats", breaks, n)
	}
	if end := time.Unix(int64(last), 0); end.After(now) {
		t.Errorf("%d heartbeats reach %v, past the run's start", n, end)
	}
}

// A request is wakatime-cli's: a JSON array to heartbeats.bulk, the API key as HTTP
// Basic, the editor in the User-Agent and the machine's name.
func TestPlugin_RequestIsWakatimeClis(t *testing.T) {
	p := newPlugin(4, 2, time.Now().Add(-time.Hour))
	req, err := p.request("http://devflow.test/api/v1", credential{token: "dvf_secret"}, 25, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != "POST" || req.URL.String() != "http://devflow.test/api/v1/users/current/heartbeats.bulk" {
		t.Errorf("%s %s", req.Method, req.URL)
	}
	if got := req.Header.Get("Authorization"); got != "Basic "+base64.StdEncoding.EncodeToString([]byte("dvf_secret")) {
		t.Errorf("Authorization %q", got)
	}
	if ua := req.Header.Get("User-Agent"); !strings.HasPrefix(ua, "wakatime/") || req.Header.Get("X-Machine-Name") != "dev-box-2" {
		t.Errorf("User-Agent %q, machine %q", ua, req.Header.Get("X-Machine-Name"))
	}
	body, _ := io.ReadAll(req.Body)
	var beats []map[string]any
	if err := json.Unmarshal(body, &beats); err != nil || len(beats) != 25 {
		t.Fatalf("body: %d heartbeats, %v", len(beats), err)
	}
}

// The answer is counted per heartbeat: a [{"error"}, 400] pair is a rejection.
func TestPlugin_TallyCountsEachHeartbeatsAnswer(t *testing.T) {
	p := newPlugin(5, 0, time.Now())
	body := `{"responses": [[{"data": {"id": "a"}}, 201], [{"error": "time is too old"}, 400], [{"data": {"id": "b"}}, 201]]}`
	if a, d, r := p.tally([]byte(body), 3); a != 2 || d != 0 || r != 1 {
		t.Errorf("accepted %d, duplicates %d, rejected %d; want 2, 0, 1", a, d, r)
	}
	if a, _, r := p.tally([]byte(`{"responses": []}`), 3); a != 0 || r != 3 {
		t.Errorf("an answer without the heartbeats' pairs: accepted %d, rejected %d", a, r)
	}
	// devFlow's own spelling (no spaces) takes the quick way, with the same counts.
	compact := strings.NewReplacer(" ", "").Replace(body)
	if a, d, r := p.tally([]byte(compact), 3); a != 2 || d != 0 || r != 1 {
		t.Errorf("%s: accepted %d, duplicates %d, rejected %d; want 2, 0, 1", compact, a, d, r)
	}
	for _, bad := range []string{`{"responses":[1,2,3]}`, `{"responses":[[{},201],[{},201],[{},201]]`, `{"responses":[[{},201],[{},201],[{},201]]}x`} {
		if a, _, r := p.tally([]byte(bad), 3); a != 0 || r != 3 {
			t.Errorf("%s: accepted %d, rejected %d", bad, a, r)
		}
	}
}

// The request body is written by hand; it must be what json.Marshal writes.
func TestAppendHeartbeats_WritesWhatJSONMarshalWrites(t *testing.T) {
	p := newPlugin(9, 2, time.Now().Add(-heartbeatLead))
	beats := p.batch(2000)
	beats = append(beats, wakaHeartbeat{Entity: `C:\dev\"<a>&b".go` + "\u2028\xff\t", Type: "file", Time: 1e-7, Dependencies: []string{"é", ""}},
		wakaHeartbeat{Time: 1e21, Project: "日本"}, wakaHeartbeat{})
	want, err := json.Marshal(beats)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendHeartbeats(nil, beats); string(got) != string(want) {
		t.Errorf("wrote\n%s\nwant\n%s", got, want)
	}
}

// The statusbar probe's history is a year of working days up to the present, in time
// order, with today's last hour, and nothing in the future.
func TestHistory_AYearOfWorkingDaysUpToNow(t *testing.T) {
	now := time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC) // a Thursday
	beats := history(9, 365, now)
	days := map[string]bool{}
	var last float64
	for _, h := range beats {
		at := time.UnixMilli(int64(h.Time * 1000)).UTC()
		if h.Time <= last || !at.Before(now) {
			t.Fatalf("heartbeat at %v after %v (now %v)", at, time.UnixMilli(int64(last*1000)).UTC(), now)
		}
		last = h.Time
		if wd := at.Weekday(); (wd == time.Saturday || wd == time.Sunday) && at.Before(now.Truncate(24*time.Hour)) {
			t.Fatalf("a heartbeat on a weekend: %v", at)
		}
		days[at.Format("2006-01-02")] = true
		if h.UserAgent == "" || h.Machine == "" {
			t.Fatalf("no user agent or machine: %+v", h)
		}
	}
	if len(days) < 250 || !days["2026-12-03"] || !days["2025-12-03"] {
		t.Errorf("%d days, today %v, a year ago %v", len(days), days["2026-12-03"], days["2025-12-03"])
	}
}
