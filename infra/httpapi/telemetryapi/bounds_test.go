package telemetryapi_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	cmdtelemetry "github.com/devflow/backend/commands/telemetry"
	"github.com/devflow/backend/domain/ids"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/httpapi/telemetryapi/telemetryapitest"
)

// poisonEvent is an event of a poison case: poison ones are out of the schema's bounds,
// the others valid events the case needs around them.
type poisonEvent struct {
	event  tt.Event
	poison bool
}

// poisonCase is a sequence of requests that once stalled the metrics projection or
// counted wrong numbers, and the lines its valid events add.
type poisonCase struct {
	name     string
	requests func(session string) [][]poisonEvent
	added    int64
}

func poisonCases() []poisonCase {
	at := day.Add(time.Hour)
	bad := func(e tt.Event) poisonEvent { return poisonEvent{e, true} }
	text := func(s string, path string, lines int, i int) tt.Event {
		return tt.TextChange(s, at.Add(time.Duration(i)*time.Second), path, lines, 10, 0, tt.Range{Start: 1, End: 1})
	}
	maxInt64 := json.Number("9223372036854775807")
	return []poisonCase{
		{"switch to a path of 10,000 characters", func(s string) [][]poisonEvent {
			return [][]poisonEvent{{bad(tt.EditorSwitch(s, at, "src/a.ts", strings.Repeat("x", 10000), false))}}
		}, 0},
		{"text change of a path past 4096 characters", func(s string) [][]poisonEvent {
			return [][]poisonEvent{{bad(text(s, strings.Repeat("p", 4097), -1, 0))}}
		}, 0},
		{"file save of a path past 4096 characters", func(s string) [][]poisonEvent {
			return [][]poisonEvent{{bad(tt.FileSave(s, at, strings.Repeat("p", 4097), 10))}}
		}, 0},
		{"explicit lines added max int64 in two requests", func(s string) [][]poisonEvent {
			return [][]poisonEvent{
				{bad(tt.Set(text(s, "src/e.ts", -1, 0), maxInt64, "metrics", "lines_added"))},
				{bad(tt.Set(text(s, "src/e.ts", -1, 1), maxInt64, "metrics", "lines_added"))},
			}
		}, 0},
		{"explicit lines added max int64 twice in one request", func(s string) [][]poisonEvent {
			return [][]poisonEvent{{
				bad(tt.Set(text(s, "src/e.ts", -1, 0), maxInt64, "metrics", "lines_added")),
				bad(tt.Set(text(s, "src/e.ts", -1, 1), maxInt64, "metrics", "lines_added")),
			}}
		}, 0},
		// The first edit counts by its range (+1); the edit after the quarantined one
		// counts from the last valid line count, 0 (+5).
		{"file lines from 0 to max int64 across two requests", func(s string) [][]poisonEvent {
			return [][]poisonEvent{
				{{text(s, "src/d.ts", 0, 0), false}},
				{bad(tt.Set(text(s, "src/d.ts", 0, 1), maxInt64, "file", "lines"))},
				{{text(s, "src/d.ts", 5, 2), false}},
			}
		}, 6},
		{"line range from −max to max", func(s string) [][]poisonEvent {
			e := text(s, "src/r.ts", -1, 0)
			e["metrics"].(map[string]any)["affected_line_ranges"] = []any{map[string]any{"start": json.Number("-9223372036854775807"), "end": maxInt64}}
			return [][]poisonEvent{{bad(e)}}
		}, 0},
		{"explicit lines added 1e30", func(s string) [][]poisonEvent {
			return [][]poisonEvent{{bad(tt.Set(text(s, "src/e.ts", -1, 0), json.Number("1e30"), "metrics", "lines_added"))}}
		}, 0},
		{"timestamp in year 0000 with an offset", func(s string) [][]poisonEvent {
			return [][]poisonEvent{{bad(tt.Set(tt.FileSave(s, at, "a.ts", 1), "0000-01-01T00:00:00+01:00", "timestamp"))}}
		}, 0},
		{"timestamp in year 10000 UTC", func(s string) [][]poisonEvent {
			return [][]poisonEvent{{bad(tt.Set(tt.TerminalOpen(s, at, true), "9999-12-31T23:59:59-23:59", "timestamp"))}}
		}, 0},
	}
}

