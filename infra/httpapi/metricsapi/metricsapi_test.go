package metricsapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devflow/backend/domain/ids"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/httpapi/telemetryapi/telemetryapitest"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

const (
	sa = "aaaaaaaa-1f11-4037-994a-db947c0a16c4" // starts 2026-11-26 23:50, runs past midnight
	sb = "bbbbbbbb-1f11-4037-994a-db947c0a16c4" // 2026-11-27 09:00
	sc = "cccccccc-1f11-4037-994a-db947c0a16c4" // 2026-11-29, nothing counted
	sd = "dddddddd-1f11-4037-994a-db947c0a16c4" // 2026-11-29, an edit that counts 0 lines
	se = "eeeeeeee-1f11-4037-994a-db947c0a16c4" // 2026-11-30, deletions only
	sx = "ffffffff-1f11-4037-994a-db947c0a16c4" // bob's
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// scriptedDay is alice's telemetry: the expected numbers in the tests below are worked
// out by hand from it, with line counting v2 (architecture, "Line counting").
func scriptedDay() []tt.Event {
	explicit := tt.TextChange(sb, ts("2026-11-27T09:02:00Z"), "src/c.ts", 200, 500, 90, tt.Range{Start: 1, End: 1})
	explicit["timestamp"] = "2026-11-27 10:02:00+01:00" // 09:02Z, written with a space and an offset
	m := explicit["metrics"].(map[string]any)
	m["lines_added"], m["lines_deleted"] = 12, 3
	noTo := tt.EditorSwitch(sa, ts("2026-11-27T00:05:00Z"), "src/b.ts", "x", false)
	delete(noTo, "to")
	zeroLines := tt.TextChange(sd, ts("2026-11-29T13:00:00Z"), "src/d.ts", 10, 0, 0, tt.Range{Start: 1, End: 1})
	return []tt.Event{
		// Session A. First edit of a.ts: no previous count, so v1: +1.
		tt.TextChange(sa, ts("2026-11-26T23:50:00Z"), "src/a.ts", 100, 1, 0, tt.Range{Start: 10, End: 10}),
		// A 40-line paste at one point, the last millisecond of the 26th: +40.
		tt.TextChange(sa, ts("2026-11-26T23:59:59.999Z"), "src/a.ts", 140, 1600, 0, tt.Range{Start: 20, End: 20}),
		// Midnight: the 27th. A switch to b.ts.
		tt.EditorSwitch(sa, ts("2026-11-27T00:00:00Z"), "src/a.ts", "src/b.ts", false),
		// First edit of b.ts, 30 lines deleted: v1 width 30: −30.
		tt.TextChange(sa, ts("2026-11-27T00:00:05Z"), "src/b.ts", 50, 0, 1200, tt.Range{Start: 5, End: 34}),
		tt.FileSave(sa, ts("2026-11-27T00:01:00Z"), "src/b.ts", 50),
		// Replace 10 lines (w=10), file shrinks by 5: −10, +5.
		tt.TextChange(sa, ts("2026-11-27T00:02:00Z"), "src/b.ts", 45, 300, 600, tt.Range{Start: 10, End: 19}),
		tt.EditorSwitch(sa, ts("2026-11-27T00:03:00Z"), "src/b.ts", "src/a.ts", true),
		tt.EditorSwitch(sa, ts("2026-11-27T00:03:30Z"), "src/a.ts", "src/b.ts", true),
		// Typing within a line of a.ts (140 lines before and after): +1.
		tt.TextChange(sa, ts("2026-11-27T00:04:00Z"), "src/a.ts", 140, 1, 0, tt.Range{Start: 30, End: 30}),
		noTo, // counts as a switch, to no file
		tt.DebugStart(sa, ts("2026-11-27T00:06:00Z")),
		// Session B.
		tt.EditorSwitch(sb, ts("2026-11-27T09:00:00Z"), "src/c.ts", "src/a.ts", false),
		// No file.lines: v1: +1.
		tt.TextChange(sb, ts("2026-11-27T09:01:00Z"), "src/c.ts", -1, 2000, 0, tt.Range{Start: 1, End: 1}),
		explicit, // +12, −3
		// Sessions with nothing counted.
		tt.TerminalOpen(sc, ts("2026-11-29T12:00:00Z"), false),
		tt.FileSave(sc, ts("2026-11-29T12:01:00Z"), "src/c.ts", 10),
		zeroLines,
		// Deletions only on the 30th (first edit: v1 width 2): −2, ratio null.
		tt.TextChange(se, ts("2026-11-30T08:00:00Z"), "src/e.ts", 8, 0, 70, tt.Range{Start: 3, End: 4}),
	}
}

type env struct {
	*telemetryapitest.Env
	alice, bob, admin telemetryapitest.User
}

func setup(t *testing.T) *env {
	t.Helper()
	pool := telemetryapitest.Pool(t)
	// The admin is a user like any other; it must be known before the service starts.
	adminID := ids.New()
	e := &env{Env: telemetryapitest.NewOnPool(t, pool, telemetryapitest.Options{Admins: []ids.ID{adminID}})}
	e.alice, e.bob = e.NewUser(), e.NewUser()
	e.admin = e.NewUserWithID(adminID)
	script := scriptedDay()
	for _, batch := range [][]tt.Event{script[:9], script[9:], script} { // the last one is a resend
		if r := e.Do("POST", "/telemetry", e.alice.Token, tt.Payload(batch...)); r.Status != 202 {
			t.Fatalf("ingest: %s", r)
		}
	}
	bobs := []tt.Event{
		tt.TextChange(sx, ts("2026-11-27T10:00:00Z"), "src/a.ts", 10, 5, 0, tt.Range{Start: 1, End: 1}),
		tt.EditorSwitch(sx, ts("2026-11-27T10:01:00Z"), "src/a.ts", "src/zz.ts", true),
	}
	if r := e.Do("POST", "/telemetry", e.bob.Token, tt.Payload(bobs...)); r.Status != 202 {
		t.Fatalf("ingest: %s", r)
	}
	if r := e.Do("POST", "/metrics/etl/run", e.admin.JWT, nil); r.Status != 200 {
		t.Fatalf("etl run: %s", r)
	}
	return e
}

func (e *env) get(t *testing.T, cred, path string) string {
	t.Helper()
	return get(t, e.Env, cred, path)
}

func get(t *testing.T, e *telemetryapitest.Env, cred, path string) string {
	t.Helper()
	r := e.Do("GET", path, cred, nil)
	if r.Status != 200 {
		t.Fatalf("GET %s: %s", path, r)
	}
	return string(r.Body)
}

// compact drops the whitespace of an expected body, keeping its field order.
func compact(s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		panic(err)
	}
	return b.String()
}

