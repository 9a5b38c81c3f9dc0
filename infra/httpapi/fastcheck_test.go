package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
)

// The fast check may only ever be a shortcut: on every document it must agree with the
// schema validator. This test walks every schema of openapi.yaml, builds a valid
// document from the schema itself, and mutates it at every property by what the schema
// says there (type, enum, format, length, range, items, required, additional
// properties), so a field or bound added to openapi.yaml is covered without editing it.
func TestFastCheck_AgreesWithTheSchemaValidatorOnEveryMutation(t *testing.T) {
	defs, err := componentSchemas()
	if err != nil {
		t.Fatal(err)
	}
	compiler, err := newCompiler(defs)
	if err != nil {
		t.Fatal(err)
	}
	s := schemasForTest(t)
	// The schemas the ingest checks fast: each must be compiled whole, or every event
	// would take the slow path.
	ingest := map[string]func(telemetry.Value, any) (fast, general bool){
		schemaComponents["telemetryEnvelope"]: func(v telemetry.Value, doc any) (bool, bool) {
			return s.QuickEnvelope(v), s.Validate("telemetryEnvelope", doc) == nil
		},
	}
	for _, name := range s.eventSchemas {
		ingest[schemaComponents[name]] = func(v telemetry.Value, doc any) (bool, bool) {
			fast := quick(s, v)
			return fast, s.ValidateEvent(doc, 0) == nil
		}
	}

	keywords := map[string]int{} // mutations per keyword, over all schemas
	for _, name := range slices.Sorted(maps.Keys(defs)) {
		general, err := compiler.Compile(schemasBase + "#/$defs/" + name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fast := compileFast(defs[name])
		complete := fast.unsupported() == ""
		if _, used := ingest[name]; used && !complete {
			t.Fatalf("%s: the fast check does not know %q", name, fast.unsupported())
		}
		base := sample(defs[name])
		var valid, invalid int
		for _, m := range mutations(defs[name], base) {
			raw, err := json.Marshal(m.doc)
			if err != nil {
				t.Fatal(err)
			}
			var d telemetry.Doc
			if err := d.Parse(raw); err != nil {
				t.Fatalf("%s: %v: %s", name, err, raw)
			}
			f, g := fast.valid(d.Root()), general.Validate(decodeNumbers(t, raw)) == nil
			if f && !g || complete && f != g {
				t.Fatalf("%s, %s: fast check %v, schema validator %v for\n%.2000s", name, m.what, f, g, raw)
			}
			if m.what == "sample" && complete && !g {
				t.Fatalf("%s: the sample is invalid: %s", name, raw)
			}
			if both := ingest[name]; both != nil {
				if f, g := both(d.Root(), decodeNumbers(t, raw)); f != g {
					t.Fatalf("%s, %s: ingest's fast check %v, schema validator %v for\n%.2000s", name, m.what, f, g, raw)
				}
			}
			if g {
				valid++
			} else {
				invalid++
			}
			keywords[m.keyword]++
		}
		if complete && (valid == 0 || invalid == 0) {
			t.Errorf("%s: %d valid and %d invalid mutations: the walk missed it", name, valid, invalid)
		}
	}
	for _, k := range []string{"type", "enum", "format", "maxLength", "minLength", "minimum", "maximum", "maxItems", "minItems", "required", "additionalProperties"} {
		if keywords[k] == 0 {
			t.Errorf("no mutation for %s", k)
		}
	}
	t.Logf("mutations per keyword: %v", keywords)
}

// unsupported names the first keyword, anywhere in the schema, the check does not know.
func (c *fastCheck) unsupported() string {
	if c == nil {
		return ""
	}
	if c.unknown != "" {
		return c.unknown
	}
	subs := []*fastCheck{c.items, c.additional}
	for _, p := range c.props {
		subs = append(subs, p.check)
	}
	for _, sub := range subs {
		if u := sub.unsupported(); u != "" {
			return u
		}
	}
	return ""
}

func decodeNumbers(t *testing.T, raw []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// sample is a valid instance of schema with every property present.
func sample(schema any) any {
	s, _ := schema.(map[string]any)
	if enum, ok := s["enum"].([]any); ok && len(enum) > 0 {
		return enum[0]
	}
	for _, k := range []string{"oneOf", "anyOf", "allOf"} {
		if list, ok := s[k].([]any); ok && len(list) > 0 {
			return sample(list[0])
		}
	}
	switch schemaType(s) {
	case "object":
		obj := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		for name, p := range props {
			obj[name] = sample(p)
		}
		required, _ := s["required"].([]any)
		for _, r := range required {
			if _, ok := obj[r.(string)]; !ok {
				obj[r.(string)] = "x"
			}
		}
		return obj
	case "array":
		n, _ := intKeyword(s, "minItems")
		arr := make([]any, max(1, n))
		for i := range arr {
			arr[i] = sample(s["items"])
		}
		return arr
	case "string":
		if f, ok := s["format"].(string); ok && formatSamples[f].valid != nil {
			return formatSamples[f].valid[0]
		}
		n, _ := intKeyword(s, "minLength")
		return strings.Repeat("a", int(max(1, n)))
	case "integer", "number":
		if n, ok := intKeyword(s, "minimum"); ok {
			return json.Number(strconv.FormatInt(n, 10))
		}
		if n, ok := intKeyword(s, "maximum"); ok {
			return json.Number(strconv.FormatInt(n, 10))
		}
		return json.Number("1")
	case "boolean":
		return true
	case "null":
		return nil
	}
	return map[string]any{}
}

// schemaType is the schema's (first) type, "object" for a schema with properties.
func schemaType(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		return t[0].(string)
	}
	if s["properties"] != nil || s["required"] != nil {
		return "object"
	}
	return ""
}

func intKeyword(s map[string]any, k string) (int64, bool) {
	n, ok := s[k].(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

// formatSamples are valid and invalid strings of each format; the escaped ones are
// raw JSON, to check the fast check reads escapes as the validator does.
var formatSamples = map[string]struct{ valid, invalid []any }{
	"date-time": {
		valid: []any{"2026-11-27T10:14:01.512Z", "2026-05-12 10:00:00+07:00", "2026-05-12t10:00:00z", "2024-02-29T00:00:00.1234567890Z",
			"2016-12-31T23:59:60Z", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", json.RawMessage(`"2026-11-27T10:14:01.512\u005a"`)},
		invalid: []any{"2026-05-12T10:00:00", "2026-02-31T10:00:00Z", "2025-02-29T10:00:00Z", "2026-05-12T24:00:00Z", "2026-05-12T10:00:60Z",
			"2026-05-12T10:00:00,5Z", "2026-05-12T1:00:00Z", "2026-05-12T10:00:00+24:00", "2026-05-12T10:00:00.Z", "2026-05-12_10:00:00Z",
			"1969-12-31T23:59:59.999Z", "0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59", "", json.RawMessage(`"2026-11-27T10:14:01.512\u0000"`)},
	},
	"uuid": {
		valid: []any{"e6e3f681-1f11-4037-994a-db947c0a16c4", "E6E3F681-1F11-4037-994A-DB947C0A16C4", json.RawMessage(`"e6e3f681-1f11-4037-994a-db947c0a16c\u0034"`)},
		invalid: []any{"urn:uuid:e6e3f681-1f11-4037-994a-db947c0a16c4", "{e6e3f681-1f11-4037-994a-db947c0a16c4}", "e6e3f6811f114037994adb947c0a16c4",
			"g6e3f681-1f11-4037-994a-db947c0a16c4", "e6e3f681-1f11-4037-994a-db947c0a16c4 "},
	},
	"date": {valid: []any{"2026-11-27"}, invalid: []any{"2026-02-30", "x"}}, // the fast check does not know it
	"email": {
		valid:   []any{"alice@example.com", `"a b"@example.com`, "alice@[127.0.0.1]"},
		invalid: []any{"alice", "@example.com", "a..b@example.com", "alice@[300.0.0.1]"},
	},
}

type mutation struct {
	what    string // where and what changed
	keyword string // the keyword the mutation tests
	doc     any
}

// mutations are base itself and its variants, each with one change at one place.
func mutations(schema, base any) []mutation {
	out := []mutation{{what: "sample", keyword: "sample", doc: base}}
	var walk func(schema any, path []any, v any)
	walk = func(schema any, path []any, v any) {
		s, _ := schema.(map[string]any)
		at := func(keyword string, with ...any) {
			for _, w := range with {
				out = append(out, mutation{fmt.Sprintf("%v = %.60v", path, w), keyword, replaced(base, path, w)})
			}
		}
		at("type", nil, true, "x", json.Number("1"), json.Number("-1"), json.Number("1.5"), json.Number("2.0"), json.Number("1e2"),
			json.Number("-0"), map[string]any{}, []any{}, []any{map[string]any{}})
		if enum, ok := s["enum"].([]any); ok {
			at("enum", enum...)
			at("enum", "not-one-of-them")
		}
		if f, ok := s["format"].(string); ok {
			at("format", formatSamples[f].valid...)
			at("format", formatSamples[f].invalid...)
		}
		for _, k := range []string{"minLength", "maxLength"} {
			if n, ok := intKeyword(s, k); ok {
				for _, l := range []int64{n - 1, n, n + 1} {
					if l < 0 {
						continue
					}
					// ASCII, two-byte characters, and escaped characters: a byte or six
					// of the raw text per code point.
					at(k, strings.Repeat("a", int(l)), strings.Repeat("é", int(l)), strings.Repeat("<", int(l)))
				}
			}
		}
		for _, k := range []string{"minimum", "maximum"} {
			if n, ok := intKeyword(s, k); ok {
				half := func(f float64) json.Number { return json.Number(strconv.FormatFloat(f, 'f', -1, 64)) }
				at(k, json.Number(strconv.FormatInt(n-1, 10)), json.Number(strconv.FormatInt(n, 10)), json.Number(strconv.FormatInt(n+1, 10)),
					json.Number(strconv.FormatInt(n, 10)+".0"), json.Number(strconv.FormatInt(n, 10)+"e0"), half(float64(n)-0.5), half(float64(n)+0.5),
					json.Number("1e30"), json.Number("-1e30"), json.Number("9223372036854775807"), json.Number("-9223372036854775808"),
					json.Number("99999999999999999999"), json.Number("1e400"), json.Number("1.5e-3"))
			}
		}
		for _, k := range []string{"minItems", "maxItems"} {
			if n, ok := intKeyword(s, k); ok {
				for _, l := range []int64{n - 1, n, n + 1} {
					if l >= 0 {
						arr := make([]any, l)
						for i := range arr {
							arr[i] = sample(s["items"])
						}
						at(k, arr)
					}
				}
			}
		}
		switch v := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				p := append(slices.Clip(path), k)
				out = append(out, mutation{fmt.Sprintf("%v deleted", p), "required", replaced(base, p, remove)})
				props, _ := s["properties"].(map[string]any)
				walk(props[k], p, v[k])
			}
			out = append(out, mutation{fmt.Sprintf("%v with another member", path), "additionalProperties",
				replaced(base, append(slices.Clip(path), "zz_unknown"), json.Number("1"))})
		case []any:
			if len(v) > 0 {
				walk(s["items"], append(slices.Clip(path), 0), v[0])
			}
		}
	}
	walk(schema, nil, base)
	return out
}

// remove, as the value of replaced, deletes the member.
var remove = new(int)

// replaced is a deep copy of doc with the value at path set to with.
func replaced(doc any, path []any, with any) any {
	if len(path) == 0 {
		return with
	}
	if k, ok := path[0].(string); ok {
		m := maps.Clone(doc.(map[string]any))
		if len(path) == 1 && with == remove {
			delete(m, k)
		} else {
			m[k] = replaced(m[k], path[1:], with)
		}
		return m
	}
	a := slices.Clone(doc.([]any))
	i := path[0].(int)
	a[i] = replaced(a[i], path[1:], with)
	return a
}

// A keyword the fast check does not know leaves every value it applies to to the schema
// validator.
func TestFastCheck_RefusesUnknownKeywords(t *testing.T) {
	var d telemetry.Doc
	for schema, doc := range map[string]string{
		`{"type":"string","pattern":"^a"}`:                                 `"a"`,
		`{"type":"number","exclusiveMinimum":1}`:                           `2`,
		`{"type":"number","maximum":1.5}`:                                  `1`,
		`{"oneOf":[{"type":"string"}]}`:                                    `"a"`,
		`{"format":"hostname"}`:                                            `"example.com"`,
		`{"enum":[1,2]}`:                                                   `1`,
		`{"properties":{"a":{"type":"string","maxLength":2,"const":"x"}}}`: `{"a":"x"}`,
	} {
		c := compileFast(mustParse(t, schema))
		if err := d.Parse([]byte(doc)); err != nil {
			t.Fatal(err)
		}
		if c.valid(d.Root()) || c.unsupported() == "" {
			t.Errorf("%s: sure that %s is valid; it must leave it to the schema validator", schema, doc)
		}
	}
}

// Keywords openapi.yaml does not use on telemetry yet are checked like the rest.
func TestFastCheck_AdditionalPropertiesAndEnums(t *testing.T) {
	defs := map[string]any{
		"closed":    mustParse(t, `{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":false}`),
		"typed":     mustParse(t, `{"type":"object","additionalProperties":{"type":"string","maxLength":3}}`),
		"literals":  mustParse(t, `{"enum":[true,null,"x"]}`),
		"nullable":  mustParse(t, `{"type":["string","null"],"minLength":2}`),
		"minimumOf": mustParse(t, `{"type":"number","minimum":-3,"maximum":0}`),
	}
	compiler, err := newCompiler(defs)
	if err != nil {
		t.Fatal(err)
	}
	docs := []string{`{}`, `{"a":1}`, `{"a":1,"b":2}`, `{"b":"abc"}`, `{"b":"abcd"}`, `{"b":3}`, `true`, `false`, `null`, `"x"`, `"y"`,
		`"xy"`, `1`, `-3`, `-3.5`, `-2.5`, `-0.5`, `0.0`, `1e-9`, `-1e1`}
	for name, schema := range defs {
		general, err := compiler.Compile(schemasBase + "#/$defs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		fast := compileFast(schema)
		for _, doc := range docs {
			var d telemetry.Doc
			if err := d.Parse([]byte(doc)); err != nil {
				t.Fatal(err)
			}
			if f, g := fast.valid(d.Root()), general.Validate(decodeNumbers(t, []byte(doc))) == nil; f != g {
				t.Errorf("%s, %s: fast check %v, schema validator %v", name, doc, f, g)
			}
		}
	}
}

const sid = "3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34"

var at = time.Date(2026, 11, 27, 10, 14, 1, 512e6, time.UTC)

// The extension's real events and envelope take the fast path: it exists for them.
func TestFastCheck_SettlesTheExtensionsEvents(t *testing.T) {
	s := schemasForTest(t)
	events := tt.NewGenerator(7, sid, at).Events(3000)
	events = append(events,
		tt.TextChange(sid, at, "src/cart/cart.ts", -1, 0, 80), // no lines, no ranges
		tt.EditorSwitch(sid, at, "", "src/b.ts", false),       // first switch: no "from"
		tt.TerminalOpen(sid, at, false), tt.TerminalOpen(sid, at, true),
		tt.GitActivity(sid, at, "", 0), // detached HEAD
		tt.Set(tt.FileSave(sid, at, "a.ts", 1), map[string]any{"x": 1}, "future_field"),
		tt.Set(tt.FileSave(sid, at, "a.ts", 1), `C:\Users\dev\shop-api\a.ts`, "file", "absolute_path"), // escaped
	)
	perType := map[any]int{}
	for _, batch := range [][]byte{tt.Payload(events...), []byte(clientBatch)} {
		var d telemetry.Doc
		if err := d.Parse(batch); err != nil {
			t.Fatal(err)
		}
		if !s.QuickEnvelope(d.Root()) {
			t.Fatal("the extension's envelope takes the slow path")
		}
		for i, ev := range d.Root().Get("events").Elements() {
			c, err := telemetry.Identify(ev)
			if err != nil || !s.QuickEvent(c.ClientType, ev) {
				t.Fatalf("event %d takes the slow path: %s", i, ev.Raw())
			}
			perType[c.ClientType]++
		}
	}
	if len(perType) != 6 {
		t.Fatalf("types covered: %v", perType)
	}
}

// The fast check runs for every event of every batch: it must not allocate.
func TestFastCheck_DoesNotAllocate(t *testing.T) {
	s := schemasForTest(t)
	var d telemetry.Doc
	if err := d.Parse(tt.Payload(tt.NewGenerator(3, sid, at).Events(200)...)); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if !fastChecksAll(s, d.Root()) {
			t.Fatal("generated batch not valid")
		}
	})
	if allocs != 0 {
		t.Fatalf("the fast check allocates %v times per batch", allocs)
	}
}

// Values at the bounds of openapi.yaml are valid; values beyond them are not, on the
// fast path and in the schema validator alike.
func TestTelemetryEvents_Bounds(t *testing.T) {
	s := schemasForTest(t)
	text := func() tt.Event { return tt.TextChange(sid, at, "src/a.ts", 10, 1, 0, tt.Range{Start: 1, End: 1}) }
	withRanges := func(n int, r map[string]any) tt.Event {
		rs := make([]map[string]any, n)
		for i := range rs {
			rs[i] = r
		}
		return tt.Set(text(), rs, "metrics", "affected_line_ranges")
	}
	line := func(start, end any) map[string]any { return map[string]any{"start": start, "end": end} }
	sw := func() tt.Event { return tt.EditorSwitch(sid, at, "src/a.ts", "src/b.ts", false) }
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	num := func(s string) json.Number { return json.Number(s) }
	stamp := func(ts string) tt.Event { return tt.Set(tt.FileSave(sid, at, "a.ts", 1), ts, "timestamp") }
	cases := []struct {
		name  string
		event tt.Event
		valid bool
	}{
		{"path of 4096 characters", tt.Set(text(), long("a", 4096), "file", "path"), true},
		{"path of 4097 characters", tt.Set(text(), long("a", 4097), "file", "path"), false},
		{"path of 4096 two-byte characters", tt.Set(text(), long("é", 4096), "file", "path"), true},
		{"path of 4097 two-byte characters", tt.Set(text(), long("é", 4097), "file", "path"), false},
		{"switch to a path of 10,000 characters", tt.Set(sw(), long("x", 10000), "to", "file"), false},
		{"name of 255 characters", tt.Set(text(), long("n", 255), "file", "name"), true},
		{"name of 256 characters", tt.Set(text(), long("n", 256), "file", "name"), false},
		{"workspace of 256 characters", tt.Set(text(), long("w", 256), "workspace"), false},
		{"shell of 4097 characters", tt.Set(tt.TerminalOpen(sid, at, true), long("s", 4097), "terminal", "shell_type"), false},
		{"debug name of 256 characters", tt.Set(tt.DebugStart(sid, at), long("d", 256), "debug", "name"), false},
		{"branch of 4097 characters", tt.Set(tt.GitActivity(sid, at, "main", 1), long("b", 4097), "git", "branch"), false},
		{"file of 10,000,000 lines", tt.Set(text(), 10_000_000, "file", "lines"), true},
		{"file of 10,000,001 lines", tt.Set(text(), 10_000_001, "file", "lines"), false},
		{"file of max int64 lines", tt.Set(text(), num("9223372036854775807"), "file", "lines"), false},
		{"file of −1 lines", tt.Set(text(), -1, "file", "lines"), false},
		{"document of 4 GiB", tt.Set(text(), 1<<32, "file", "size_bytes"), true},
		{"document of 4 GiB and a byte", tt.Set(text(), 1<<32+1, "file", "size_bytes"), false},
		{"explicit lines added 1e30", tt.Set(text(), num("1e30"), "metrics", "lines_added"), false},
		{"explicit lines deleted as text", tt.Set(text(), "3", "metrics", "lines_deleted"), false},
		{"edit ten years after the last", tt.Set(text(), 315_360_000_000, "metrics", "edit_duration_ms"), true},
		{"edit ten years and a millisecond after", tt.Set(text(), 315_360_000_001, "metrics", "edit_duration_ms"), false},
		{"edit after the clock went back", tt.Set(text(), -2000, "metrics", "edit_duration_ms"), true},
		{"switch half a second within ten years", tt.Set(sw(), num("315359999.5"), "metrics", "switch_interval_seconds"), true},
		{"switch half a second beyond ten years", tt.Set(sw(), num("315360000.5"), "metrics", "switch_interval_seconds"), false},
		{"switch half a second beyond minus ten years", tt.Set(sw(), num("-315360000.5"), "metrics", "switch_interval_seconds"), false},
		{"line range 1..10,000,000", withRanges(1, line(1, 10_000_000)), true},
		{"line range from line 0", withRanges(1, line(0, 5)), false},
		{"10,000 line ranges", withRanges(10_000, line(3, 4)), true},
		{"10,001 line ranges", withRanges(10_001, line(3, 4)), false},
		{"timestamp at the start of 1970 UTC", stamp("1969-12-31T23:30:00-01:00"), true},
		{"timestamp before 1970 UTC", stamp("1970-01-01T00:30:00+01:00"), false},
		{"timestamp in the last instant of 9999", stamp("9999-12-31T23:59:59.999999999Z"), true},
		{"timestamp in 10000 UTC", stamp("9999-12-31T23:59:59-23:59"), false},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.event)
		if err != nil {
			t.Fatal(err)
		}
		var d telemetry.Doc
		if err := d.Parse(b); err != nil {
			t.Fatal(err)
		}
		fast := quick(s, d.Root())
		general := s.ValidateEvent(decodeNumbers(t, b), 0) == nil
		if fast != c.valid || general != c.valid {
			t.Errorf("%s: fast check %v, schema validator %v, want %v", c.name, fast, general, c.valid)
		}
	}
}