// framed puts a case's events between two valid ones that count: a 3-line edit first and
// a switch last.
func framed(session string, i int, events []poisonEvent) []poisonEvent {
	at := day.Add(time.Duration(i) * time.Minute)
	return append(append([]poisonEvent{{tt.TextChange(session, at, "src/ok.ts", -1, 30, 0, tt.Range{Start: 5, End: 7}), false}}, events...),
		poisonEvent{tt.EditorSwitch(session, at.Add(time.Second), "src/a.ts", "src/ok.ts", false), false})
}

type dayNumbers struct{ added, deleted, switches int64 }

// numbersOf reads the user's metrics for the test day through the API.
func numbersOf(t *testing.T, e *telemetryapitest.Env, u telemetryapitest.User) dayNumbers {
	t.Helper()
	q := "?from=" + day.Format("2006-01-02") + "&to=" + day.Format("2006-01-02")
	var churn struct {
		Added   int64 `json:"total_lines_added"`
		Deleted int64 `json:"total_lines_deleted"`
	}
	var switching struct {
		Switches int64 `json:"switch_count"`
	}
	for path, into := range map[string]any{"/metrics/churn" + q: &churn, "/metrics/context-switching" + q: &switching} {
		r := e.Do("GET", path, u.JWT, nil)
		if r.Status != 200 {
			t.Fatalf("GET %s: %s", path, r)
		}
		if err := json.Unmarshal(r.Body, into); err != nil {
			t.Fatal(err)
		}
	}
	return dayNumbers{churn.Added, churn.Deleted, switching.Switches}
}

// Every poison case, in the user's first batch of a session and in a later batch into
// the session the user's last batch went to: the poison
// events are quarantined and never reach the log, the rest of each batch is stored, and
// the metrics projection keeps advancing with the right numbers, for the poisoner and
// for everyone else.
func TestTelemetry_OutOfBoundsEventsAreQuarantined(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{})
	for _, c := range poisonCases() {
		for _, known := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/known_session=%v", c.name, known), func(t *testing.T) {
				alice, bob := e.NewUser(), e.NewUser()
				session := ids.New().String()
				var want dayNumbers
				stored, quarantined := 0, 0
				if known { // alice's first batch creates the session
					mustAccept(t, post(t, e, alice.Token, tt.Payload(eventsOf(framed(session, 0, nil))...)))
					want, stored = dayNumbers{added: 3, switches: 1}, 2
				}
				for i, events := range c.requests(session) {
					events = framed(session, i+1, events)
					a := mustAccept(t, post(t, e, alice.Token, tt.Payload(eventsOf(events)...)))
					var rejected []int
					for k, ev := range events {
						if ev.poison {
							rejected = append(rejected, k)
						}
					}
					if a.AcceptedCount != len(events)-len(rejected) || a.DuplicateCount != 0 || a.RejectedCount != len(rejected) || len(a.Rejected) != len(rejected) {
						t.Fatalf("request %d: counts %+v, want %d rejected", i, a, len(rejected))
					}
					for k, r := range a.Rejected {
						if r.Index != rejected[k] || len(r.Errors) == 0 {
							t.Fatalf("request %d: rejected %+v, want indexes %v", i, a.Rejected, rejected)
						}
					}
					want.added += 3
					want.switches++
					stored += len(events) - len(rejected)
					quarantined += len(rejected)
				}
				want.added += c.added
				mustAccept(t, post(t, e, bob.Token, tt.Payload(eventsOf(framed(ids.New().String(), 0, nil))...)))

				if n := e.Count(`SELECT count(*) FROM telemetry_quarantine WHERE user_id = $1`, alice.ID); n != quarantined {
					t.Fatalf("%d events quarantined, want %d", n, quarantined)
				}
				if n := e.Count(`SELECT count(*) FROM events WHERE stream_id = $1 AND event_type <> 'SessionStarted'`, "session-"+session); n != stored {
					t.Fatalf("%d events stored, want %d", n, stored)
				}
				e.CatchUp()
				if got := numbersOf(t, e, alice); got != want {
					t.Errorf("alice's numbers %+v, want %+v", got, want)
				}
				if got := numbersOf(t, e, bob); got != (dayNumbers{added: 3, switches: 1}) {
					t.Errorf("bob's numbers %+v, want 3 lines added and a switch", got)
				}
			})
		}
	}
}

