package telemetryapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cmdtelemetry "github.com/devflow/backend/commands/telemetry"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/httpapi/telemetryapi/telemetryapitest"
	"github.com/devflow/backend/infra/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

type accepted struct {
	Message        string `json:"message"`
	AcceptedCount  int    `json:"accepted_count"`
	DuplicateCount int    `json:"duplicate_count"`
	RejectedCount  int    `json:"rejected_count"`
	Rejected       []struct {
		Index  int `json:"index"`
		Errors []struct {
			InstancePath string         `json:"instancePath"`
			SchemaPath   string         `json:"schemaPath"`
			Keyword      string         `json:"keyword"`
			Params       map[string]any `json:"params"`
			Message      string         `json:"message"`
		} `json:"errors"`
	} `json:"rejected"`
}

func post(t *testing.T, e *telemetryapitest.Env, cred string, body []byte) telemetryapitest.Response {
	t.Helper()
	return e.Do("POST", "/telemetry", cred, body)
}

func mustAccept(t *testing.T, r telemetryapitest.Response) accepted {
	t.Helper()
	if r.Status != 202 {
		t.Fatalf("want 202, got %s", r)
	}
	var a accepted
	if err := json.Unmarshal(r.Body, &a); err != nil {
		t.Fatal(err)
	}
	if a.Message != "Telemetry accepted" || a.Rejected == nil {
		t.Fatalf("202 body %s", r.Body)
	}
	return a
}

func wantBody(t *testing.T, r telemetryapitest.Response, status int, body string) {
	t.Helper()
	if r.Status != status || string(r.Body) != body {
		t.Fatalf("got %s, want %d %s", r, status, body)
	}
}

const sid = "3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34"

var day = time.Date(2026, 11, 27, 10, 14, 1, 512e6, time.UTC)

// extensionBatch is clients.md 5.1: all six types, as the extension sends them.
func extensionBatch(session string) []byte {
	at := func(s float64) time.Time { return day.Add(time.Duration(s * float64(time.Second))) }
	return tt.Payload(
		tt.TextChange(session, at(0), "src/cart/cart.ts", 212, 1, 0, tt.Range{Start: 88, End: 88}),
		tt.TextChange(session, at(7.5), "src/cart/cart.ts", 251, 1849, 0, tt.Range{Start: 90, End: 90}),
		tt.FileSave(session, at(10.8), "src/cart/cart.ts", 251),
		tt.EditorSwitch(session, at(19.4), "src/cart/cart.ts", "src/orders/service.ts", false),
		tt.DebugStart(session, at(38.5)),
		tt.TerminalOpen(session, at(50.1), true),
		tt.GitActivity(session, at(56.7), "feature/cart-discounts", 3),
	)
}

