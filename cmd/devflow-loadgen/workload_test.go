package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/devflow/backend/infra/httpapi"
)

func TestModuleOf_FollowsTheExtensionRule(t *testing.T) {
	for path, want := range map[string]string{
		"src/cart/cart.ts":       "src/cart",
		"src/index.ts":           "src",
		"pipeline/io/loaders.py": "pipeline",
		"package.json":           "package.json",
	} {
		if got := moduleOf(path); got != want {
			t.Errorf("moduleOf(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestWorkload_LooksLikeTheExtension(t *testing.T) {
	start := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	c := newClient(42, start)
	var events []map[string]any
	for range 40 {
		body, err := c.batch(500, start)
		if err != nil {
			t.Fatal(err)
		}
		var env map[string]any
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatal(err)
		}
		if problem := checkEnvelope(env); problem != "" {
			t.Fatalf("envelope: %s", problem)
		}
		for _, e := range env["events"].([]any) {
			events = append(events, e.(map[string]any))
		}
	}

	types := map[string]int{}
	sessions := map[string]bool{}
	lastLines := map[string]float64{} // session + path -> file.lines
	var prev time.Time
	rotations, onePointPastes, rapid, firstSwitchHasFrom := 0, 0, 0, true
	for i, e := range events {
		if problem := checkEvent(e); problem != "" {
			t.Fatalf("event %d invalid: %s: %v", i, problem, e)
		}
		typ := e["type"].(string)
		types[typ]++
		ts, _ := time.Parse(time.RFC3339Nano, e["timestamp"].(string))
		if !ts.After(prev) {
			t.Fatalf("event %d: timestamp %s not after %s", i, ts, prev)
		}
		sid := e["session_id"].(string)
		if !sessions[sid] {
			sessions[sid] = true
			if i > 0 {
				rotations++
				if ts.Sub(prev) <= 30*time.Minute {
					t.Errorf("event %d: session rotated after a gap of only %s", i, ts.Sub(prev))
				}
			}
		}
		prev = ts
		switch typ {
		case "editor_switch":
			if types[typ] == 1 {
				_, firstSwitchHasFrom = e["from"]
			}
			if e["metrics"].(map[string]any)["is_rapid_context_switching"].(bool) {
				rapid++
			}
		case "text_change":
			f := e["file"].(map[string]any)
			key := sid + f["path"].(string)
			m := e["metrics"].(map[string]any)
			rg := m["affected_line_ranges"].([]any)[0].(map[string]any)
			if before, ok := lastLines[key]; ok && rg["start"] == rg["end"] &&
				m["characters_deleted"].(float64) == 0 && f["lines"].(float64)-before > 1 {
				onePointPastes++ // the 200-line-paste case the v2 line formula exists for
			}
			lastLines[key] = f["lines"].(float64)
		}
	}
	if len(types) != 6 {
		t.Errorf("event types %v, want all six", types)
	}
	if share := float64(types["text_change"]) / float64(len(events)); share < 0.7 {
		t.Errorf("text_change share %.2f, want the bulk of the traffic", share)
	}
	if rotations == 0 || onePointPastes == 0 || rapid == 0 {
		t.Errorf("rotations %d, one-point pastes %d, rapid switches %d: want each to occur in %d events",
			rotations, onePointPastes, rapid, len(events))
	}
	if firstSwitchHasFrom {
		t.Error("the first switch names a previous editor; the extension omits it")
	}
}

// The load is only a benchmark of ingest if the service accepts it: every envelope and
// event must pass the very schemas the service validates with.
func TestWorkload_PassesTheServicesSchemas(t *testing.T) {
	schemas, err := httpapi.RequestSchemas()
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(7, time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC))
	for range 10 {
		body, err := c.batch(1000, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		doc, err := httpapi.ParseJSON(body)
		if err != nil {
			t.Fatal(err)
		}
		if details := schemas.Validate("telemetryEnvelope", doc); details != nil {
			t.Fatalf("envelope rejected: %+v", details)
		}
		for i, e := range doc.(map[string]any)["events"].([]any) {
			if details := schemas.ValidateEvent(e, i); details != nil {
				t.Fatalf("event rejected: %+v\n%v", details, e)
			}
		}
	}
}
