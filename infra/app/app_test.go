package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"gopkg.in/yaml.v3"

	"github.com/devflow/backend/infra/app/apptest"
	"github.com/devflow/backend/infra/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// TestServer_RoutesAndOpenAPIDescribeEachOther walks the real router of the whole
// service and the served OpenAPI document: every route is documented and every
// documented operation is routed.
func TestServer_RoutesAndOpenAPIDescribeEachOther(t *testing.T) {
	s := apptest.Start(t, nil)
	var routed []string
	err := chi.Walk(s.API.Handler().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if rest, ok := strings.CutPrefix(route, "/api/v1"); ok && method != http.MethodHead {
			routed = append(routed, strings.ToLower(method)+" "+strings.TrimSuffix(rest, "/"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	resp, err := http.Get(s.URL + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("served openapi.yaml does not parse: %v", err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "post", "put", "patch", "delete":
				documented = append(documented, method+" "+path)
			}
		}
	}
	slices.Sort(routed)
	routed = slices.Compact(routed)
	slices.Sort(documented)
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("route %q is not in openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("openapi.yaml documents %q, which no route serves", d)
		}
	}
	if len(routed) < 22 {
		t.Fatalf("only %d routes found: %v", len(routed), routed)
	}
}

type client struct {
	t    *testing.T
	base string
	http *http.Client
	auth string
}

func (c *client) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth != "" {
		req.Header.Set("Authorization", "Bearer "+c.auth)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			c.t.Fatalf("%s %s: body is not JSON: %s", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

// TestServer_DashboardAndExtensionFlow drives the assembled service the way the two
// clients do: the dashboard registers (cookie) and mints a token, the extension sends
// telemetry with it, the dashboard reads metrics, the extension triggers and acts on a
// recommendation.
func TestServer_DashboardAndExtensionFlow(t *testing.T) {
	s := apptest.Start(t, map[string]string{"INSIGHTS_PROVIDER": "rules"})
	jar, _ := cookiejar.New(nil)
	dashboard := &client{t: t, base: s.URL, http: &http.Client{Jar: jar}}
	if code, body := dashboard.do("POST", "/auth/register", map[string]any{"email": "flow@example.com", "password": "correct-horse-battery"}); code != 201 {
		t.Fatalf("register = %d %v", code, body)
	}
	code, tok := dashboard.do("POST", "/auth/tokens", map[string]any{"name": "laptop"})
	if code != 201 {
		t.Fatalf("token = %d %v", code, tok)
	}
	extension := &client{t: t, base: s.URL, http: &http.Client{}, auth: tok["token"].(string)}

	session := "3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34"
	event := func(typ, ts string, extra map[string]any) map[string]any {
		e := map[string]any{"type": typ, "timestamp": ts, "workspace": "shop-api", "session_id": session}
		for k, v := range extra {
			e[k] = v
		}
		return e
	}
	batch := map[string]any{
		"workspace": "shop-api", "machine_timestamp": "2026-11-27T10:15:02.118Z",
		"session": map[string]any{"active_minutes": 42.35, "idle_minutes": 6.1, "total_events_collected": 3, "save_frequency": 1.72, "editor_switch_frequency": 2.4},
		"events": []any{
			event("text_change", "2026-11-27T10:14:01.512Z", map[string]any{
				"file":    map[string]any{"path": "src/cart/cart.ts", "lines": 212},
				"metrics": map[string]any{"characters_added": 1, "characters_deleted": 0, "change_count": 1, "affected_line_ranges": []any{map[string]any{"start": 88, "end": 88}}, "edit_duration_ms": 143, "is_large_paste": false, "is_possible_rewrite": false, "is_possible_undo_cycle": false}}),
			event("text_change", "2026-11-27T10:14:09.004Z", map[string]any{
				"file":    map[string]any{"path": "src/cart/cart.ts", "lines": 251},
				"metrics": map[string]any{"characters_added": 1849, "characters_deleted": 0, "change_count": 1, "affected_line_ranges": []any{map[string]any{"start": 90, "end": 90}}, "edit_duration_ms": 7492, "is_large_paste": true, "is_possible_rewrite": false, "is_possible_undo_cycle": false}}),
			event("editor_switch", "2026-11-27T10:14:20.871Z", map[string]any{
				"from": map[string]any{"file": "src/cart/cart.ts"}, "to": map[string]any{"file": "src/orders/service.ts"},
				"metrics": map[string]any{"switch_interval_seconds": 37, "is_cross_module_switch": true, "is_rapid_context_switching": false}}),
		},
	}
	if code, body := extension.do("POST", "/telemetry", batch); code != 202 || body["accepted_count"] != 3.0 {
		t.Fatalf("telemetry = %d %v", code, body)
	}
	// The paste counts 39 lines (v2: file grew from 212 to 251), the typing 1 line.
	// The churn query reads the projection, so poll briefly for it to catch up.
	var churn map[string]any
	for i := 0; i < 200; i++ {
		_, churn = dashboard.do("GET", "/metrics/churn?from=2026-11-27&to=2026-11-27", nil)
		if churn["total_lines_added"] == 40.0 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if churn["total_lines_added"] != 40.0 || churn["total_lines_deleted"] != 0.0 || churn["definition"] != "typing-heuristic" {
		t.Fatalf("churn = %v, want 40 added (1 typed + 39 pasted), 0 deleted", churn)
	}
	if code, body := extension.do("POST", "/recommendations/trigger", map[string]any{"mode": "demo"}); code != 200 || body["mode"] != "demo" {
		t.Fatalf("demo trigger = %d %v", code, body)
	}
	code, pending := extension.do("GET", "/recommendations/pending", nil)
	rec, _ := pending["recommendation"].(map[string]any)
	if code != 200 || rec == nil || rec["source"] != "demo" {
		t.Fatalf("pending = %d %v", code, pending)
	}
	id := rec["id"].(string)
	if code, body := dashboard.do("POST", "/recommendations/"+id+"/action", map[string]any{"action": "snoozed"}); code != 200 || body["user_action"] != "snoozed" {
		t.Fatalf("action = %d %v", code, body)
	}
	if code, body := extension.do("GET", "/recommendations/pending", nil); code != 200 || body["recommendation"] != nil {
		t.Fatalf("pending after snooze = %d %v", code, body)
	}
}