func TestTelemetry_AcceptsTheExtensionsBatch(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	u := e.NewUser()
	a := mustAccept(t, post(t, e, u.Token, extensionBatch(sid)))
	if a.AcceptedCount != 7 || a.DuplicateCount != 0 || a.RejectedCount != 0 || len(a.Rejected) != 0 {
		t.Fatalf("counts %+v", a)
	}

	// One stream: SessionStarted owned by the caller, then the events in order.
	rows, err := e.Pool.Query(context.Background(), `SELECT event_type, schema_version, data, metadata->>'user_id' FROM events
		WHERE stream_id = $1 ORDER BY stream_version`, "session-"+sid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var types []string
	var datas [][]byte
	for rows.Next() {
		var typ, user string
		var v int
		var data []byte
		if err := rows.Scan(&typ, &v, &data, &user); err != nil {
			t.Fatal(err)
		}
		want := telemetry.SchemaVersion
		if typ == telemetry.TypeSessionStarted {
			want = telemetry.SessionStartedVersion
		}
		if v != want || user != u.ID.String() {
			t.Fatalf("%s: schema version %d, user %s", typ, v, user)
		}
		types, datas = append(types, typ), append(datas, data)
	}
	want := []string{"SessionStarted", "TextChanged", "TextChanged", "FileSaved", "EditorSwitched", "DebugSessionStarted", "TerminalOpened", "GitActivityObserved"}
	if strings.Join(types, ",") != strings.Join(want, ",") {
		t.Fatalf("stream types %v, want %v", types, want)
	}
	var started struct {
		Owner     string `json:"owner"`
		StartTime string `json:"start_time"`
	}
	if err := json.Unmarshal(datas[0], &started); err != nil || started.Owner != u.ID.String() || started.StartTime != "2026-11-27T10:14:01.512Z" {
		t.Fatalf("SessionStarted %s", datas[0])
	}
	// Every field the client sent is kept, with the envelope's send time.
	var paste struct {
		MachineTimestamp string         `json:"machine_timestamp"`
		Event            map[string]any `json:"event"`
	}
	if err := json.Unmarshal(datas[2], &paste); err != nil {
		t.Fatal(err)
	}
	file := paste.Event["file"].(map[string]any)
	if paste.MachineTimestamp != "2026-11-27T10:15:02.118Z" || file["absolute_path"] != "/home/dev/shop-api/src/cart/cart.ts" ||
		paste.Event["metrics"].(map[string]any)["characters_added"] != 1849.0 {
		t.Fatalf("stored paste %s", datas[2])
	}
}

func TestTelemetry_KeepsUnknownAndOptionalFields(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	u := e.NewUser()
	withExtras := tt.TextChange(sid, day, "src/a.ts", 10, 5, 0)
	withExtras["future_field"] = map[string]any{"nested": []any{1, "x"}}
	withExtras["metrics"].(map[string]any)["lines_added"] = 4
	bare := tt.EditorSwitch(sid, day, "", "src/b.ts", true) // no "from"
	mustAccept(t, post(t, e, u.Token, tt.Payload(withExtras, bare, tt.TerminalOpen(sid, day, false), tt.GitActivity(sid, day, "", 0))))
	if n := e.Count(`SELECT count(*) FROM events WHERE data->'event'->'future_field'->'nested'->>1 = 'x'
		AND (data->'event'->'metrics'->>'lines_added')::int = 4`); n != 1 {
		t.Fatalf("unknown fields not kept (%d rows)", n)
	}
}

func TestTelemetry_ResentBatchIsNotStoredTwice(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	u := e.NewUser()
	body := extensionBatch(sid)
	mustAccept(t, post(t, e, u.Token, body))
	stored := e.Count(`SELECT count(*) FROM events`)

	again := mustAccept(t, post(t, e, u.Token, body))
	if again.AcceptedCount != 7 || again.DuplicateCount != 7 {
		t.Fatalf("resend counts %+v", again)
	}
	// The same events re-serialised (key order, whitespace, 240 vs 240.0, upper-case
	// session id) are the same events.
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, ev := range doc["events"].([]any) {
		m := ev.(map[string]any)
		m["session_id"] = strings.ToUpper(sid)
		if f, ok := m["file"].(map[string]any); ok {
			f["lines"] = json.Number(f["lines"].(json.Number).String() + ".0")
		}
	}
	reshaped, _ := json.MarshalIndent(doc, "", "   ")
	third := mustAccept(t, post(t, e, u.Token, reshaped))
	if third.DuplicateCount != 7 {
		t.Fatalf("re-serialised resend counts %+v", third)
	}
	if n := e.Count(`SELECT count(*) FROM events`); n != stored {
		t.Fatalf("events %d after resends, want %d", n, stored)
	}

	// Repeats inside one request are stored once; another user's identical events are
	// that user's own.
	ev := tt.FileSave("8e2a7c61-0d4b-4b9e-a5f3-16c9d0e4b7a2", day, "x.ts", 3)
	twice := mustAccept(t, post(t, e, u.Token, tt.Payload(ev, ev, ev)))
	if twice.AcceptedCount != 3 || twice.DuplicateCount != 2 {
		t.Fatalf("in-request repeats %+v", twice)
	}
}

func TestTelemetry_QuarantinesInvalidEvents(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	u := e.NewUser()
	// The contract's example (3.15): five valid events and a terminal without a name.
	s := "e6e3f681-1f11-4037-994a-db947c0a16c4"
	at := time.Date(2026, 11, 27, 5, 34, 43, 0, time.UTC)
	noName := tt.TerminalOpen(s, at, true)
	delete(noName["terminal"].(map[string]any), "name")
	body := tt.Payload(
		tt.TextChange(s, at, "src/app.ts", 120, 240, 0, tt.Range{Start: 10, End: 19}),
		tt.TextChange(s, at.Add(time.Minute), "src/app.ts", -1, 0, 80, tt.Range{Start: 12, End: 14}),
		tt.EditorSwitch(s, at.Add(time.Minute), "src/app.ts", "src/util.ts", true),
		tt.EditorSwitch(s, at.Add(2*time.Minute), "src/util.ts", "src/app.ts", false),
		tt.FileSave(s, at.Add(2*time.Minute), "src/app.ts", 127),
		noName,
	)
	a := mustAccept(t, post(t, e, u.Token, body))
	if a.AcceptedCount != 5 || a.DuplicateCount != 0 || a.RejectedCount != 1 || len(a.Rejected) != 1 || a.Rejected[0].Index != 5 {
		t.Fatalf("counts %+v", a)
	}
	got := a.Rejected[0].Errors
	if len(got) != 1 || got[0].InstancePath != "/events/5/terminal" || got[0].Keyword != "required" ||
		got[0].Params["missingProperty"] != "name" || got[0].Message != "must have required property 'name'" {
		t.Fatalf("rejected errors %+v", got)
	}
	var idx int
	var raw []byte
	var errs string
	if err := e.Pool.QueryRow(context.Background(), `SELECT event_index, raw, errors::text FROM telemetry_quarantine WHERE user_id = $1`, u.ID).
		Scan(&idx, &raw, &errs); err != nil {
		t.Fatal(err)
	}
	if idx != 5 || !json.Valid(raw) || !strings.Contains(string(raw), `"shell_type":"/bin/zsh"`) || !strings.Contains(errs, "/events/5/terminal") {
		t.Fatalf("quarantine row: %d %s %s", idx, raw, errs)
	}

	// A resend stores neither the events nor the quarantine record again.
	again := mustAccept(t, post(t, e, u.Token, body))
	if again.DuplicateCount != 5 || again.RejectedCount != 1 {
		t.Fatalf("resend counts %+v", again)
	}
	if n := e.Count(`SELECT count(*) FROM telemetry_quarantine`); n != 1 {
		t.Fatalf("%d quarantine rows after resend", n)
	}
}

func TestTelemetry_RejectedListIsCapped(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	u := e.NewUser()
	var events []tt.Event
	for i := range 150 {
		bad := tt.FileSave(sid, day.Add(time.Duration(i)*time.Second), "a.ts", 1)
		delete(bad, "file")
		events = append(events, bad)
	}
	// An event wrong in every field: more than 10 errors.
	events = append(events, tt.Event{"type": "text_change", "timestamp": 1, "workspace": 2, "session_id": 3,
		"file": map[string]any{"path": 4, "name": 5, "lines": "x"},
		"metrics": map[string]any{"characters_added": "1", "characters_deleted": "1", "change_count": true, "edit_duration_ms": 1.5,
			"is_large_paste": 1, "is_possible_rewrite": 1, "is_possible_undo_cycle": 1}})
	events = append(events, tt.FileSave(sid, day, "ok.ts", 1))
	a := mustAccept(t, post(t, e, u.Token, tt.Payload(events...)))
	if a.AcceptedCount != 1 || a.RejectedCount != 151 || len(a.Rejected) != 100 || a.Rejected[99].Index != 99 {
		t.Fatalf("counts %d/%d, %d listed", a.AcceptedCount, a.RejectedCount, len(a.Rejected))
	}
	// 150 events that differ in their timestamps, plus the broken one.
	if n := e.Count(`SELECT count(*) FROM telemetry_quarantine`); n != 151 {
		t.Fatalf("%d quarantine rows, want 151", n)
	}

	// The broken event alone: its errors are cut at 10 in the 202 body.
	one := mustAccept(t, post(t, e, u.Token, tt.Payload(events[150])))
	if one.RejectedCount != 1 || len(one.Rejected[0].Errors) != 10 {
		t.Fatalf("errors listed: %d", len(one.Rejected[0].Errors))
	}

	// A valid envelope whose events are all invalid still gets 202.
	none := mustAccept(t, post(t, e, u.Token, tt.Payload(events[0])))
	if none.AcceptedCount != 0 || none.RejectedCount != 1 {
		t.Fatalf("all-invalid counts %+v", none)
	}
}

// A large batch is checked in parts on several cores; what comes out is as if it had
// been checked in one go: events in order, invalid ones listed in order, a repeat
// across parts counted once, and ids that do not depend on how a batch was split.
func TestTelemetry_LargeBatchIsCheckedInOrder(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	u := e.NewUser()
	events := tt.NewGenerator(7, sid, day).Events(1000)
	bad := []int{3, 499, 500, 998}
	for _, i := range bad {
		delete(events[i], "timestamp")
	}
	events[990] = events[10] // a repeat in another part
	a := mustAccept(t, post(t, e, u.Token, tt.Payload(events...)))
	if a.AcceptedCount != 996 || a.DuplicateCount != 1 || a.RejectedCount != 4 || len(a.Rejected) != 4 {
		t.Fatalf("counts %d accepted, %d duplicate, %d rejected", a.AcceptedCount, a.DuplicateCount, a.RejectedCount)
	}
	for k, i := range bad {
		if a.Rejected[k].Index != i || a.Rejected[k].Errors[0].InstancePath != fmt.Sprintf("/events/%d", i) {
			t.Fatalf("rejected[%d] = %+v, want event %d", k, a.Rejected[k], i)
		}
	}
	var order []string
	rows, err := e.Pool.Query(context.Background(), `SELECT data->'event'->>'timestamp' FROM events
		WHERE stream_id = $1 AND event_type <> 'SessionStarted' ORDER BY stream_version`, "session-"+sid)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var at string
		if err := rows.Scan(&at); err != nil {
			t.Fatal(err)
		}
		order = append(order, at)
	}
	var want []string
	for i, ev := range events {
		if !slices.Contains(bad, i) && i != 990 {
			want = append(want, fmt.Sprint(ev["timestamp"]))
		}
	}
	if !slices.Equal(order, want) {
		t.Fatalf("stored events are out of order (%d stored, %d sent valid and distinct)", len(order), len(want))
	}
	// The same events resent split differently are all duplicates.
	for _, half := range [][]tt.Event{events[:300], events[300:]} {
		r := mustAccept(t, post(t, e, u.Token, tt.Payload(half...)))
		if r.DuplicateCount != r.AcceptedCount {
			t.Fatalf("resent part: %d accepted, %d duplicates", r.AcceptedCount, r.DuplicateCount)
		}
	}
}