// In reject mode a request with a poison event is a 400 that stores nothing, in a new
// session or a known one, and the sender's next clean batch goes through.
func TestTelemetry_OutOfBoundsEventsFailARequestInRejectMode(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{Mode: cmdtelemetry.Reject})
	for _, c := range poisonCases() {
		for _, known := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/known_session=%v", c.name, known), func(t *testing.T) {
				alice := e.NewUser()
				session := ids.New().String()
				var want dayNumbers
				if known {
					mustAccept(t, post(t, e, alice.Token, tt.Payload(eventsOf(framed(session, 0, nil))...)))
					want = dayNumbers{added: 3, switches: 1}
				}
				for i, events := range c.requests(session) {
					events = framed(session, i+1, events)
					before := e.Count(`SELECT count(*) FROM events`)
					r := post(t, e, alice.Token, tt.Payload(eventsOf(events)...))
					poisoned := false
					for _, ev := range events {
						poisoned = poisoned || ev.poison
					}
					if !poisoned {
						mustAccept(t, r)
						want.added, want.switches = want.added+3, want.switches+1
						continue
					}
					if r.Status != 400 || !strings.Contains(string(r.Body), `"Validation failed"`) {
						t.Fatalf("request %d: got %s, want 400", i, r)
					}
					if after := e.Count(`SELECT count(*) FROM events`); after != before {
						t.Fatalf("request %d: %d events stored by a rejected request", i, after-before)
					}
				}
				want.added += c.added
				mustAccept(t, post(t, e, alice.Token, tt.Payload(eventsOf(framed(session, 10, nil))...)))
				want.added, want.switches = want.added+3, want.switches+1
				if n := e.Count(`SELECT count(*) FROM telemetry_quarantine`); n != 0 {
					t.Fatalf("%d events quarantined in reject mode", n)
				}
				e.CatchUp()
				if got := numbersOf(t, e, alice); got != want {
					t.Errorf("alice's numbers %+v, want %+v", got, want)
				}
			})
		}
	}
}

func eventsOf(events []poisonEvent) []tt.Event {
	out := make([]tt.Event, len(events))
	for i, ev := range events {
		out[i] = ev.event
	}
	return out
}

// Paths within the bounds but longer than an index entry can hold (random characters,
// several bytes each in UTF-8, do not compress) are counted like any other file: the
// read models key them by a digest, so they stall nothing.
func TestTelemetry_LongPathsWithinBoundsAreCounted(t *testing.T) {
	e := telemetryapitest.New(t, telemetryapitest.Options{})
	alice, bob := e.NewUser(), e.NewUser()
	rng := rand.New(rand.NewPCG(7, 7))
	alphabet := []rune("abcdefghijklmnopqrstuvwxyzéßж€𝄞/")
	long := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	paths := []string{long(2800), long(4000)} // absolute_path adds a prefix
	session := ids.New().String()
	at := day.Add(time.Hour)
	var events []tt.Event
	for i, p := range paths {
		at := at.Add(time.Duration(i) * time.Minute)
		events = append(events,
			tt.EditorSwitch(session, at, "src/a.ts", p, false),
			tt.TextChange(session, at.Add(time.Second), p, 10, 30, 0, tt.Range{Start: 1, End: 3}),
			tt.FileSave(session, at.Add(2*time.Second), p, 10))
	}
	if a := mustAccept(t, post(t, e, alice.Token, tt.Payload(events...))); a.AcceptedCount != len(events) {
		t.Fatalf("accepted %+v", a)
	}
	mustAccept(t, post(t, e, bob.Token, tt.Payload(eventsOf(framed(ids.New().String(), 0, nil))...)))
	e.CatchUp()
	if n := e.Count(`SELECT count(*) FROM parked_events`); n != 0 {
		t.Fatalf("%d events parked", n)
	}
	if got := numbersOf(t, e, alice); got != (dayNumbers{added: 6, switches: 2}) {
		t.Errorf("alice's numbers %+v, want 6 lines added and 2 switches", got)
	}
	if got := numbersOf(t, e, bob); got != (dayNumbers{added: 3, switches: 1}) {
		t.Errorf("bob's numbers %+v", got)
	}
	r := e.Do("GET", "/metrics/context-switching?from="+day.Format("2006-01-02")+"&to="+day.Format("2006-01-02")+"&top_n=5", alice.JWT, nil)
	var sw struct {
		TopFiles []struct {
			Path  string `json:"path"`
			Count int    `json:"count"`
		} `json:"top_files"`
	}
	if err := json.Unmarshal(r.Body, &sw); err != nil || len(sw.TopFiles) != 2 {
		t.Fatalf("top files of %s: %v", r, err)
	}
	for _, f := range sw.TopFiles {
		if f.Count != 1 || (f.Path != paths[0] && f.Path != paths[1]) {
			t.Errorf("top file %.40q… counted %d", f.Path, f.Count)
		}
	}
}
