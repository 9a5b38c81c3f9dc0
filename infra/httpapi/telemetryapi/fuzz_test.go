package telemetryapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/devflow/backend/infra/httpapi/telemetryapi/telemetryapitest"
)

// FuzzTelemetryBody sends bodies to POST /telemetry through the real handler with a
// real API token: whatever the body, the answer is never a 5xx (a panic would be one:
// the recoverer answers 500) and always a JSON object, with "error" on a 4xx.
func FuzzTelemetryBody(f *testing.F) {
	batch := string(extensionBatch(sid))
	f.Add([]byte(batch))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"events":[]}`))
	f.Add([]byte(strings.Replace(batch, `"src/cart/cart.ts"`, `"a\u0000b"`, 1)))
	f.Add([]byte(strings.Replace(batch, `"src/cart/cart.ts"`, `"\ud800"`, 1)))
	f.Add([]byte(strings.Replace(batch, `"src/cart/cart.ts"`, "\"\xff\xed\xa0\x80\"", 1)))
	f.Add([]byte(strings.Replace(batch, `"workspace"`, `"work\u0000space"`, 1)))
	f.Add([]byte(strings.Replace(batch, `"src/cart/cart.ts"`, `"`+strings.Repeat("x", 10000)+`"`, 1)))
	f.Add([]byte(strings.Replace(batch, `"lines":212`, `"lines":9223372036854775807`, 1)))
	f.Add([]byte(strings.Replace(batch, `"lines":212`, `"lines":1e30`, 1)))
	f.Add([]byte(strings.Replace(batch, `"start":88`, `"start":-9223372036854775808`, 1)))
	f.Add([]byte(strings.Replace(batch, sid, "not-a-uuid", 1)))
	f.Add([]byte(strings.Replace(batch, "2026-11-27T10:14:01.512Z", "2026-02-30T25:61:61Z", 1)))
	f.Add([]byte(strings.Replace(batch, "2026-11-27T10:14:01.512Z", "0000-01-01T00:30:00+01:00", 1))) // year −1 in UTC
	f.Add([]byte(strings.Replace(batch, "2026-11-27T10:14:01.512Z", "9999-12-31T23:59:59-23:59", 1))) // year 10000 in UTC
	envelope := strings.LastIndex(batch, `"machine_timestamp":`)
	for _, field := range []string{`"machine_timestamp":"a\u0000b",`, `"x\u0000":1,`, `"workspace":"\u0000",`} {
		f.Add([]byte(batch[:envelope] + field + batch[envelope:]))
	}
	f.Add([]byte(strings.Repeat("[", 10001)))
	f.Add([]byte(batch[:len(batch)/2]))

	e := telemetryapitest.New(f, telemetryapitest.Options{NoEngine: true})
	e.Client.Timeout = 20 * time.Second // a hung request is a finding too
	u := e.NewUser()
	f.Fuzz(func(t *testing.T, body []byte) {
		r := e.For(t).Do("POST", "/telemetry", u.Token, body)
		expectJSONAnswer(t, r)
	})
}

// expectJSONAnswer is the fuzz targets' property: no 5xx, and a JSON object body that
// carries a string "error" whenever the status is a 4xx.
func expectJSONAnswer(t *testing.T, r telemetryapitest.Response) {
	t.Helper()
	if r.Status >= 500 {
		t.Fatalf("5xx: %s", r)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("body is not a JSON object: %s", r)
	}
	if _, ok := body["error"].(string); r.Status >= 400 && !ok {
		t.Fatalf("4xx without a string error: %s", r)
	}
}