// Two replicas behind a load balancer take turns with one extension's batches: each
// one's idea of the session stream's version is stale every time, which the append
// must notice and fall back from, without losing, doubling or misnumbering events.
func TestTelemetry_ReplicasTakingTurnsWithOneSession(t *testing.T) {
	pool := telemetryapitest.Pool(t)
	a := telemetryapitest.NewOnPool(t, pool, telemetryapitest.Options{NoEngine: true})
	b := telemetryapitest.NewOnPool(t, pool, telemetryapitest.Options{NoEngine: true})
	u := a.NewUser()
	g := tt.NewGenerator(11, sid, day)
	var bodies [][]byte
	for turn := range 6 {
		body := tt.Payload(g.Events(150)...)
		bodies = append(bodies, body)
		e := a
		if turn%2 == 1 {
			e = b
		}
		r := mustAccept(t, post(t, e, u.Token, body))
		if r.AcceptedCount != 150 || r.DuplicateCount != 0 {
			t.Fatalf("turn %d: %+v", turn, r)
		}
	}
	// A resend through the other replica is all duplicates.
	if r := mustAccept(t, post(t, b, u.Token, bodies[0])); r.DuplicateCount != 150 {
		t.Fatalf("resend: %+v", r)
	}
	var n, maxVersion int
	if err := pool.QueryRow(context.Background(), `SELECT count(*), max(stream_version) FROM events WHERE stream_id = $1`, "session-"+sid).
		Scan(&n, &maxVersion); err != nil {
		t.Fatal(err)
	}
	if n != 1+6*150 || maxVersion != n-1 {
		t.Fatalf("stream holds %d events up to version %d, want %d gapless", n, maxVersion, 1+6*150)
	}
}

