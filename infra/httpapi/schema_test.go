package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/devflow/backend/domain/telemetry"
)

func schemasForTest(t testing.TB) *Schemas {
	t.Helper()
	s, err := RequestSchemas()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustParse(t testing.TB, body string) any {
	t.Helper()
	doc, err := ParseJSON([]byte(body))
	if err != nil {
		t.Fatalf("ParseJSON(%s): %v", body, err)
	}
	return doc
}

func detailsJSON(t testing.TB, d []Detail) string {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// brief renders details as "instancePath keyword params" for compact expectations.
func brief(details []Detail) []string {
	var out []string
	for _, d := range details {
		p, _ := json.Marshal(d.Params)
		out = append(out, d.InstancePath+" "+d.Keyword+" "+string(p))
	}
	return out
}

func TestSchemas_ContractExamples(t *testing.T) {
	s := schemasForTest(t)
	cases := []struct {
		name, schema, body string
		want               string // exact details JSON; "null" when valid
	}{
		{"register {} (3.3)", "register", `{}`,
			`[{"instancePath":"","schemaPath":"#/required","keyword":"required","params":{"missingProperty":"email"},"message":"must have required property 'email'"},` +
				`{"instancePath":"","schemaPath":"#/required","keyword":"required","params":{"missingProperty":"password"},"message":"must have required property 'password'"}]`},
		{"register short password (2.3)", "register", `{"email":"a@example.com","password":"1234567"}`,
			`[{"instancePath":"/password","schemaPath":"#/properties/password/minLength","keyword":"minLength","params":{"limit":8},"message":"must NOT have fewer than 8 characters"}]`},
		{"token name empty (3.9)", "createToken", `{"name":""}`,
			`[{"instancePath":"/name","schemaPath":"#/properties/name/minLength","keyword":"minLength","params":{"limit":1},"message":"must NOT have fewer than 1 characters"}]`},
		{"telemetry events [] (3.15)", "telemetryEnvelope",
			`{"workspace":"demo-ws","machine_timestamp":"2026-11-27T05:37:43.000Z","session":{"active_minutes":12.5,"idle_minutes":1,"total_events_collected":5,"save_frequency":0.4,"editor_switch_frequency":0.2},"events":[]}`,
			`[{"instancePath":"/events","schemaPath":"#/properties/events/minItems","keyword":"minItems","params":{"limit":1},"message":"must NOT have fewer than 1 items"}]`},
		{"register valid", "register", `{"email":"Alice@Example.com","password":"correct-horse-battery"}`, `null`},
		{"login valid", "login", `{"email":"alice@example.com","password":"wrong-password"}`, `null`},
		{"token valid", "createToken", `{"name":"ci-laptop"}`, `null`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := detailsJSON(t, s.Validate(tc.schema, mustParse(t, tc.body))); got != tc.want {
				t.Errorf("details:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestSchemas_TelemetryEventExampleFromTheContract(t *testing.T) {
	s := schemasForTest(t)
	// Event 5 of the 3.15 example: a terminal_open without terminal.name.
	ev := mustParse(t, `{"type":"terminal_open","timestamp":"2026-11-27T05:37:00.000Z","workspace":"demo-ws","session_id":"e6e3f681-1f11-4037-994a-db947c0a16c4","terminal":{"shell_type":"/bin/zsh"}}`)
	want := `[{"instancePath":"/events/5/terminal","schemaPath":"#/properties/terminal/required","keyword":"required","params":{"missingProperty":"name"},"message":"must have required property 'name'"}]`
	if got := detailsJSON(t, s.ValidateEvent(ev, 5)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// clientBatch is the clients.md 5.1 example: all six event types, valid.
const clientBatch = `{
  "workspace": "shop-api",
  "machine_timestamp": "2026-11-27T10:15:02.118Z",
  "session": {"active_minutes": 42.35, "idle_minutes": 6.1, "total_events_collected": 318, "save_frequency": 1.72, "editor_switch_frequency": 2.4},
  "events": [
    {"type": "text_change", "timestamp": "2026-11-27T10:14:01.512Z", "workspace": "shop-api", "session_id": "3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34",
     "file": {"name": "cart.ts", "path": "src/cart/cart.ts", "absolute_path": "/home/dev/shop-api/src/cart/cart.ts", "extension": ".ts", "language": "typescript", "workspace": "shop-api", "lines": 212, "size_bytes": 6841},
     "metrics": {"characters_added": 1, "characters_deleted": 0, "change_count": 1, "affected_line_ranges": [{"start": 88, "end": 88}], "edit_duration_ms": 143, "is_large_paste": false, "is_possible_rewrite": false, "is_possible_undo_cycle": false}},
    {"type": "file_save", "timestamp": "2026-11-27T10:14:12.330Z", "workspace": "shop-api", "session_id": "3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34",
     "file": {"name": "cart.ts", "path": "src/cart/cart.ts", "absolute_path": "/home/dev/shop-api/src/cart/cart.ts", "extension": ".ts", "language": "typescript", "workspace": "shop-api", "lines": 251, "size_bytes": 8690}},
    {"type": "editor_switch", "timestamp": "2026-11-27T10:14:20.871Z", "workspace": "shop-api", "session_id": "3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34",
     "from": {"file": "src/cart/cart.ts", "language": "typescript", "module": "src/cart"}, "to": {"file": "src/orders/service.ts", "language": "typescript", "module": "src/orders"},
     "metrics": {"switch_interval_seconds": 37, "is_cross_module_switch": true, "is_rapid_context_switching": false}},
    {"type": "debug_session_start", "timestamp": "2026-11-27T10:14:40.015Z", "workspace": "shop-api", "session_id": "3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34",
     "debug": {"name": "Launch API", "type": "node", "launch_configuration_name": "Launch API"}},
    {"type": "terminal_open", "timestamp": "2026-11-27T10:14:51.640Z", "workspace": "shop-api", "session_id": "3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34",
     "terminal": {"name": "zsh", "shell_type": "/bin/zsh"}},
    {"type": "git_activity", "timestamp": "2026-11-27T10:14:58.207Z", "workspace": "shop-api", "session_id": "3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34",
     "git": {"branch": "feature/cart-discounts", "changed_files_count": 3}}
  ]
}`

func TestSchemas_ClientBatchIsValid(t *testing.T) {
	s := schemasForTest(t)
	doc := mustParse(t, clientBatch)
	if d := s.Validate("telemetryEnvelope", doc); d != nil {
		t.Fatalf("envelope: %s", detailsJSON(t, d))
	}
	for i, ev := range doc.(map[string]any)["events"].([]any) {
		if d := s.ValidateEvent(ev, i); d != nil {
			t.Errorf("event %d: %s", i, detailsJSON(t, d))
		}
	}
}

func TestSchemas_EnvelopeErrors(t *testing.T) {
	s := schemasForTest(t)
	session := `{"active_minutes":1,"idle_minutes":1,"total_events_collected":1,"save_frequency":1,"editor_switch_frequency":1}`
	cases := []struct {
		name, body string
		want       []string
	}{
		{"not an object", `[]`, []string{` type {"type":"object"}`}},
		{"empty object", `{}`, []string{
			` required {"missingProperty":"workspace"}`, ` required {"missingProperty":"machine_timestamp"}`,
			` required {"missingProperty":"session"}`, ` required {"missingProperty":"events"}`}},
		{"wrong types", `{"workspace":1,"machine_timestamp":"2026-11-27T05:37:43Z","session":[],"events":{}}`, []string{
			`/events type {"type":"array"}`, `/session type {"type":"object"}`, `/workspace type {"type":"string"}`}},
		{"machine_timestamp not a date-time", `{"workspace":"w","machine_timestamp":"yesterday","session":` + session + `,"events":[1]}`, []string{
			`/machine_timestamp format {"format":"date-time"}`}},
		{"session field missing and mistyped", `{"workspace":"w","machine_timestamp":"2026-11-27T05:37:43Z","session":{"active_minutes":"1","idle_minutes":1,"total_events_collected":1.5,"save_frequency":1},"events":[{}]}`, []string{
			`/session required {"missingProperty":"editor_switch_frequency"}`,
			`/session/active_minutes type {"type":"number"}`,
			`/session/total_events_collected type {"type":"integer"}`}},
		{"events items are not the envelope's business", `{"workspace":"w","machine_timestamp":"2026-11-27T05:37:43Z","session":` + session + `,"events":[1,"x",null]}`, nil},
		{"extra properties are allowed", `{"workspace":"w","machine_timestamp":"2026-11-27T05:37:43Z","session":` + session + `,"events":[{}],"extra":{"a":1}}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := brief(s.Validate("telemetryEnvelope", mustParse(t, tc.body)))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestSchemas_EventErrors(t *testing.T) {
	s := schemasForTest(t)
	const base = `"timestamp":"2026-11-27T05:37:00.000Z","workspace":"w","session_id":"e6e3f681-1f11-4037-994a-db947c0a16c4"`
	const metrics = `"characters_added":240.0,"characters_deleted":0,"change_count":1,"edit_duration_ms":0,"is_large_paste":false,"is_possible_rewrite":false,"is_possible_undo_cycle":false`
	cases := []struct {
		name, event string
		want        []string
	}{
		{"integer accepts 240.0", `{"type":"text_change",` + base + `,"file":{"path":"a","lines":12.0},"metrics":{` + metrics + `}}`, nil},
		{"fraction is not an integer", `{"type":"text_change",` + base + `,"file":{"path":"a","lines":12.5},"metrics":{` + metrics + `}}`, []string{
			`/events/7/file/lines type {"type":"integer"}`}},
		{"text_change metrics required fields", `{"type":"text_change",` + base + `,"file":{"path":"a"},"metrics":{"characters_added":1}}`, []string{
			`/events/7/metrics required {"missingProperty":"characters_deleted"}`,
			`/events/7/metrics required {"missingProperty":"change_count"}`,
			`/events/7/metrics required {"missingProperty":"edit_duration_ms"}`,
			`/events/7/metrics required {"missingProperty":"is_large_paste"}`,
			`/events/7/metrics required {"missingProperty":"is_possible_rewrite"}`,
			`/events/7/metrics required {"missingProperty":"is_possible_undo_cycle"}`}},
		{"affected_line_ranges items", `{"type":"text_change",` + base + `,"file":{"path":"a"},"metrics":{` + metrics + `,"affected_line_ranges":[{"start":1,"end":2},{"start":1},{"start":"x","end":3}]}}`, []string{
			`/events/7/metrics/affected_line_ranges/1 required {"missingProperty":"end"}`,
			`/events/7/metrics/affected_line_ranges/2/start type {"type":"integer"}`}},
		{"file.path required", `{"type":"file_save",` + base + `,"file":{"name":"a.ts"}}`, []string{
			`/events/7/file required {"missingProperty":"path"}`}},
		{"editor_switch from/to are optional objects", `{"type":"editor_switch",` + base + `,"to":{"file":"a"},"metrics":{"switch_interval_seconds":3.5,"is_cross_module_switch":false,"is_rapid_context_switching":true}}`, nil},
		{"editor_switch from must be an object", `{"type":"editor_switch",` + base + `,"from":"a","metrics":{"switch_interval_seconds":3.5,"is_cross_module_switch":false,"is_rapid_context_switching":1}}`, []string{
			`/events/7/from type {"type":"object"}`,
			`/events/7/metrics/is_rapid_context_switching type {"type":"boolean"}`}},
		{"debug requires name and type", `{"type":"debug_session_start",` + base + `,"debug":{}}`, []string{
			`/events/7/debug required {"missingProperty":"name"}`, `/events/7/debug required {"missingProperty":"type"}`}},
		{"git requires changed_files_count", `{"type":"git_activity",` + base + `,"git":{"branch":"main"}}`, []string{
			`/events/7/git required {"missingProperty":"changed_files_count"}`}},
		{"unknown type", `{"type":"session_start",` + base + `}`, []string{
			`/events/7/type enum {"allowedValues":["file_save","text_change","editor_switch","debug_session_start","terminal_open","git_activity"]}`}},
		{"missing type and session_id", `{"timestamp":"2026-11-27T05:37:00.000Z","workspace":"w"}`, []string{
			`/events/7 required {"missingProperty":"type"}`, `/events/7 required {"missingProperty":"session_id"}`}},
		{"type not a string", `{"type":5,` + base + `}`, []string{
			`/events/7/type type {"type":"string"}`}},
		{"not an object", `42`, []string{`/events/7 type {"type":"object"}`}},
		{"urn:uuid session id", `{"type":"terminal_open","timestamp":"2026-11-27T05:37:00Z","workspace":"w","session_id":"urn:uuid:e6e3f681-1f11-4037-994a-db947c0a16c4","terminal":{"name":"zsh"}}`, []string{
			`/events/7/session_id format {"format":"uuid"}`}},
		{"timestamp without zone", `{"type":"terminal_open","timestamp":"2026-11-27T05:37:00","workspace":"w","session_id":"e6e3f681-1f11-4037-994a-db947c0a16c4","terminal":{"name":"zsh"}}`, []string{
			`/events/7/timestamp format {"format":"date-time"}`}},
		{"timestamp in year 10000 UTC", `{"type":"terminal_open","timestamp":"9999-12-31T23:59:59-23:59","workspace":"w","session_id":"e6e3f681-1f11-4037-994a-db947c0a16c4","terminal":{"name":"zsh"}}`, []string{
			`/events/7/timestamp format {"format":"date-time"}`}},
		{"counts beyond the bounds", `{"type":"text_change",` + base + `,"file":{"path":"a","lines":9223372036854775807},"metrics":{` + metrics + `,"lines_added":1e30,"lines_deleted":-1,"affected_line_ranges":[{"start":0,"end":10000001}]}}`, []string{
			`/events/7/file/lines maximum {"comparison":"\u003c=","limit":10000000}`,
			`/events/7/metrics/affected_line_ranges/0/end maximum {"comparison":"\u003c=","limit":10000000}`,
			`/events/7/metrics/affected_line_ranges/0/start minimum {"comparison":"\u003e=","limit":1}`,
			`/events/7/metrics/lines_added maximum {"comparison":"\u003c=","limit":10000000}`,
			`/events/7/metrics/lines_deleted minimum {"comparison":"\u003e=","limit":0}`}},
		{"path beyond its length", `{"type":"editor_switch",` + base + `,"to":{"file":"` + strings.Repeat("x", 4097) + `"},"metrics":{"switch_interval_seconds":3.5,"is_cross_module_switch":false,"is_rapid_context_switching":true}}`, []string{
			`/events/7/to/file maxLength {"limit":4096}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := brief(s.ValidateEvent(mustParse(t, tc.event), 7))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestSchemas_DateTimeFormat(t *testing.T) {
	valid := []string{
		"2026-05-12T10:00:00.000Z", "2026-05-12 10:00:00+07:00", "2026-05-12t10:00:00z", "2026-05-12T10:00:00Z",
		"2026-05-12T10:00:00.123456789-03:30", "2024-02-29T00:00:00Z", "2016-12-31T23:59:60Z", "2016-12-31T18:59:60-05:00",
	}
	invalid := []string{
		"2026-05-12T10:00:00", "2026-02-31T10:00:00Z", "2025-02-29T10:00:00Z", "2026-13-01T10:00:00Z", "2026-05-12T24:00:00Z",
		"2026-05-12T10:60:00Z", "2026-05-12T10:00:61Z", "2026-05-12T10:00:60Z", "2026-05-12T10:00:00+0700", "2026-05-12T10:00:00+07",
		"2026-05-12T10:00:00+24:00", "2026-05-12\t10:00:00Z", "2026-05-12_10:00:00Z", "2026-5-12T10:00:00Z", "2026-05-12T10:00:00.Z",
		"2026-05-12", "", "２０２６-05-12T10:00:00Z", " 2026-05-12T10:00:00Z",
		"0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59", "1969-12-31T23:59:59.999Z",
	}
	for _, v := range valid {
		if err := checkFormat("date-time", []byte(v)); err != nil {
			t.Errorf("%q rejected: %v", v, err)
		}
	}
	for _, v := range invalid {
		if checkFormat("date-time", []byte(v)) == nil {
			t.Errorf("%q accepted", v)
		}
	}
}

func TestSchemas_UUIDFormat(t *testing.T) {
	valid := []string{"e6e3f681-1f11-4037-994a-db947c0a16c4", "E6E3F681-1F11-4037-994A-DB947C0A16C4", "00000000-0000-0000-0000-000000000000", "e6e3f681-1f11-1037-c94a-db947c0a16c4"}
	invalid := []string{"urn:uuid:e6e3f681-1f11-4037-994a-db947c0a16c4", "{e6e3f681-1f11-4037-994a-db947c0a16c4}", "e6e3f6811f114037994adb947c0a16c4",
		"e6e3f681-1f11-4037-994a-db947c0a16c", "g6e3f681-1f11-4037-994a-db947c0a16c4", "e6e3f681-1f11-4037-994a-db947c0a16c4 "}
	for _, v := range valid {
		if err := checkFormat("uuid", []byte(v)); err != nil {
			t.Errorf("%q rejected", v)
		}
	}
	for _, v := range invalid {
		if checkFormat("uuid", []byte(v)) == nil {
			t.Errorf("%q accepted", v)
		}
	}
}

func TestSchemas_EmailFormat(t *testing.T) {
	s := schemasForTest(t)
	for email, ok := range map[string]bool{
		"alice@example.com": true, "Alice@Example.com": true, "a.b+c@sub.example.co": true,
		`"a b"@example.com`: true, "alice@localhost": true, "alice@[127.0.0.1]": true, "alice@[IPv6:::1]": true,
		"alice": false, "alice@": false, "@example.com": false, "a b@example.com": false, "a..b@example.com": false,
		"alice.@example.com": false, "alice@-bad.example": false, "alice@exa_mple.com": false, "alice@example..com": false,
		"alice@[300.0.0.1]": false, "älice@example.com": false, strings.Repeat("a", 65) + "@example.com": false,
	} {
		d := s.Validate("login", map[string]any{"email": email, "password": ""})
		if (d == nil) != ok {
			t.Errorf("email %q: valid=%v, want %v (%s)", email, d == nil, ok, detailsJSON(t, d))
		}
	}
}

func TestSchemas_StringLengthsCountCodePoints(t *testing.T) {
	s := schemasForTest(t)
	cases := []struct {
		schema string
		doc    map[string]any
		valid  bool
	}{
		{"register", map[string]any{"email": "a@b.co", "password": strings.Repeat("é", 8)}, true},
		{"register", map[string]any{"email": "a@b.co", "password": strings.Repeat("日", 7)}, false},
		{"register", map[string]any{"email": "a@b.co", "password": strings.Repeat("😀", 8)}, true},
		{"register", map[string]any{"email": "a@b.co", "password": "12345678", "username": "ab"}, false},
		{"register", map[string]any{"email": "a@b.co", "password": "12345678", "username": "äöü"}, true},
		{"register", map[string]any{"email": "a@b.co", "password": "12345678", "username": strings.Repeat("ü", 50)}, true},
		{"register", map[string]any{"email": "a@b.co", "password": "12345678", "username": strings.Repeat("u", 51)}, false},
		{"createToken", map[string]any{"name": strings.Repeat("😀", 64)}, true},
		{"createToken", map[string]any{"name": strings.Repeat("x", 65)}, false},
		{"login", map[string]any{"email": "a@b.co", "password": ""}, true},
	}
	for i, tc := range cases {
		if d := s.Validate(tc.schema, tc.doc); (d == nil) != tc.valid {
			t.Errorf("case %d: valid=%v, want %v: %s", i, d == nil, tc.valid, detailsJSON(t, d))
		}
	}
}

func TestSchemas_DetailsAreSortedWithNumericIndexes(t *testing.T) {
	details := []Detail{{InstancePath: "/events/10/x"}, {InstancePath: "/events/2"}, {InstancePath: ""}, {InstancePath: "/events/2/a"}, {InstancePath: "/a"}}
	sortDetails(details)
	var got []string
	for _, d := range details {
		got = append(got, d.InstancePath)
	}
	if want := `["","/a","/events/2","/events/2/a","/events/10/x"]`; mustJSON(got) != want {
		t.Errorf("order = %s, want %s", mustJSON(got), want)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestSchemas_PointerEscaping(t *testing.T) {
	s := schemasForTest(t)
	// Property names with / and ~ are escaped in instance paths (RFC 6901).
	d := s.ValidateAt("telemetryEnvelope", mustParse(t, `{}`), "/a~1b/c~0d")
	if len(d) == 0 || d[0].InstancePath != "/a~1b/c~0d" {
		t.Errorf("prefix not kept: %s", detailsJSON(t, d))
	}
	if got := jsonPointer([]string{"a/b", "c~d", "0"}); got != "/a~1b/c~0d/0" {
		t.Errorf("jsonPointer = %q", got)
	}
}

func TestSchemas_UnknownNamePanics(t *testing.T) {
	s := schemasForTest(t)
	defer func() {
		if recover() == nil {
			t.Error("no panic for an unknown schema name")
		}
	}()
	s.Validate("nope", map[string]any{})
}

func TestRequestSchemas_CompiledOnce(t *testing.T) {
	a, _ := RequestSchemas()
	b, _ := RequestSchemas()
	if a != b {
		t.Error("RequestSchemas compiled twice")
	}
}

// batchJSON builds a telemetry body of n events cycling through the six types of the
// client example, each with its own timestamp.
func batchJSON(tb testing.TB, n int) []byte {
	tb.Helper()
	doc := mustParse(tb, clientBatch).(map[string]any)
	templates := doc["events"].([]any)
	events := make([]any, n)
	for i := range events {
		raw, _ := json.Marshal(templates[i%len(templates)])
		var ev map[string]any
		_ = json.Unmarshal(raw, &ev)
		ev["timestamp"] = fmt.Sprintf("2026-11-27T10:%02d:%02d.%03dZ", (i/60)%60, i%60, i%1000)
		events[i] = ev
	}
	doc["events"] = events
	body, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

func validateBatch(s *Schemas, doc any) int {
	bad := len(s.Validate("telemetryEnvelope", doc))
	for i, ev := range doc.(map[string]any)["events"].([]any) {
		bad += len(s.ValidateEvent(ev, i))
	}
	return bad
}

func TestBatch5000_IsValid(t *testing.T) {
	s := schemasForTest(t)
	doc, err := ParseJSON(batchJSON(t, 5000))
	if err != nil {
		t.Fatal(err)
	}
	if bad := validateBatch(s, doc); bad != 0 {
		t.Fatalf("%d details for a valid batch", bad)
	}
}

// BenchmarkTelemetry5000 compares checking a 5000-event batch (envelope + each event)
// on the ingest's fast path with the schema validator alone, and with the baseline of
// parsing the body, which the request needs anyway. Run:
//
//	go test ./infra/httpapi -run '^$' -bench Telemetry5000 -benchmem
func BenchmarkTelemetry5000(b *testing.B) {
	s := schemasForTest(b)
	body := batchJSON(b, 5000)
	b.Logf("body: %d bytes, 5000 events", len(body))
	doc, err := ParseJSON(body)
	if err != nil {
		b.Fatal(err)
	}
	var d telemetry.Doc
	b.Run("parse-baseline", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if err := d.Parse(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("schema-validator-only", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if validateBatch(s, doc) != 0 {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("fast-check", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if !fastChecksAll(s, d.Root()) {
				b.Fatal("invalid")
			}
		}
	})
}