func TestMetrics_ScriptedDayByHand(t *testing.T) {
	e := setup(t)
	cases := []struct{ path, want string }{
		{"/metrics/churn?from=2026-11-25&to=2026-11-30&grain=daily", `{"ratio":0.75,"total_lines_added":60,"total_lines_deleted":45,
			"series":[{"date":"2026-11-25","lines_added":0,"lines_deleted":0,"ratio":null},
			          {"date":"2026-11-26","lines_added":41,"lines_deleted":0,"ratio":0},
			          {"date":"2026-11-27","lines_added":19,"lines_deleted":43,"ratio":1},
			          {"date":"2026-11-28","lines_added":0,"lines_deleted":0,"ratio":null},
			          {"date":"2026-11-29","lines_added":0,"lines_deleted":0,"ratio":null},
			          {"date":"2026-11-30","lines_added":0,"lines_deleted":2,"ratio":null}],
			"definition":"typing-heuristic","from":"2026-11-25","to":"2026-11-30","grain":"daily"}`},
		{"/metrics/churn?from=2026-11-30&to=2026-11-30", `{"ratio":null,"total_lines_added":0,"total_lines_deleted":2,
			"series":[{"date":"2026-11-30","lines_added":0,"lines_deleted":2,"ratio":null}],
			"definition":"typing-heuristic","from":"2026-11-30","to":"2026-11-30","grain":"daily"}`},
		{"/metrics/churn?from=2026-11-26&to=2026-11-27&grain=session", `{"sessions":[
			{"session_id":"` + sa + `","ratio":0.851063829787234,"total_lines_added":47,"total_lines_deleted":40},
			{"session_id":"` + sb + `","ratio":0.23076923076923078,"total_lines_added":13,"total_lines_deleted":3}],
			"definition":"typing-heuristic","from":"2026-11-26","to":"2026-11-27","grain":"session"}`},
		// Session A started on the 26th: not listed for the 27th alone.
		{"/metrics/churn?from=2026-11-27&to=2026-11-27&grain=session", `{"sessions":[
			{"session_id":"` + sb + `","ratio":0.23076923076923078,"total_lines_added":13,"total_lines_deleted":3}],
			"definition":"typing-heuristic","from":"2026-11-27","to":"2026-11-27","grain":"session"}`},
		{"/metrics/churn?from=2026-11-29&to=2026-11-30&grain=session", `{"sessions":[
			{"session_id":"` + se + `","ratio":null,"total_lines_added":0,"total_lines_deleted":2}],
			"definition":"typing-heuristic","from":"2026-11-29","to":"2026-11-30","grain":"session"}`},
		{"/metrics/context-switching?from=2026-11-26&to=2026-11-28", `{"switch_count":5,"rapid_switch_count":2,
			"top_files":[{"path":"src/a.ts","count":2},{"path":"src/b.ts","count":2}],
			"series":[{"date":"2026-11-26","switch_count":0,"rapid_switch_count":0},
			          {"date":"2026-11-27","switch_count":5,"rapid_switch_count":2},
			          {"date":"2026-11-28","switch_count":0,"rapid_switch_count":0}],
			"definition":"editor-switch-count","from":"2026-11-26","to":"2026-11-28","grain":"daily"}`},
		{"/metrics/context-switching?from=2026-11-27&to=2026-11-27&top_n=1", `{"switch_count":5,"rapid_switch_count":2,
			"top_files":[{"path":"src/a.ts","count":2}],
			"series":[{"date":"2026-11-27","switch_count":5,"rapid_switch_count":2}],
			"definition":"editor-switch-count","from":"2026-11-27","to":"2026-11-27","grain":"daily"}`},
		{"/metrics/context-switching?from=2026-11-26&to=2026-11-30&grain=session&top_n=20", `{"sessions":[
			{"session_id":"` + sa + `","switch_count":4,"rapid_switch_count":2,"top_files":[{"path":"src/b.ts","count":2},{"path":"src/a.ts","count":1}]},
			{"session_id":"` + sb + `","switch_count":1,"rapid_switch_count":0,"top_files":[{"path":"src/a.ts","count":1}]},
			{"session_id":"` + se + `","switch_count":0,"rapid_switch_count":0,"top_files":[]}],
			"definition":"editor-switch-count","from":"2026-11-26","to":"2026-11-30","grain":"session"}`},
		{"/metrics/context-switching?from=2026-11-29&to=2026-11-29", `{"switch_count":0,"rapid_switch_count":0,"top_files":[],
			"series":[{"date":"2026-11-29","switch_count":0,"rapid_switch_count":0}],
			"definition":"editor-switch-count","from":"2026-11-29","to":"2026-11-29","grain":"daily"}`},
	}
	for _, c := range cases {
		for _, cred := range []string{e.alice.JWT, e.alice.Token} { // auth kind "either"
			if got := e.get(t, cred, c.path); got != compact(c.want) {
				t.Errorf("GET %s\n got %s\nwant %s", c.path, got, compact(c.want))
			}
		}
	}
	// Bob sees only his own numbers.
	if got := e.get(t, e.bob.JWT, "/metrics/churn?from=2026-11-27&to=2026-11-27"); !strings.Contains(got, `"total_lines_added":1,"total_lines_deleted":0`) {
		t.Errorf("bob's churn: %s", got)
	}
	if got := e.get(t, e.bob.JWT, "/metrics/context-switching?from=2026-11-27&to=2026-11-27"); !strings.Contains(got, `"top_files":[{"path":"src/zz.ts","count":1}]`) {
		t.Errorf("bob's switches: %s", got)
	}
}