// A batch after the caller's first one, into the session it created, with whatever
// the quick check cannot settle in it (an invalid event, text PostgreSQL cannot store,
// a second session, a valid event only the schema accepts, a new session): right
// counts, every valid event stored once, in order, versions gapless.
func TestTelemetry_LaterBatchOfAKnownSession(t *testing.T) {
	// A repeated member, the first one invalid: valid by the schema, which sees the last
	// one, and left to it by the quick check, which checks both.
	schemaOnly := tt.FileSave(sid, day.Add(time.Hour), "a.ts", 1)
	schemaOnly["file"] = json.RawMessage(`{"path":"a.ts","lines":"seven","lines":7}`)
	if b, _ := json.Marshal(schemaOnly); true {
		var d telemetry.Doc
		_ = d.Parse(b)
		c, err := telemetry.Identify(d.Root())
		if fast := err == nil && schemas(t).QuickEvent(c.ClientType, d.Root()); fast || len(schemas(t).Event(d.Root(), 0)) > 0 {
			t.Fatalf("want an event only the schema accepts; quick check %v", fast)
		}
	}
	other := "a1c2e3f4-0b1d-4e2f-8a3b-4c5d6e7f8091"
	cases := []struct {
		name            string
		mutate          func(events []tt.Event)
		storedHere      int // of the 1000 events, stored in the known session
		storedElsewhere int
		rejected        []int
		duplicates      int
	}{
		{"all valid, one repeat", func(ev []tt.Event) { ev[990] = ev[10] }, 999, 0, nil, 1},
		{"invalid event late", func(ev []tt.Event) { delete(ev[900], "timestamp") }, 999, 0, []int{900}, 0},
		{"text postgres cannot store", func(ev []tt.Event) { ev[950]["note"] = "a\x00b" }, 999, 0, []int{950}, 0},
		{"second session late", func(ev []tt.Event) {
			for i := 980; i < 1000; i++ {
				ev[i]["session_id"] = other
			}
		}, 980, 20, nil, 0},
		{"valid event only the schema accepts", func(ev []tt.Event) { ev[700] = schemaOnly }, 1000, 0, nil, 0},
		{"the extension moved to a new session", func(ev []tt.Event) {
			for i := range ev {
				ev[i]["session_id"] = other
			}
		}, 0, 1000, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
			u := e.NewUser()
			g := tt.NewGenerator(13, sid, day)
			// The first batch creates the session; from then on this replica knows it.
			mustAccept(t, post(t, e, u.Token, tt.Payload(g.Events(10)...)))
			events := g.Events(1000)
			c.mutate(events)
			a := mustAccept(t, post(t, e, u.Token, tt.Payload(events...)))
			if a.AcceptedCount != 1000-len(c.rejected) || a.DuplicateCount != c.duplicates || a.RejectedCount != len(c.rejected) {
				t.Fatalf("counts %+v", a)
			}
			for k, i := range c.rejected {
				if a.Rejected[k].Index != i {
					t.Fatalf("rejected %+v, want %v", a.Rejected, c.rejected)
				}
			}
			var n, last int
			if err := e.Pool.QueryRow(context.Background(), `SELECT count(*), max(stream_version) FROM events WHERE stream_id = $1`, "session-"+sid).
				Scan(&n, &last); err != nil {
				t.Fatal(err)
			}
			// SessionStarted, the first 10 events, then the stored ones of this batch.
			if want := 1 + 10 + c.storedHere; n != want || last != want-1 {
				t.Fatalf("%d events stored, last version %d; want %d", n, last, want)
			}
			if got := e.Count(`SELECT count(*) FROM events WHERE stream_id = $1 AND event_type <> 'SessionStarted'`, "session-"+other); got != c.storedElsewhere {
				t.Fatalf("%d events in the second session, want %d", got, c.storedElsewhere)
			}
			if got := e.Count(`SELECT count(*) FROM telemetry_quarantine`); got != len(c.rejected) {
				t.Fatalf("%d quarantined, want %d", got, len(c.rejected))
			}
			// A resend is all duplicates and stores nothing more.
			again := mustAccept(t, post(t, e, u.Token, tt.Payload(events...)))
			if again.DuplicateCount != again.AcceptedCount || e.Count(`SELECT count(*) FROM events`) != n+c.storedElsewhere+min(c.storedElsewhere, 1) {
				t.Fatalf("resend: %+v", again)
			}
		})
	}
}

