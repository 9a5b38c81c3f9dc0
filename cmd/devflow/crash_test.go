package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
	"github.com/devflow/backend/infra/pgharness"
	"github.com/devflow/backend/infra/testdb"
)

// TestIngest_Kill9 kills `devflow serve` with SIGKILL three times while extensions post
// telemetry, starting it again each time. Every event acknowledged with 202 is in the
// log exactly once, and the read models, once caught up, equal a replay of the log.
func TestIngest_Kill9(t *testing.T) {
	url := testdb.New(t)
	s := newServer(t, t.TempDir(), "JWT_SECRET=crash-test-secret", "DATABASE_URL="+url, "INSIGHTS_ENABLED=false")
	s.start()
	load := startLoad(t, s.URL(), newExtensions(t, url, 4))
	for range 3 {
		load.waitForAcks(8) // the kill lands mid-ingest
		s.kill()
		s.start()
	}
	load.waitForAcks(8)
	load.stop()
	t.Logf("responses by status: %v; requests without a response: %d", load.statuses, load.noResponse)

	checkStoredOnce(t, url, load)
	checkReadModelsEqualReplay(t, s, url)
}

// TestIngest_PostgresRestart restarts PostgreSQL (down for two seconds) under ingest.
// The server recovers by itself: every batch is acknowledged in the end, none is ever
// refused with 401 (the extension would delete its token), /ready comes back, every
// acknowledged event is stored once and the read models equal a replay.
func TestIngest_PostgresRestart(t *testing.T) {
	cluster := ownCluster(t) // the run's shared test cluster must stay up for the other tests
	s := newServer(t, t.TempDir(), "JWT_SECRET=crash-test-secret", "DATABASE_URL="+cluster.URL("devflow"), "INSIGHTS_ENABLED=false")
	s.start()
	load := startLoad(t, s.URL(), newExtensions(t, cluster.URL("devflow"), 4))
	load.waitForAcks(8)
	if err := cluster.Restart(context.Background(), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	load.waitForAcks(10) // acknowledged again after the outage
	load.stop()
	t.Logf("responses by status: %v; requests without a response: %d", load.statuses, load.noResponse)

	if !s.running() {
		t.Fatal("devflow serve exited during the outage")
	}
	if n := load.statuses[http.StatusUnauthorized]; n != 0 {
		t.Fatalf("%d requests refused with 401 during the outage", n)
	}
	waitReady(t, s)
	checkStoredOnce(t, cluster.URL("devflow"), load)
	checkReadModelsEqualReplay(t, s, cluster.URL("devflow"))
}

// ownCluster is a private cluster of the test's own with a database "devflow".
// Ephemeral is safe here: Restart stops the server in fast mode, which writes every
// committed transaction out first.
func ownCluster(t *testing.T) *pgharness.Cluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "devflow-restart-test-") // not t.TempDir: as root the postgres user must enter it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cluster, err := pgharness.Start(ctx, pgharness.Options{DataDir: dir + "/pgdata", Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop(context.Background()) })
	if err := cluster.CreateDatabase(ctx, "devflow", ""); err != nil {
		t.Fatal(err)
	}
	return cluster
}

// extension is one simulated VS Code extension with its user's API token: text
// changes with evolving line counts, editor switches and saves, at typing cadence on
// a clock that strictly increases, so (session, timestamp) names each of its events.
type extension struct {
	token   string
	rng     *rand.Rand
	now     time.Time
	session string
	batches int
	lines   []int // of each file in files
	active  int
}

var files = []string{"src/cart/cart.ts", "src/cart/discounts.ts", "src/orders/service.ts", "test/cart.test.ts", "README.md"}

// eventKey names a client event: its session and timestamp.
type eventKey struct{ session, timestamp string }

