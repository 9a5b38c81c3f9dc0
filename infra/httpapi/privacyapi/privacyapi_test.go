package privacyapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/app/apptest"
	"github.com/devflow/backend/infra/datakeys"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
	metricsprojection "github.com/devflow/backend/projections/metrics"
	recommendationsprojection "github.com/devflow/backend/projections/recommendations"
	sessionsprojection "github.com/devflow/backend/projections/sessions"
)

func TestMain(m *testing.M) { testdb.Main(m) }

type user struct {
	id       ids.ID
	jwt      string
	token    string
	password string
	marker   string   // a unique string in the path of every file they touched
	sent     []string // the canonical JSON of every event they sent
	sessions []string
}

func do(t *testing.T, method, url, credential string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			b, _ = json.Marshal(body)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func canonical(t *testing.T, raw []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// newUser registers a user, gives them an API token and sends a scripted history of
// two sessions through it.
func newUser(t *testing.T, srv *apptest.Server, name string) *user {
	t.Helper()
	u := &user{password: "correct-horse-" + name, marker: "MARKER-" + ids.New().String()}
	status, body := do(t, "POST", srv.URL+"/auth/register", "", map[string]string{"email": name + "@example.com", "password": u.password})
	if status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", name, status, body)
	}
	var reg struct {
		User  struct{ ID ids.ID }
		Token string
	}
	_ = json.Unmarshal(body, &reg)
	u.id, u.jwt = reg.User.ID, reg.Token
	status, body = do(t, "POST", srv.URL+"/auth/tokens", u.jwt, map[string]string{"name": "laptop"})
	if status != http.StatusCreated {
		t.Fatalf("token %s: %d %s", name, status, body)
	}
	var tok struct{ Token string }
	_ = json.Unmarshal(body, &tok)
	u.token = tok.Token
	at := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Millisecond)
	for s := range 2 {
		session := ids.New().String()
		path := "src/" + u.marker + "/main.ts"
		events := []telemetrytest.Event{
			telemetrytest.TextChange(session, at, path, 100, 40, 0, telemetrytest.Range{Start: 3, End: 3}),
			telemetrytest.TextChange(session, at.Add(time.Minute), path, 130, 900, 0, telemetrytest.Range{Start: 10, End: 10}),
			telemetrytest.EditorSwitch(session, at.Add(2*time.Minute), path, "src/other.ts", s == 1),
			telemetrytest.FileSave(session, at.Add(3*time.Minute), path, 130),
		}
		// The second session comes in two batches: the second one takes the streamed
		// append (the sender's previous batch went to the same session).
		for _, batch := range [][]telemetrytest.Event{events[:2*s], events[2*s:]} {
			if len(batch) == 0 {
				continue
			}
			status, body = do(t, "POST", srv.URL+"/telemetry", u.token, telemetrytest.Payload(batch...))
			if status != http.StatusAccepted {
				t.Fatalf("telemetry %s: %d %s", name, status, body)
			}
		}
		u.sessions = append(u.sessions, session)
		for _, e := range events {
			b, _ := json.Marshal(e)
			u.sent = append(u.sent, canonical(t, b))
		}
		at = at.Add(20 * time.Minute)
	}
	// A recommendation, and what the user did with it.
	status, body = do(t, "POST", srv.URL+"/recommendations/trigger", u.token, map[string]string{"mode": "demo"})
	var demo struct {
		RecommendationID ids.ID `json:"recommendation_id"`
	}
	if _ = json.Unmarshal(body, &demo); status != http.StatusOK || demo.RecommendationID.IsNil() {
		t.Fatalf("demo trigger %s: %d %s", name, status, body)
	}
	if status, body = do(t, "POST", srv.URL+"/recommendations/"+demo.RecommendationID.String()+"/action", u.jwt, map[string]string{"action": "snoozed"}); status != http.StatusOK {
		t.Fatalf("snooze %s: %d %s", name, status, body)
	}
	return u
}

func catchUp(t *testing.T, srv *apptest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	head, err := srv.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{metricsprojection.Name, sessionsprojection.Name, recommendationsprojection.Name} {
		if err := srv.Engine.WaitFor(ctx, name, head); err != nil {
			t.Fatal(err)
		}
	}
}