// Reject mode: an invalid event late in a later batch of a known session fails the
// whole batch, and none of its events is stored.
func TestTelemetry_RejectModeFailsALaterBatchWhole(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true, Mode: cmdtelemetry.Reject})
	u := e.NewUser()
	g := tt.NewGenerator(17, sid, day)
	mustAccept(t, post(t, e, u.Token, tt.Payload(g.Events(10)...)))
	events := g.Events(1000)
	delete(events[990], "timestamp")
	if r := post(t, e, u.Token, tt.Payload(events...)); r.Status != 400 {
		t.Fatalf("got %s", r)
	}
	if n := e.Count(`SELECT count(*) FROM events`); n != 11 {
		t.Fatalf("%d events stored, want the first batch's 11", n)
	}
}

func TestTelemetry_RejectModeStoresNothing(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true, Mode: cmdtelemetry.Reject})
	u := e.NewUser()
	noName := tt.TerminalOpen(sid, day, true)
	delete(noName["terminal"].(map[string]any), "name")
	badTime := tt.FileSave(sid, day, "a.ts", 1)
	badTime["timestamp"] = "2026-02-31T10:00:00Z"
	r := post(t, e, u.Token, tt.Payload(tt.FileSave(sid, day, "a.ts", 1), noName, badTime))
	if r.Status != 400 {
		t.Fatalf("got %s", r)
	}
	var body struct {
		Error   string `json:"error"`
		Message string `json:"message"`
		Details []struct {
			InstancePath string `json:"instancePath"`
			Keyword      string `json:"keyword"`
		} `json:"details"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Error != "Validation failed" || body.Message != "Request body does not match required schema" || len(body.Details) != 2 ||
		body.Details[0].InstancePath != "/events/1/terminal" || body.Details[1].InstancePath != "/events/2/timestamp" || body.Details[1].Keyword != "format" {
		t.Fatalf("400 body %s", r.Body)
	}
	if n := e.Count(`SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM telemetry_quarantine)`); n != 0 {
		t.Fatalf("%d rows stored after a rejected batch", n)
	}
	mustAccept(t, post(t, e, u.Token, tt.Payload(tt.FileSave(sid, day, "a.ts", 1))))
}

// Bad bodies get the same 400 from both paths: a user's first batch is checked in
// full, while a later one is parsed on its way into the store of the last session.
func TestTelemetry_EnvelopeErrors(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	first := e.NewUser()
	later := e.NewUser()
	mustAccept(t, post(t, e, later.Token, extensionBatch(sid)))
	stored := e.Count(`SELECT count(*) FROM events`)
	const session = `{"active_minutes":12.5,"idle_minutes":1,"total_events_collected":5,"save_frequency":0.4,"editor_switch_frequency":0.2}`
	cases := []struct {
		name, body, want string
	}{
		{"empty events", `{"workspace":"demo-ws","machine_timestamp":"2026-11-27T05:37:43.000Z","session":` + session + `,"events":[]}`,
			`{"error":"Validation failed","message":"Request body does not match required schema","details":[{"instancePath":"/events","schemaPath":"#/properties/events/minItems","keyword":"minItems","params":{"limit":1},"message":"must NOT have fewer than 1 items"}]}`},
		{"not an object", `[1,2]`, `"keyword":"type"`},
		{"events not an array", `{"workspace":"w","machine_timestamp":"2026-11-27T05:37:43.000Z","session":` + session + `,"events":{"0":{}}}`, `"instancePath":"/events"`},
		{"session field mistyped", `{"workspace":"w","machine_timestamp":"2026-11-27T05:37:43.000Z","session":{"active_minutes":"12","idle_minutes":1,"total_events_collected":5,"save_frequency":0.4,"editor_switch_frequency":0.2},"events":[{}]}`, `"instancePath":"/session/active_minutes"`},
		{"machine_timestamp not a date-time", `{"workspace":"w","machine_timestamp":"yesterday","session":` + session + `,"events":[{}]}`, `"instancePath":"/machine_timestamp"`},
		{"missing workspace", `{"machine_timestamp":"2026-11-27T05:37:43.000Z","session":` + session + `,"events":[{}]}`, `"missingProperty":"workspace"`},
		{"empty object", `{}`, `"missingProperty":"events"`},
		{"malformed JSON", `{"workspace":`, `{"error":"Validation failed","message":"malformed JSON"}`},
	}
	for batch, u := range map[string]telemetryapitest.User{"first batch": first, "later batch": later} {
		for _, c := range cases {
			t.Run(batch+"/"+c.name, func(t *testing.T) {
				r := post(t, e, u.Token, []byte(c.body))
				if r.Status != 400 || !strings.Contains(string(r.Body), c.want) {
					t.Fatalf("got %s, want 400 containing %s", r, c.want)
				}
			})
		}
		// Without a JSON Content-Type the body is ignored and reads as {}.
		r := e.DoType("POST", "/telemetry", u.Token, extensionBatch(sid), "text/plain")
		if r.Status != 400 || !strings.Contains(string(r.Body), `"missingProperty":"events"`) {
			t.Fatalf("text/plain body: %s", r)
		}
	}
	if n := e.Count(`SELECT count(*) FROM events`); n != stored {
		t.Fatalf("%d events stored by invalid envelopes", n-stored)
	}
}

func TestTelemetry_AuthenticationComesFirst(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true, MaxBody: 1000})
	u := e.NewUser()
	huge := bytes.Repeat([]byte("x"), 5000)
	for name, r := range map[string]telemetryapitest.Response{
		"no credential, malformed body":  post(t, e, "", []byte(`{"workspace":`)),
		"no credential, oversized body":  post(t, e, "", huge),
		"bad API token, valid batch":     post(t, e, "dvf_notatoken", extensionBatch(sid)),
		"bad JWT, empty envelope":        post(t, e, "eyJhbGciOiJIUzI1NiJ9.e30.x", []byte(`{}`)),
		"revoked-looking token, no body": post(t, e, "dvf_"+strings.Repeat("A", 43), nil),
	} {
		if r.Status != 401 || string(r.Body) != `{"error":"Unauthorized"}` {
			t.Errorf("%s: got %s, want 401", name, r)
		}
	}
	// A good credential with a bad body is never 401: posting {} checks a token.
	wantBody(t, post(t, e, u.Token, huge), 413, `{"error":"Payload too large","message":"request body exceeds 1000 bytes"}`)
	if r := post(t, e, u.Token, []byte(`{}`)); r.Status != 400 {
		t.Fatalf("{} with a good token: %s", r)
	}
	if r := post(t, e, u.JWT, []byte(`{}`)); r.Status != 400 {
		t.Fatalf("{} with a good JWT: %s", r)
	}
}

func TestTelemetry_LargeBodyLimit(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	u := e.NewUser()
	over := make([]byte, 8388608+1)
	copy(over, `{"workspace":"`)
	wantBody(t, post(t, e, u.Token, over), 413, `{"error":"Payload too large","message":"request body exceeds 8388608 bytes"}`)
}

func TestTelemetry_FullBufferOf5000EventsIsAccepted(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	u := e.NewUser()
	g := tt.NewGenerator(1, sid, day)
	body := tt.Payload(g.Events(5000)...)
	if len(body) < 2_500_000 || len(body) > 8388608 {
		t.Fatalf("batch is %d bytes; want a realistic 3-4 MB", len(body))
	}
	a := mustAccept(t, post(t, e, u.Token, body))
	if a.AcceptedCount != 5000 || a.RejectedCount != 0 {
		t.Fatalf("counts %+v", a)
	}
	if n := e.Count(`SELECT count(*) FROM events WHERE stream_id = $1`, "session-"+sid); n != 5001-a.DuplicateCount {
		t.Fatalf("%d events stored, want %d", n, 5001-a.DuplicateCount)
	}
}

func TestTelemetry_UnknownUserIs404AndStoresNothing(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	ghost, err := e.JWT.Mint(ids.New(), "password")
	if err != nil {
		t.Fatal(err)
	}
	noName := tt.TerminalOpen(sid, day, true)
	delete(noName["terminal"].(map[string]any), "name")
	wantBody(t, post(t, e, ghost, tt.Payload(tt.FileSave(sid, day, "a.ts", 1), noName)), 404, `{"error":"User not found"}`)
	wantBody(t, post(t, e, ghost, tt.Payload(noName)), 404, `{"error":"User not found"}`)
	if n := e.Count(`SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM telemetry_quarantine)`); n != 0 {
		t.Fatalf("%d rows stored for an unknown user", n)
	}
}

func TestTelemetry_AnotherUsersSessionIs409AndStoresNothing(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	alice, bob := e.NewUser(), e.NewUser()
	mustAccept(t, post(t, e, alice.Token, extensionBatch(sid)))
	before := e.Count(`SELECT count(*) FROM events`)

	bobs := "9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
	noName := tt.TerminalOpen(bobs, day, true)
	delete(noName["terminal"].(map[string]any), "name")
	for _, s := range []string{sid, strings.ToUpper(sid)} {
		body := tt.Payload(tt.FileSave(bobs, day, "mine.ts", 3), noName, tt.FileSave(s, day.Add(time.Hour), "yours.ts", 9))
		wantBody(t, post(t, e, bob.Token, body), 409, `{"error":"Session ownership conflict"}`)
	}
	if n := e.Count(`SELECT count(*) FROM events`); n != before {
		t.Fatalf("events %d after the conflict, want %d", n, before)
	}
	if n := e.Count(`SELECT count(*) FROM telemetry_quarantine`); n != 0 {
		t.Fatal("quarantine records stored despite the conflict")
	}
	// Bob's own session alone is fine.
	mustAccept(t, post(t, e, bob.Token, tt.Payload(tt.FileSave(bobs, day, "mine.ts", 3))))
}

func TestTelemetry_RacingCreatorsExactlyOneWins(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	alice, bob := e.NewUser(), e.NewUser()
	for round := range 8 {
		s := ids.New().String()
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i, u := range []telemetryapitest.User{alice, bob} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = post(t, e, u.Token, tt.Payload(tt.FileSave(s, day, fmt.Sprintf("f%d.ts", i), i))).Status
			}()
		}
		wg.Wait()
		if !(statuses[0] == 202 && statuses[1] == 409 || statuses[0] == 409 && statuses[1] == 202) {
			t.Fatalf("round %d: statuses %v, want one 202 and one 409", round, statuses)
		}
		winner := alice.ID
		if statuses[1] == 202 {
			winner = bob.ID
		}
		if n := e.Count(`SELECT count(*) FROM events WHERE stream_id = $1 AND metadata->>'user_id' = $2`, "session-"+s, winner.String()); n != 2 {
			t.Fatalf("round %d: winner has %d events in the session", round, n)
		}
		if n := e.Count(`SELECT count(*) FROM events WHERE stream_id = $1`, "session-"+s); n != 2 {
			t.Fatalf("round %d: %d events in the session", round, n)
		}
	}
}