func TestMetrics_TopFilesStayExactBeyondTwenty(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{})
	u := e.NewUser()
	s := ids.New().String()
	var events []tt.Event
	at := ts("2026-11-27T08:00:00Z")
	// 30 files once each, then z.ts (a file outside any top 20 so far) three times.
	for i := range 30 {
		events = append(events, tt.EditorSwitch(s, at.Add(time.Duration(i)*time.Second), "x", "src/f"+string(rune('A'+i))+".ts", false))
	}
	for i := range 3 {
		events = append(events, tt.EditorSwitch(s, at.Add(time.Minute+time.Duration(i)*time.Second), "x", "src/z.ts", false))
	}
	if r := e.Do("POST", "/telemetry", u.Token, tt.Payload(events...)); r.Status != 202 {
		t.Fatal(r)
	}
	e.CatchUp()
	got := get(t, e, u.JWT, "/metrics/context-switching?from=2026-11-27&to=2026-11-27&top_n=3")
	if !strings.Contains(got, `"switch_count":33,`) || !strings.Contains(got, `"top_files":[{"path":"src/z.ts","count":3},{"path":"src/fA.ts","count":1},{"path":"src/fB.ts","count":1}]`) {
		t.Fatalf("got %s", got)
	}
}

func TestMetrics_QueryValidation(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	u := e.NewUser()
	v := func(msg string) string { return `{"error":"Validation failed","message":"` + msg + `"}` }
	cases := map[string]string{
		"/metrics/churn":                                                                v("from and to are required (YYYY-MM-DD)"),
		"/metrics/churn?from=2026-11-27":                                                v("from and to are required (YYYY-MM-DD)"),
		"/metrics/churn?from=&to=2026-11-27":                                            v("from and to are required (YYYY-MM-DD)"),
		"/metrics/churn?from=2026/01/01&to=2026-11-27":                                  v("from and to must be YYYY-MM-DD"),
		"/metrics/churn?from=2026-02-31&to=2026-03-01":                                  v("from and to must be YYYY-MM-DD"),
		"/metrics/churn?from=2026-1-01&to=2026-03-01":                                   v("from and to must be YYYY-MM-DD"),
		"/metrics/churn?from=2026-11-27&to=2026-11-21":                                  v("from must be <= to"),
		"/metrics/churn?from=2026-11-27&to=2026-02-31":                                  v("from and to must be YYYY-MM-DD"),
		"/metrics/churn?from=2025-01-01&to=2026-11-27":                                  v("range must be at most 366 days"),
		"/metrics/churn?from=2024-01-01&to=2025-01-01":                                  v("range must be at most 366 days"), // 367 days
		"/metrics/context-switching?from=2026-11-27&to=2026-11-21&top_n=99":             v("from must be <= to"),
		"/metrics/context-switching?from=2026-11-27&to=2026-11-27&top_n=21":             v("top_n must be an integer 1..20"),
		"/metrics/context-switching?from=2026-11-27&to=2026-11-27&top_n=0":              v("top_n must be an integer 1..20"),
		"/metrics/context-switching?from=2026-11-27&to=2026-11-27&top_n=":               v("top_n must be an integer 1..20"),
		"/metrics/context-switching?from=2026-11-27&to=2026-11-27&top_n=1.5":            v("top_n must be an integer 1..20"),
		"/metrics/context-switching?from=2026-11-27&to=2026-11-27&top_n=-3":             v("top_n must be an integer 1..20"),
		"/metrics/context-switching?from=2026-11-27&to=2026-11-27&top_n=99999999999999": v("top_n must be an integer 1..20"),
		"/metrics/context-switching?from=x&to=2026-11-27&top_n=abc":                     v("from and to must be YYYY-MM-DD"),
	}
	for path, want := range cases {
		r := e.Do("GET", path, u.JWT, nil)
		if r.Status != 400 || string(r.Body) != want {
			t.Errorf("GET %s: %s, want 400 %s", path, r, want)
		}
	}
	ok := []string{
		"/metrics/churn?from=2024-01-01&to=2024-12-31",              // 366 days (leap year)
		"/metrics/churn?from=2026-11-27&to=2026-11-27&grain=weekly", // unknown grain: daily
		"/metrics/context-switching?from=2026-11-27&to=2026-11-27&top_n=20",
		"/metrics/context-switching?from=2026-11-27&to=2026-11-27&grain=SESSION", // daily too
	}
	for _, path := range ok {
		r := e.Do("GET", path, u.JWT, nil)
		if r.Status != 200 || !strings.Contains(string(r.Body), `"grain":"daily"`) {
			t.Errorf("GET %s: %s", path, r)
		}
	}
	if r := e.Do("GET", "/metrics/churn?from=2024-01-01&to=2024-12-31", u.JWT, nil); strings.Count(string(r.Body), `"date"`) != 366 {
		t.Error("a 366-day series does not have 366 entries")
	}
	if r := e.Do("GET", "/metrics/churn?from=2026-11-27&to=2026-11-27", "", nil); r.Status != 401 {
		t.Errorf("no credential: %s", r)
	}
}