// BenchmarkIngestCPU is the per-event CPU work of an ingest: parse the body, check the
// envelope and every event fast, canonicalise each event, derive its id, build its
// stored payload.
func BenchmarkIngestCPU(b *testing.B) {
	s := schemasForTest(b)
	body := tt.Payload(tt.NewGenerator(1, sid, time.Now()).Events(1000)...)
	user := ids.New()
	var d telemetry.Doc
	var c telemetry.Canonicalizer
	var buf, arena []byte
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Parse(body); err != nil {
			b.Fatal(err)
		}
		if !s.QuickEnvelope(d.Root()) {
			b.Fatal("invalid envelope")
		}
		arena = arena[:0]
		for _, ev := range d.Root().Get("events").Elements() {
			if !quick(s, ev) {
				b.Fatal("invalid")
			}
			if _, ok := ev.Storable(); !ok {
				b.Fatal("unstorable")
			}
			_, buf = telemetry.EventID(user, c.Canonical(ev, true), buf)
			arena = telemetry.AppendRecorded(arena, []byte(`"2026-11-27T10:15:02.118Z"`), ev.Raw())
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkTelemetryCheck is the fast check alone: the envelope and 1000 events.
func BenchmarkTelemetryCheck(b *testing.B) {
	s := schemasForTest(b)
	var d telemetry.Doc
	if err := d.Parse(tt.Payload(tt.NewGenerator(1, sid, at).Events(1000)...)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !fastChecksAll(s, d.Root()) {
			b.Fatal("invalid")
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}

// fastChecksAll reports whether the fast checks settle a batch's envelope and every event.
func fastChecksAll(s *Schemas, root telemetry.Value) bool {
	if !s.QuickEnvelope(root) {
		return false
	}
	for _, ev := range root.Get("events").Elements() {
		if !quick(s, ev) {
			return false
		}
	}
	return true
}

// quick is the ingest's quick check of one event: identify it, then check it by the
// schema of its type.
func quick(s *Schemas, ev telemetry.Value) bool {
	c, err := telemetry.Identify(ev)
	return err == nil && s.QuickEvent(c.ClientType, ev)
}