// newExtensions registers n users, each with an API token, in the database at url.
func newExtensions(t *testing.T, url string, n int) []*extension {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, url)
	// Typing of the last few hours, as a live extension sends.
	start := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Millisecond)
	var out []*extension
	for i := range n {
		id := ids.New()
		name := fmt.Sprintf("crash_%d_%s", i, id.String()[:8])
		if _, err := conn.Exec(ctx, `INSERT INTO users (id, username, email, provider, provider_user_id) VALUES ($1, $2, $3, 'password', $3)`,
			id, name, name+"@example.com"); err != nil {
			t.Fatal(err)
		}
		token, plaintext := accounts.Issue(id, "VSCode", accounts.TokenSourcePairing, time.Now())
		if _, err := conn.Exec(ctx, `INSERT INTO api_tokens (id, user_id, name, token_hash, token_prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			token.ID, id, token.Name, token.Hash, token.Prefix, token.CreatedAt); err != nil {
			t.Fatal(err)
		}
		x := &extension{token: plaintext, rng: rand.New(rand.NewPCG(uint64(i), 42)), now: start, active: -1}
		for range files {
			x.lines = append(x.lines, 20+x.rng.IntN(400))
		}
		out = append(out, x)
	}
	return out
}

const eventsPerBatch = 50

// batch is the JSON of the extension's next flush and the keys of its events. The
// session rotates every 5 batches (as after an idle half hour), so sessions start on
// every side of a crash.
func (x *extension) batch() ([]byte, []eventKey) {
	if x.batches%5 == 0 {
		x.session = ids.New().String()
	}
	x.batches++
	events := make([]map[string]any, eventsPerBatch)
	keys := make([]eventKey, eventsPerBatch)
	for i := range events {
		x.now = x.now.Add(time.Duration(60+x.rng.IntN(340)) * time.Millisecond)
		ts := x.now.Format("2006-01-02T15:04:05.000Z")
		keys[i] = eventKey{x.session, ts}
		e := map[string]any{"timestamp": ts, "workspace": "shop-api", "session_id": x.session}
		switch r := x.rng.IntN(10); {
		case x.active < 0 || r >= 8:
			from := x.active
			x.active = (max(x.active, 0) + 1 + x.rng.IntN(len(files)-1)) % len(files)
			e["type"] = "editor_switch"
			e["to"] = switchEnd(files[x.active])
			if from >= 0 {
				e["from"] = switchEnd(files[from])
			}
			e["metrics"] = map[string]any{"switch_interval_seconds": x.rng.IntN(60), "is_cross_module_switch": r == 9,
				"is_rapid_context_switching": r == 8}
		case r == 7:
			e["type"] = "file_save"
			e["file"] = x.file()
		default:
			e["type"] = "text_change"
			line := 1 + x.rng.IntN(x.lines[x.active])
			added, deleted := x.rng.IntN(4), x.rng.IntN(3)
			deleted = min(deleted, x.lines[x.active]-line)
			x.lines[x.active] += added - deleted
			e["file"] = x.file()
			e["metrics"] = map[string]any{"characters_added": added * 30, "characters_deleted": deleted * 25, "change_count": 1,
				"affected_line_ranges": []map[string]int{{"start": line, "end": line + deleted}}, "edit_duration_ms": 200 + x.rng.IntN(800),
				"is_large_paste": false, "is_possible_rewrite": false, "is_possible_undo_cycle": false}
		}
		events[i] = e
	}
	body, err := json.Marshal(map[string]any{
		"workspace": "shop-api", "machine_timestamp": x.now.Format("2006-01-02T15:04:05.000Z"),
		"session": map[string]any{"active_minutes": 12.5, "idle_minutes": 1, "total_events_collected": x.batches * eventsPerBatch,
			"save_frequency": 0.4, "editor_switch_frequency": 0.2},
		"events": events,
	})
	if err != nil {
		panic(err) // maps of plain values always marshal
	}
	return body, keys
}

func (x *extension) file() map[string]any {
	p := files[x.active]
	return map[string]any{"name": path.Base(p), "path": p, "extension": path.Ext(p), "language": "typescript",
		"lines": x.lines[x.active], "size_bytes": x.lines[x.active] * 32}
}

func switchEnd(p string) map[string]any {
	return map[string]any{"file": p, "language": "typescript", "module": strings.Split(p, "/")[0]}
}

// load runs extensions posting batches to the server. Like the real extension, each
// batch is resent until the server acknowledges it with a 2xx.
type load struct {
	t      *testing.T
	url    string
	client *http.Client
	done   chan struct{} // closed by stop: finish the batch in hand, send no more
	wg     sync.WaitGroup

	mu         sync.Mutex
	acked      []eventKey
	ackedBatch int
	statuses   map[int]int
	noResponse int
	failure    string // what went wrong that must fail the test
}

func startLoad(t *testing.T, url string, extensions []*extension) *load {
	l := &load{t: t, url: url, client: &http.Client{Timeout: 15 * time.Second}, done: make(chan struct{}), statuses: map[int]int{}}
	for _, x := range extensions {
		l.wg.Go(func() { l.post(x) })
	}
	t.Cleanup(func() { l.stop() })
	return l
}

func (l *load) post(x *extension) {
	for {
		select {
		case <-l.done:
			return
		default:
		}
		body, keys := x.batch()
		// Bounded: a server that never recovers fails the test rather than hanging it.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				l.fail("a batch was never acknowledged")
				return
			}
			status, reply, ok := l.send(x.token, body)
			if !ok {
				continue
			}
			if status == http.StatusUnauthorized {
				l.fail("401: the extension would delete its token")
				return
			}
			if status != http.StatusAccepted {
				continue
			}
			var counts struct {
				Accepted int `json:"accepted_count"`
				Rejected int `json:"rejected_count"`
			}
			if err := json.Unmarshal(reply, &counts); err != nil || counts.Accepted != eventsPerBatch || counts.Rejected != 0 {
				l.fail(fmt.Sprintf("202 that does not accept the whole batch: %s", reply))
				return
			}
			l.mu.Lock()
			l.acked = append(l.acked, keys...)
			l.ackedBatch++
			l.mu.Unlock()
			break
		}
	}
}

// send posts one batch; ok is false when no response came (the server is down).
func (l *load) send(token string, body []byte) (status int, reply []byte, ok bool) {
	req, err := http.NewRequest(http.MethodPost, l.url+"/telemetry", bytes.NewReader(body))
	if err != nil {
		panic(err) // a constant method and a parsed URL
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := l.client.Do(req)
	if err == nil {
		reply, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.noResponse++
		return 0, nil, false
	}
	l.statuses[resp.StatusCode]++
	return resp.StatusCode, reply, true
}

func (l *load) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failure == "" {
		l.failure = msg
	}
}

// waitForAcks waits until n more batches have been acknowledged.
func (l *load) waitForAcks(n int) {
	l.t.Helper()
	l.mu.Lock()
	target := l.ackedBatch + n
	l.mu.Unlock()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		l.mu.Lock()
		acked, failure := l.ackedBatch, l.failure
		l.mu.Unlock()
		if failure != "" {
			l.t.Fatal(failure)
		}
		if acked >= target {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("only %d of %d batches acknowledged", acked, target)
		}
	}
}

// stop lets every extension finish (acknowledge) the batch in hand and send no more.
func (l *load) stop() {
	select {
	case <-l.done:
		return
	default:
	}
	close(l.done)
	l.wg.Wait()
	if l.failure != "" {
		l.t.Fatal(l.failure)
	}
}

// checkStoredOnce: every acknowledged event is in the log exactly once, and the log
// holds no other client event (every batch sent was acknowledged in the end); every
// session was started once.
func checkStoredOnce(t *testing.T, url string, l *load) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, url)
	rows, err := conn.Query(ctx, `SELECT data->'event'->>'session_id', data->'event'->>'timestamp', count(*)
		FROM events WHERE stream_id LIKE 'session-%' AND event_type <> $1 GROUP BY 1, 2`, telemetry.TypeSessionStarted)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[eventKey]int{}
	var key eventKey
	var n int
	_, err = pgx.ForEachRow(rows, []any{&key.session, &key.timestamp, &n}, func() error { stored[key] = n; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(l.acked) == 0 {
		t.Fatal("no event was acknowledged")
	}
	sessions := map[string]bool{}
	for _, k := range l.acked {
		sessions[k.session] = true
		if stored[k] != 1 {
			t.Fatalf("acknowledged event %v is stored %d times", k, stored[k])
		}
	}
	if len(stored) != len(l.acked) {
		t.Fatalf("the log holds %d distinct client events, %d were acknowledged", len(stored), len(l.acked))
	}
	var started, startedStreams int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT stream_id) FROM events WHERE event_type = $1`,
		telemetry.TypeSessionStarted).Scan(&started, &startedStreams); err != nil {
		t.Fatal(err)
	}
	if started != len(sessions) || startedStreams != len(sessions) {
		t.Fatalf("%d SessionStarted events in %d streams for %d sessions", started, startedStreams, len(sessions))
	}
	t.Logf("%d acknowledged events in %d sessions, each stored once", len(l.acked), len(sessions))
}