// readModel is what the read models hold of a user, as text.
func readModel(t *testing.T, srv *apptest.Server, schema string, user ids.ID) string {
	t.Helper()
	var out strings.Builder
	for _, q := range []string{
		`SELECT t::text FROM %s.metrics_daily t WHERE user_id = $1`,
		`SELECT t::text FROM %s.metrics_daily_files t WHERE user_id = $1`,
		`SELECT t::text FROM %s.metrics_session t WHERE user_id = $1`,
		`SELECT t::text FROM %s.metrics_session_files t WHERE session_id IN (SELECT session_id FROM %[1]s.metrics_session WHERE user_id = $1)`,
		`SELECT t::text FROM %s.sessions t WHERE owner = $1`,
		// seq is the identity a rebuild numbers afresh
		`SELECT (to_jsonb(t) - 'seq')::text FROM %s.recommendations t WHERE user_id = $1`,
	} {
		if schema != "public" && !strings.Contains(q, "metrics") {
			continue // a metrics replay holds only the metrics tables
		}
		rows, err := srv.Pool.Query(context.Background(), strings.ReplaceAll(strings.ReplaceAll(q, "%[1]s", schema), "%s", schema)+" ORDER BY 1", user)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			out.WriteString(line + "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out.String()
}

func export(t *testing.T, srv *apptest.Server, u *user) []map[string]json.RawMessage {
	t.Helper()
	// The dashboard's cookie works.
	req, _ := http.NewRequest("GET", srv.URL+"/me/export", nil)
	req.AddCookie(&http.Cookie{Name: "dvf_session", Value: u.jwt})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("export: %d %s", resp.StatusCode, b)
	}
	var lines []map[string]json.RawMessage
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

func TestExportThenErase_NothingOfTheUserIsLeftAndEveryoneElseIsUntouched(t *testing.T) {
	srv := apptest.Start(t, nil)
	ctx := context.Background()
	alice, bob := newUser(t, srv, "alice"), newUser(t, srv, "bob")
	catchUp(t, srv)

	// The log holds no plaintext of anybody's payloads.
	var plain int
	if err := srv.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE strpos(data::text, $1) > 0 OR strpos(data::text, $2) > 0`,
		alice.marker, bob.marker).Scan(&plain); err != nil {
		t.Fatal(err)
	}
	if plain != 0 {
		t.Fatalf("%d events hold a marker in plaintext", plain)
	}

	// Export: exactly what alice sent and what the read models show, nothing of bob.
	lines := export(t, srv, alice)
	var sent []string
	kinds := map[string]int{}
	for _, l := range lines {
		var kind string
		_ = json.Unmarshal(l["kind"], &kind)
		kinds[kind]++
		if bytes.Contains(l["record"], []byte(bob.marker)) || bytes.Contains(l["record"], []byte(bob.id.String())) {
			t.Fatalf("alice's export holds bob's data: %s", l["record"])
		}
		if kind == "api_token" && bytes.Contains(l["record"], []byte(alice.token)) {
			t.Fatal("the export holds a token secret")
		}
		if kind != "event" {
			continue
		}
		var e struct {
			Type    string
			Payload struct{ Event json.RawMessage }
		}
		_ = json.Unmarshal(l["record"], &e)
		if e.Payload.Event != nil {
			sent = append(sent, canonical(t, e.Payload.Event))
		}
	}
	if strings.Join(sent, "\n") != strings.Join(alice.sent, "\n") {
		t.Fatalf("exported telemetry differs from what was sent:\nexported %v\nsent     %v", sent, alice.sent)
	}
	exported := map[string]bool{}
	for _, l := range lines {
		exported[canonical(t, l["record"])] = true
	}
	for _, table := range []string{"metrics_daily", "metrics_session", "sessions", "recommendations"} {
		column := "user_id"
		if table == "sessions" {
			column = "owner"
		}
		rows, err := srv.Pool.Query(ctx, `SELECT row_to_json(t)::text FROM `+table+` t WHERE `+column+` = $1`, alice.id)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var row string
			_ = rows.Scan(&row)
			n++
			if !exported[canonical(t, []byte(row))] {
				t.Errorf("%s row %s is not in the export", table, row)
			}
		}
		if n == 0 {
			t.Errorf("alice has no %s rows to export", table)
		}
	}
	if kinds["profile"] != 1 || kinds["api_token"] != 1 || kinds["session"] != 2 || kinds["metrics_session"] != 2 || kinds["recommendation"] != 1 {
		t.Fatalf("export kinds: %v", kinds)
	}

	bobBefore := readModel(t, srv, "public", bob.id)
	if bobBefore == "" {
		t.Fatal("bob has no read-model rows")
	}

	// Erase needs the password.
	if status, body := do(t, "DELETE", srv.URL+"/me", alice.jwt, map[string]string{"password": "wrong"}); status != http.StatusUnauthorized {
		t.Fatalf("erase with a wrong password: %d %s", status, body)
	}
	if status, body := do(t, "DELETE", srv.URL+"/me", alice.token, map[string]string{"password": alice.password}); status != http.StatusForbidden {
		t.Fatalf("erase with an API token: %d %s", status, body)
	}
	if status, body := do(t, "DELETE", srv.URL+"/me", alice.jwt, map[string]string{"password": alice.password}); status != http.StatusNoContent {
		t.Fatalf("erase: %d %s", status, body)
	}

	// Her JWT, token and login are refused.
	if status, _ := do(t, "GET", srv.URL+"/auth/me", alice.jwt, nil); status != http.StatusUnauthorized {
		t.Errorf("JWT after erase: %d", status)
	}
	if status, _ := do(t, "POST", srv.URL+"/telemetry", alice.token, telemetrytest.Payload()); status != http.StatusUnauthorized {
		t.Errorf("API token after erase: %d", status)
	}
	if status, _ := do(t, "POST", srv.URL+"/auth/login", "", map[string]string{"email": "alice@example.com", "password": alice.password}); status != http.StatusUnauthorized {
		t.Errorf("login after erase: %d", status)
	}
	if status, _ := do(t, "GET", srv.URL+"/auth/me", bob.jwt, nil); status != http.StatusOK {
		t.Errorf("bob's JWT after alice's erasure: %d", status)
	}

	// Her sessions stay hers, also for a replica that never saw them: nobody else can
	// write into them.
	intrusion := telemetrytest.Payload(telemetrytest.FileSave(alice.sessions[0], time.Now().UTC(), "src/x.ts", 1))
	if status, body := do(t, "POST", srv.URL+"/telemetry", bob.token, intrusion); status != http.StatusConflict {
		t.Errorf("bob writing into alice's erased session: %d %s", status, body)
	}
	master, err := datakeys.ParseMasterKey(apptest.TestDataKey)
	if err != nil {
		t.Fatal(err)
	}
	fresh := postgres.NewEventStore(srv.Pool).EncryptWith(datakeys.NewKeyring(srv.Pool, master))
	session, err := postgres.NewTelemetryStore(srv.Pool, fresh).Session(ctx, ids.MustParse(alice.sessions[0]))
	if err != nil || !session.Started() || session.Owner() != alice.id {
		t.Fatalf("alice's erased session loads as %+v, %v", session, err)
	}

	// A raw look at the log finds no plaintext of hers.
	if err := srv.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE strpos(data::text, $1) > 0`, alice.marker).Scan(&plain); err != nil {
		t.Fatal(err)
	}
	if plain != 0 {
		t.Fatalf("%d events hold alice's marker in plaintext", plain)
	}

	// Rebuilds and replays bring back nothing of hers and everything of bob's.
	metrics := metricsprojection.New(metricsprojection.Options{})
	for _, p := range []projections.Projection{metrics, sessionsprojection.New(), recommendationsprojection.New()} {
		if err := projections.Rebuild(ctx, srv.Pool, srv.Store, p, 3, nil); err != nil {
			t.Fatalf("rebuild %s: %v", p.Name(), err)
		}
	}
	if _, err := projections.Replay(ctx, srv.Pool, srv.Store, metrics, "erasure_replay", 3, nil); err != nil {
		t.Fatal(err)
	}
	if got := readModel(t, srv, "public", alice.id) + readModel(t, srv, "erasure_replay", alice.id); got != "" {
		t.Fatalf("rows of alice after rebuild and replay:\n%s", got)
	}
	if got := readModel(t, srv, "public", bob.id); got != bobBefore {
		t.Fatalf("bob's read models changed by the rebuild:\nbefore\n%s\nafter\n%s", bobBefore, got)
	}
	if replayed, live := readModel(t, srv, "erasure_replay", bob.id), readModel(t, srv, "public", bob.id); !strings.HasPrefix(live, replayed) || replayed == "" {
		t.Fatalf("bob's replayed metrics differ:\nreplay\n%s\nlive\n%s", replayed, live)
	}
	var parked int
	if err := srv.Pool.QueryRow(ctx, `SELECT count(*) FROM parked_events`).Scan(&parked); err != nil {
		t.Fatal(err)
	}
	if parked != 0 {
		t.Fatalf("%d events parked: erased events must be skipped, not parked", parked)
	}

	// The proof passes for alice, and fails for bob, who was not erased.
	report, err := srv.Privacy.Verify(ctx, alice.id)
	if err != nil {
		t.Fatal(err)
	}
	if !report.Clean() {
		t.Fatalf("verify-erased found traces: %+v", report)
	}
	report, err = srv.Privacy.Verify(ctx, bob.id)
	if err != nil {
		t.Fatal(err)
	}
	if report.Clean() || len(report.Tables) == 0 {
		t.Fatalf("verify-erased of a live user found nothing: %+v", report)
	}
}