func TestTelemetry_ConcurrentIdenticalRequestsStoreEachEventOnce(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	u := e.NewUser()
	for round := range 5 {
		s := ids.New().String()
		g := tt.NewGenerator(uint64(round), s, day)
		body := tt.Payload(g.Events(200)...)
		var wg sync.WaitGroup
		results := make([]accepted, 3)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := post(t, e, u.Token, body)
				if r.Status == 202 {
					_ = json.Unmarshal(r.Body, &results[i])
				}
			}()
		}
		wg.Wait()
		stored := e.Count(`SELECT count(*) FROM events WHERE stream_id = $1 AND event_type <> 'SessionStarted'`, "session-"+s)
		newPerRequest := 0
		for _, r := range results {
			if r.AcceptedCount != 200 {
				t.Fatalf("round %d: a request failed: %+v", round, results)
			}
			newPerRequest += r.AcceptedCount - r.DuplicateCount
		}
		if newPerRequest != stored || e.Count(`SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'SessionStarted'`, "session-"+s) != 1 {
			t.Fatalf("round %d: %d stored, requests report %d new", round, stored, newPerRequest)
		}
	}
}

func TestTelemetry_SessionStartIsTheEarliestEventOfItsFirstBatch(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	u := e.NewUser()
	s1, s2 := ids.New().String(), ids.New().String()
	// Two sessions in one batch (a rotation), events out of time order.
	mustAccept(t, post(t, e, u.Token, tt.Payload(
		tt.FileSave(s1, day.Add(5*time.Minute), "a.ts", 1),
		tt.FileSave(s1, day.Add(2*time.Minute), "a.ts", 1),
		tt.FileSave(s2, day.Add(40*time.Minute), "b.ts", 1),
	)))
	// A later batch with an earlier event does not move the start.
	mustAccept(t, post(t, e, u.Token, tt.Payload(tt.FileSave(s1, day.Add(-time.Hour), "a.ts", 1))))
	starts := map[string]string{}
	rows, err := e.Pool.Query(context.Background(), `SELECT stream_id, data->>'start_time' FROM events WHERE event_type = 'SessionStarted'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s, st string
		if err := rows.Scan(&s, &st); err != nil {
			t.Fatal(err)
		}
		starts[s] = st
	}
	if len(starts) != 2 || starts["session-"+s1] != "2026-11-27T10:16:01.512Z" || starts["session-"+s2] != "2026-11-27T10:54:01.512Z" {
		t.Fatalf("session starts %v", starts)
	}
}

func TestTelemetry_TextPostgresCannotStoreIsQuarantined(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{NoEngine: true})
	u := e.NewUser()
	body := []byte(`{"workspace":"w","machine_timestamp":"2026-11-27T05:37:43.000Z","session":{"active_minutes":1,"idle_minutes":1,"total_events_collected":1,"save_frequency":1,"editor_switch_frequency":1},
		"events":[{"type":"file_save","timestamp":"2026-11-27T05:37:43.000Z","workspace":"w","session_id":"` + sid + `","file":{"path":"a\u0000b.ts"}},
		          {"type":"file_save","timestamp":"2026-11-27T05:37:43.000Z","workspace":"w","session_id":"` + sid + `","file":{"path":"ok.ts"},"note":"\ud800"}]}`)
	a := mustAccept(t, post(t, e, u.Token, body))
	if a.RejectedCount != 2 || a.Rejected[0].Errors[0].InstancePath != "/events/0/file/path" || a.Rejected[1].Errors[0].InstancePath != "/events/1/note" {
		t.Fatalf("counts %+v", a)
	}
	if n := e.Count(`SELECT count(*) FROM telemetry_quarantine`); n != 2 {
		t.Fatalf("%d quarantined", n)
	}
}

func schemas(t *testing.T) *httpapi.Schemas {
	t.Helper()
	s, err := httpapi.RequestSchemas()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
