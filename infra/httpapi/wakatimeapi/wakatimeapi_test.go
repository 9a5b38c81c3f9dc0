package wakatimeapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/infra/app/apptest"
	"github.com/devflow/backend/infra/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

const userAgent = "wakatime/v1.73.0 (linux-5.15.0-x86_64) go1.20.1 vim/9.0 vim-wakatime/11.1.0"

type user struct {
	name, jwt, key string
}

// client talks to one running service.
type client struct {
	t    *testing.T
	base string // http://127.0.0.1:port
	pool *pgxpool.Pool
}

func start(t *testing.T) *client {
	s := apptest.Start(t, nil)
	return &client{t: t, base: strings.TrimSuffix(s.URL, "/api/v1"), pool: s.Pool}
}

// do sends a request and decodes the JSON answer into out (when not nil).
func (c *client) do(method, path string, header map[string]string, body any, out any) int {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

func (c *client) newUser(name string) user {
	c.t.Helper()
	var reg struct{ Token string }
	if st := c.do("POST", "/api/v1/auth/register", nil, map[string]string{
		"email": name + "@example.com", "password": "password123", "username": name}, &reg); st != 201 {
		c.t.Fatalf("register: %d", st)
	}
	var tok struct{ Token string }
	if st := c.do("POST", "/api/v1/auth/tokens", bearer(reg.Token), map[string]string{"name": "wakatime"}, &tok); st != 201 {
		c.t.Fatalf("token: %d", st)
	}
	return user{name: name, jwt: reg.Token, key: tok.Token}
}

func bearer(s string) map[string]string { return map[string]string{"Authorization": "Bearer " + s} }

// basic is what wakatime-cli sends.
func basic(key string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(key))}
}

func beat(entity, project string, at time.Time) map[string]any {
	return map[string]any{"entity": entity, "type": "file", "category": "coding", "time": float64(at.UnixMicro()) / 1e6,
		"project": project, "language": "Go", "branch": "main", "is_write": false, "lines": 120, "lineno": 3, "cursorpos": 7}
}

type responses struct {
	Responses [][2]json.RawMessage `json:"responses"`
}

func (r responses) statuses() []int {
	var out []int
	for _, p := range r.Responses {
		var st int
		_ = json.Unmarshal(p[1], &st)
		out = append(out, st)
	}
	return out
}

// eventually waits, bounded, for the projections to show what cond looks for.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func heartbeatsOn(c *client, u user, day string) []map[string]any {
	var out struct{ Data []map[string]any }
	if st := c.do("GET", "/api/v1/users/current/heartbeats?date="+day, basic(u.key), nil, &out); st != 200 {
		c.t.Fatalf("heartbeats: %d", st)
	}
	return out.Data
}

func TestIngest_EveryAuthFormOnBothPrefixes(t *testing.T) {
	c := start(t)
	u := c.newUser("alice")
	forms := map[string]struct {
		header map[string]string
		query  string
	}{
		"basic base64(key)":  {basic(u.key), ""},
		"bearer base64(key)": {bearer(base64.StdEncoding.EncodeToString([]byte(u.key))), ""},
		"bearer key":         {bearer(u.key), ""},
		"api_key query":      {nil, "?api_key=" + u.key},
	}
	now := time.Now().Add(-time.Minute)
	i := 0
	for name, f := range forms {
		for _, prefix := range []string{"/api/v1", "/api/compat/wakatime/v1"} {
			i++
			var r responses
			path := prefix + "/users/current/heartbeats.bulk" + f.query
			if st := c.do("POST", path, f.header, []any{beat(fmt.Sprintf("f%d.go", i), "p", now.Add(time.Duration(i)*time.Second))}, &r); st != 201 {
				t.Fatalf("%s %s: status %d", name, prefix, st)
			}
			var one map[string]any
			path = prefix + "/users/current/heartbeats" + f.query
			if st := c.do("POST", path, f.header, beat(fmt.Sprintf("g%d.go", i), "p", now.Add(time.Duration(i)*time.Second)), &one); st != 201 || one["data"] == nil {
				t.Fatalf("%s %s single: status %d %v", name, prefix, st, one)
			}
			for _, read := range []string{"", "/statusbar/today", "/summaries?range=last_7_days", "/summaries?start=2026-01-01&end=2026-01-02",
				"/stats/last_7_days", "/all_time_since_today", "/projects", "/heartbeats?date=" + now.UTC().Format("2006-01-02")} {
				sep := "?"
				if strings.Contains(read, "?") {
					sep = "&"
				}
				q := ""
				if f.query != "" {
					q = sep + strings.TrimPrefix(f.query, "?")
				}
				var body map[string]any
				if st := c.do("GET", prefix+"/users/current"+read+q, f.header, nil, &body); st != 200 || body["data"] == nil {
					t.Fatalf("%s GET %s%s: status %d %v", name, prefix, read, st, body)
				}
			}
		}
	}
	for name, h := range map[string]map[string]string{
		"none": nil, "unknown key": basic("dvf_unknownunknownunknownunknownunknownunkno"), "a JWT": bearer(u.jwt),
	} {
		var body map[string]any
		if st := c.do("GET", "/api/v1/users/current/statusbar/today", h, nil, &body); st != 401 {
			t.Fatalf("%s: status %d, want 401", name, st)
		}
		if st := c.do("POST", "/api/v1/users/current/heartbeats.bulk", h, []any{beat("x.go", "p", now)}, &body); st != 401 {
			t.Fatalf("%s POST: status %d, want 401", name, st)
		}
	}
	eventually(t, "all 16 heartbeats readable", func() bool { return len(heartbeatsOn(c, u, now.UTC().Format("2006-01-02"))) == 16 })
}

