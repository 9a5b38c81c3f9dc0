package httpapi

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// The checker may only ever be a shortcut: for every document it must agree with the
// general validator. These tests mutate valid documents at every position in many ways
// and compare the two.

func TestChecker_ExistsForEveryNamedSchema(t *testing.T) {
	s := schemasForTest(t)
	for name, cs := range s.byName {
		if cs.fast == nil {
			t.Errorf("schema %q has no checker: every request would take the slow path", name)
		}
	}
}

func TestChecker_RefusesUnknownKeywords(t *testing.T) {
	for _, schema := range []string{
		`{"type":"string","pattern":"^a"}`,
		`{"type":"object","additionalProperties":false}`,
		`{"type":"number","exclusiveMinimum":1}`,
		`{"type":"number","maximum":1.5}`,
		`{"oneOf":[{"type":"string"}]}`,
		`{"format":"hostname"}`,
		`{"enum":[1,2]}`,
		`{"properties":{"a":{"type":"string","maxLength":2,"const":"x"}}}`,
	} {
		if compileChecker(mustParse(t, schema)) != nil {
			t.Errorf("checker compiled for %s; it must fall back to the general validator", schema)
		}
	}
}

// replacements are values substituted at every position of a valid document.
var replacements = []string{
	`null`, `true`, `false`, `""`, `"x"`, `0`, `1`, `-1`, `240.0`, `2.5`, `1e2`, `1.5e-3`, `{}`, `[]`, `[{}]`, `[1]`,
	`"2026-11-27T05:37:43.000Z"`, `"2026-02-31T10:00:00Z"`, `"2026-11-27 05:37:43+07:00"`, `"2026-11-27T05:37:43"`,
	`"e6e3f681-1f11-4037-994a-db947c0a16c4"`, `"urn:uuid:e6e3f681-1f11-4037-994a-db947c0a16c4"`,
	`"alice@example.com"`, `"@example.com"`, `"1234567"`, `"12345678"`, `"ab"`, `"abc"`,
	`"` + strings.Repeat("x", 64) + `"`, `"` + strings.Repeat("x", 65) + `"`, `"` + strings.Repeat("é", 51) + `"`,
	`"text_change"`, `"file_save"`, `"editor_switch"`, `"debug_session_start"`, `"terminal_open"`, `"git_activity"`, `"unknown"`,
	// At and beyond the bounds of telemetry values.
	`"1970-01-01T00:00:00Z"`, `"1969-12-31T23:59:59.999Z"`, `"0000-01-01T00:00:00+01:00"`, `"9999-12-31T23:59:59-23:59"`,
	`"` + strings.Repeat("n", 255) + `"`, `"` + strings.Repeat("n", 256) + `"`, `"` + strings.Repeat("é", 256) + `"`,
	`"` + strings.Repeat("p", 4096) + `"`, `"` + strings.Repeat("p", 4097) + `"`, `"` + strings.Repeat(`\u00e9`, 4097) + `"`,
	`10000000`, `10000001`, `10000000.0`, `1e7`, `1.0000001e7`, `4294967296`, `4294967297`,
	`315360000`, `315360000.5`, `315359999.5`, `-315360000`, `-315360000.5`, `315360000000`, `315360000001`, `-315360000001`,
	`9223372036854775807`, `-9223372036854775808`, `99999999999999999999`, `1e30`, `-1e30`, `1e400`,
}

// mutations returns doc with each position deleted or replaced by each replacement.
func mutations(t *testing.T, doc any) []any {
	var out []any
	var walk func(path []any, v any)
	walk = func(path []any, v any) {
		for _, r := range replacements {
			out = append(out, replaceAt(t, doc, path, mustParse(t, r), false))
		}
		if len(path) > 0 {
			out = append(out, replaceAt(t, doc, path, nil, true))
		}
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(append(append([]any{}, path...), k), v[k])
			}
		case []any:
			for i, item := range v {
				walk(append(append([]any{}, path...), i), item)
			}
		}
	}
	walk(nil, doc)
	return out
}

// replaceAt deep-copies doc and replaces (or deletes) the value at path.
func replaceAt(t *testing.T, doc any, path []any, with any, del bool) any {
	raw, _ := json.Marshal(doc)
	cp := mustParse(t, string(raw))
	if len(path) == 0 {
		return with
	}
	parent := cp
	for _, p := range path[:len(path)-1] {
		switch k := p.(type) {
		case string:
			parent = parent.(map[string]any)[k]
		case int:
			parent = parent.([]any)[k]
		}
	}
	switch k := path[len(path)-1].(type) {
	case string:
		if del {
			delete(parent.(map[string]any), k)
		} else {
			parent.(map[string]any)[k] = with
		}
	case int:
		arr := parent.([]any)
		if del {
			// A shorter array has to be stored in the array's own parent.
			shorter := append(append([]any{}, arr[:k]...), arr[k+1:]...)
			return replaceAt(t, cp, path[:len(path)-1], shorter, false)
		}
		arr[k] = with
	}
	return cp
}

func TestChecker_AgreesWithTheGeneralValidator(t *testing.T) {
	s := schemasForTest(t)
	batch := mustParse(t, clientBatch).(map[string]any)
	envelope := map[string]any{}
	for k, v := range batch {
		envelope[k] = v
	}
	envelope["events"] = []any{json.Number("1"), map[string]any{}}
	docs := map[string][]any{
		"register":          {mustParse(t, `{"email":"Alice@Example.com","password":"correct-horse-battery","username":"alice"}`)},
		"login":             {mustParse(t, `{"email":"alice@example.com","password":"x"}`)},
		"createToken":       {mustParse(t, `{"name":"ci-laptop"}`)},
		"telemetryEnvelope": {envelope},
	}
	for _, ev := range batch["events"].([]any) {
		docs["events"] = append(docs["events"], ev)
	}
	// Edge: a text_change with line ranges and a 240.0 integer.
	docs["events"] = append(docs["events"], mustParse(t, `{"type":"text_change","timestamp":"2026-11-27 05:34:43+00:00","workspace":"w","session_id":"E6E3F681-1F11-4037-994A-DB947C0A16C4","file":{"path":"a","lines":120.0},"metrics":{"characters_added":240.0,"characters_deleted":0,"change_count":6,"affected_line_ranges":[{"start":10,"end":19}],"edit_duration_ms":4200,"is_large_paste":false,"is_possible_rewrite":false,"is_possible_undo_cycle":false}}`))

	compared, invalid := 0, 0
	for group, valids := range docs {
		for _, valid := range valids {
			for _, doc := range mutations(t, valid) {
				names := []string{group}
				if group == "events" {
					names = []string{"event"}
					for n := range s.byName {
						if strings.HasPrefix(n, "event.") {
							names = append(names, n)
						}
					}
				}
				for _, name := range names {
					cs := s.byName[name]
					fast := cs.fast(doc)
					general := cs.schema.Validate(doc) == nil
					compared++
					if !general {
						invalid++
					}
					if fast != general {
						raw, _ := json.Marshal(doc)
						t.Fatalf("schema %s: checker=%v, general validator=%v for %s", name, fast, general, raw)
					}
				}
			}
		}
	}
	if compared < 10000 || invalid < compared/4 || invalid == compared {
		t.Fatalf("weak comparison: %d documents, %d invalid", compared, invalid)
	}
	t.Logf("%d documents compared, %d invalid", compared, invalid)
}