func TestETL_WaitsForTheProjectionAndReportsOrdinals(t *testing.T) {
	adminID := ids.New()
	e := telemetryapitest.New(t, telemetryapitest.Options{Admins: []ids.ID{adminID}})
	admin, user := e.NewUserWithID(adminID), e.NewUser()
	if r := e.Do("POST", "/telemetry", user.Token, tt.Payload(tt.NewGenerator(3, ids.New().String(), ts("2026-11-27T08:00:00Z")).Events(40)...)); r.Status != 202 {
		t.Fatal(r)
	}
	total := e.Count(`SELECT count(*) FROM events`)

	r := e.Do("POST", "/metrics/etl/run", admin.JWT, nil)
	var body map[string]int64
	if r.Status != 200 || json.Unmarshal(r.Body, &body) != nil || len(body) != 4 {
		t.Fatalf("etl run: %s", r)
	}
	if body["watermark_after"] != int64(total) || body["processed_count"] != body["watermark_after"]-body["watermark_before"] || body["duration_ms"] < 0 {
		t.Fatalf("etl run %s with %d events in the log", r.Body, total)
	}
	// Read-your-writes: once the run answers, the metrics include the batch.
	if n := e.Count(`SELECT count(*) FROM metrics_daily`); n == 0 {
		t.Fatal("the run answered before the projection applied the batch")
	}
	again := e.Do("POST", "/metrics/etl/run", admin.JWT, nil)
	want := `{"processed_count":0,"watermark_before":` + itoa(total) + `,"watermark_after":` + itoa(total) + `,"duration_ms":`
	if again.Status != 200 || !strings.HasPrefix(string(again.Body), want) {
		t.Fatalf("second run: %s, want prefix %s", again, want)
	}

	wantStatus := func(cred string, status int, body string) {
		t.Helper()
		r := e.Do("POST", "/metrics/etl/run", cred, nil)
		if r.Status != status || string(r.Body) != body {
			t.Fatalf("got %s, want %d %s", r, status, body)
		}
	}
	wantStatus("", 401, `{"error":"Unauthorized"}`)
	wantStatus(admin.Token, 403, `{"error":"API tokens cannot trigger ETL"}`)
	wantStatus(user.JWT, 403, `{"error":"Admin only"}`)

	// A run or rebuild holding the maintenance lock elsewhere: 409.
	conn, err := e.Pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(context.Background(), `SELECT pg_advisory_lock($1)`, projections.MaintenanceLockKey("metrics")); err != nil {
		t.Fatal(err)
	}
	wantStatus(admin.JWT, 409, `{"error":"ETL pass already in flight"}`)
	if _, err := conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, projections.MaintenanceLockKey("metrics")); err != nil {
		t.Fatal(err)
	}
	if r := e.Do("POST", "/metrics/etl/run", admin.JWT, nil); r.Status != 200 {
		t.Fatalf("after the lock was released: %s", r)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestETL_TimesOutWith503(t *testing.T) {
	adminID := ids.New()
	e := telemetryapitest.New(t, telemetryapitest.Options{Admins: []ids.ID{adminID}, NoEngine: true})
	admin, user := e.NewUserWithID(adminID), e.NewUser()
	// Nothing runs the projection here, so the log's head is never reached.
	if _, err := e.Pool.Exec(context.Background(), `INSERT INTO projection_checkpoints (name, version) VALUES ('metrics', 2)`); err != nil {
		t.Fatal(err)
	}
	if r := e.Do("POST", "/telemetry", user.Token, tt.Payload(tt.FileSave(ids.New().String(), time.Now(), "a.ts", 1))); r.Status != 202 {
		t.Fatal(r)
	}
	e.ETL.Limit = 300 * time.Millisecond
	r := e.Do("POST", "/metrics/etl/run", admin.JWT, nil)
	if r.Status != 503 || string(r.Body) != `{"error":"Projection catch-up timed out"}` {
		t.Fatalf("got %s", r)
	}
}