// waitReady waits until /ready answers 200.
func waitReady(t *testing.T, s *server) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(s.URL() + "/ready")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/ready: %d %s", resp.StatusCode, body)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("/ready: %v", err)
		}
	}
}

// checkReadModelsEqualReplay waits until the server's projections have caught up,
// stops it, replays the metrics and sessions projections into schemas of their own
// with the CLI and compares every table with the live one.
func checkReadModelsEqualReplay(t *testing.T, s *server, url string) {
	t.Helper()
	projected := []string{"metrics", "sessions"}
	for deadline := time.Now().Add(time.Minute); !caughtUp(t, s, projected); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the projections did not catch up with the log")
		}
	}
	s.stop()
	ctx := context.Background()
	conn := connect(t, url)
	for _, name := range projected {
		schema := "replay_" + name
		if _, stderr, code := run(t, s.dir, s.env, "projections", "replay", name, "--into", schema); code != 0 {
			t.Fatalf("devflow projections replay %s: exit %d\n%s", name, code, stderr)
		}
		rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, schema)
		if err != nil {
			t.Fatal(err)
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(tables) == 0 {
			t.Fatalf("replay of %s made no tables (%v)", name, err)
		}
		for _, table := range tables {
			live, replayed := pgx.Identifier{"public", table}.Sanitize(), pgx.Identifier{schema, table}.Sanitize()
			var rowCount, differing int
			err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+live+`),
				(SELECT count(*) FROM (TABLE `+live+` EXCEPT ALL TABLE `+replayed+`) a) +
				(SELECT count(*) FROM (TABLE `+replayed+` EXCEPT ALL TABLE `+live+`) b)`).Scan(&rowCount, &differing)
			if err != nil {
				t.Fatal(err)
			}
			if differing != 0 {
				t.Errorf("%s: %d rows differ between the live read model and the replay", table, differing)
			}
			if rowCount == 0 && slices.Contains([]string{"metrics_daily", "sessions"}, table) {
				t.Errorf("%s is empty: nothing was projected", table)
			}
		}
	}
}

// caughtUp reports whether `devflow projections status` shows no lag and no error for
// each of names.
func caughtUp(t *testing.T, s *server, names []string) bool {
	t.Helper()
	stdout, stderr, code := run(t, s.dir, s.env, "projections", "status", "--json")
	if code != 0 {
		t.Fatalf("devflow projections status: exit %d\n%s", code, stderr)
	}
	var rows []projectionStatus
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("status --json: %v\n%s", err, stdout)
	}
	for _, name := range names {
		i := slices.IndexFunc(rows, func(r projectionStatus) bool { return r.Name == name })
		if i < 0 || rows[i].LagEvents != 0 || rows[i].Error != "" {
			return false
		}
	}
	return true
}

// connect opens a connection closed when the test ends.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