func TestIngest_BulkWithInvalidItemsStoresTheValidOnes(t *testing.T) {
	c := start(t)
	u := c.newUser("bob")
	now := time.Now().Add(-time.Hour)
	old := beat("old.go", "p", time.Now().Add(-15*24*time.Hour))
	noType := beat("t.go", "p", now)
	delete(noType, "type")
	badLines := beat("l.go", "p", now)
	badLines["lines"] = -1
	var r responses
	st := c.do("POST", "/api/v1/users/current/heartbeats.bulk", basic(u.key),
		[]any{beat("a.go", "p", now), old, "not an object", noType, badLines, beat("b.go", "p", now.Add(time.Second))}, &r)
	if st != 201 {
		t.Fatalf("status %d", st)
	}
	if got, want := fmt.Sprint(r.statuses()), fmt.Sprint([]int{201, 400, 400, 400, 400, 201}); got != want {
		t.Fatalf("statuses %s, want %s", got, want)
	}
	var bad struct{ Error string }
	if st := c.do("POST", "/api/v1/users/current/heartbeats.bulk", basic(u.key), []any{old, noType}, &bad); st != 400 || bad.Error == "" {
		t.Fatalf("all invalid: status %d %q", st, bad.Error)
	}
	for _, body := range []string{`null`, `[]`, `"x"`, `7`, `[null]`} {
		bad.Error = ""
		if st := c.do("POST", "/api/v1/users/current/heartbeats.bulk", basic(u.key), json.RawMessage(body), &bad); st != 400 || bad.Error == "" {
			t.Fatalf("body %s: status %d %q, want 400 with an error", body, st, bad.Error)
		}
	}
	day := now.UTC().Format("2006-01-02")
	eventually(t, "the two valid heartbeats", func() bool { return len(heartbeatsOn(c, u, day)) == 2 })
	for _, h := range heartbeatsOn(c, u, day) {
		if h["editor"] != "vim" || h["operating_system"] != "linux" || h["entity"] == "t.go" {
			t.Fatalf("stored %v", h)
		}
	}
}

func TestIngest_ResendIsStoredOnce(t *testing.T) {
	c := start(t)
	u := c.newUser("carol")
	now := time.Now().Add(-time.Hour)
	batch := []any{beat("a.go", "p", now), beat("b.go", "p", now.Add(time.Minute)), beat("a.go", "p", now)}
	machine := map[string]string{"X-Machine-Name": "laptop"}
	for k, v := range basic(u.key) {
		machine[k] = v
	}
	for range 3 {
		var r responses
		if st := c.do("POST", "/api/v1/users/current/heartbeats.bulk", machine, batch, &r); st != 201 {
			t.Fatalf("status %d", st)
		}
	}
	day := now.UTC().Format("2006-01-02")
	eventually(t, "two heartbeats", func() bool { return len(heartbeatsOn(c, u, day)) == 2 })
	var count int
	if err := c.pool.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE event_type = 'HeartbeatRecorded'`).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != 2 {
		t.Fatalf("%d events in the log, want 2", count)
	}
	if got := heartbeatsOn(c, u, day)[0]["machine_name_id"]; got != "laptop" {
		t.Fatalf("machine %v", got)
	}
}
