package metrics_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/ids"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
	"github.com/devflow/backend/infra/postgres"
	"github.com/devflow/backend/infra/testdb"
	"github.com/devflow/backend/projections"
	"github.com/devflow/backend/projections/metrics"
	"github.com/devflow/backend/projections/projectionstest"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

var tables = metrics.New(metrics.Options{}).Tables()

type sent struct {
	user   ids.ID
	events []tt.Event
}

// env is a test database with an event log holding a fixed event list.
type env struct {
	pool *pgxpool.Pool
	log  *postgres.EventStore
}

// logged writes generated telemetry of three users, two sessions each, crossing a UTC
// midnight, in extension-sized batches, to a fresh log and returns what was sent.
func logged(t *testing.T) (env, []sent) {
	t.Helper()
	var all []sent
	var log tt.Log
	for u := range 3 {
		user := ids.New()
		var mine []tt.Event
		for s := range 2 {
			g := tt.NewGenerator(uint64(10*u+s), ids.New().String(), time.Date(2026, 11, 26, 23, 57+s, 0, 0, time.UTC))
			for range 4 {
				batch := g.Events(150)
				log.Send(user, batch...)
				mine = append(mine, batch...)
			}
		}
		all = append(all, sent{user: user, events: mine})
	}
	pool := testdb.Pool(t)
	e := env{pool: pool, log: postgres.NewEventStore(pool)}
	t.Cleanup(e.log.Close)
	projectionstest.Write(t, e.log, log.Envelopes)
	return e, all
}

func TestMetrics_RebuildAndReplayMatchIncremental(t *testing.T) {
	ctx := context.Background()
	e, _ := logged(t)
	live := metrics.New(metrics.Options{})
	projectionstest.Run(t, e.pool, e.log, live, 97) // odd batches cut through sessions and days
	incremental := projectionstest.Rows(t, e.pool, "public", tables...)
	if strings.Count(incremental, "\n") < 50 {
		t.Fatalf("too few rows to compare:\n%s", incremental)
	}

	if _, err := projections.Replay(ctx, e.pool, e.log, metrics.New(metrics.Options{LineCounter: "v2"}), "analysis", 5000, nil); err != nil {
		t.Fatal(err)
	}
	if got := projectionstest.Rows(t, e.pool, "analysis", tables...); got != incremental {
		t.Fatalf("replay differs from incremental:\n%s\nvs\n%s", got, incremental)
	}
	if err := projections.Rebuild(ctx, e.pool, e.log, live, 1000, nil); err != nil {
		t.Fatal(err)
	}
	if got := projectionstest.Rows(t, e.pool, "public", tables...); got != incremental {
		t.Fatalf("rebuild differs from incremental:\n%s\nvs\n%s", got, incremental)
	}
}

// nodeTotals is the Node implementation's ETL over the same events: line width per
// text_change (formula v1), switch and rapid counts, per user and UTC day and per
// session.
type nodeTotals struct{ added, deleted, switches, rapid int64 }

func nodeETL(all []sent) (map[string]nodeTotals, map[string]nodeTotals) {
	daily, sessions := map[string]nodeTotals{}, map[string]nodeTotals{}
	for _, s := range all {
		for _, ev := range s.events {
			at, _ := time.Parse(time.RFC3339Nano, ev["timestamp"].(string))
			dk := s.user.String() + " " + at.UTC().Format("2006-01-02")
			sk := ev["session_id"].(string)
			var n nodeTotals
			switch ev["type"] {
			case "text_change":
				m := ev["metrics"].(map[string]any)
				width := 0
				if rs, ok := m["affected_line_ranges"].([]map[string]any); ok {
					for _, r := range rs {
						if r["end"].(int) >= r["start"].(int) {
							width += r["end"].(int) - r["start"].(int) + 1
						}
					}
				}
				if m["characters_added"].(int) > 0 {
					n.added = int64(width)
				}
				if m["characters_deleted"].(int) > 0 {
					n.deleted = int64(width)
				}
			case "editor_switch":
				n.switches = 1
				if ev["metrics"].(map[string]any)["is_rapid_context_switching"] == true {
					n.rapid = 1
				}
			default:
				continue
			}
			d := daily[dk]
			d.added, d.deleted, d.switches, d.rapid = d.added+n.added, d.deleted+n.deleted, d.switches+n.switches, d.rapid+n.rapid
			daily[dk] = d
			x := sessions[sk]
			x.added, x.deleted, x.switches, x.rapid = x.added+n.added, x.deleted+n.deleted, x.switches+n.switches, x.rapid+n.rapid
			sessions[sk] = x
		}
	}
	return daily, sessions
}

func format(m map[string]nodeTotals) string {
	var lines []string
	for k, v := range m {
		lines = append(lines, fmt.Sprintf("%s %d %d %d %d", k, v.added, v.deleted, v.switches, v.rapid))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func query(t *testing.T, e env, sql string) string {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		var k string
		var a, d, s, r int64
		if err := rows.Scan(&k, &a, &d, &s, &r); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("%s %d %d %d %d", k, a, d, s, r))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestMetrics_ReplayWithV1ReproducesNodeNumbers(t *testing.T) {
	e, all := logged(t)
	if _, err := projections.Replay(context.Background(), e.pool, e.log, metrics.New(metrics.Options{LineCounter: "v1"}), "node_v1", 500, nil); err != nil {
		t.Fatal(err)
	}
	wantDaily, wantSessions := nodeETL(all)
	gotDaily := query(t, e, `SELECT user_id::text || ' ' || to_char(day, 'YYYY-MM-DD'), lines_added, lines_deleted, switch_count, rapid_switch_count FROM node_v1.metrics_daily`)
	if want := format(wantDaily); gotDaily != want {
		t.Fatalf("v1 daily rows\n%s\nwant (Node)\n%s", gotDaily, want)
	}
	gotSessions := query(t, e, `SELECT session_id::text, lines_added, lines_deleted, switch_count, rapid_switch_count FROM node_v1.metrics_session`)
	if want := format(wantSessions); gotSessions != want {
		t.Fatalf("v1 session rows\n%s\nwant (Node)\n%s", gotSessions, want)
	}
	if strings.Count(gotDaily, "\n") < 5 {
		t.Fatalf("too few days to compare: %s", gotDaily)
	}

	// The live formula counts the generator's multi-line pastes as lines; v1 does not.
	if _, err := projections.Replay(context.Background(), e.pool, e.log, metrics.New(metrics.Options{}), "live_v2", 500, nil); err != nil {
		t.Fatal(err)
	}
	var v1, v2 int64
	if err := e.pool.QueryRow(context.Background(), `SELECT (SELECT sum(lines_added) FROM node_v1.metrics_daily), (SELECT sum(lines_added) FROM live_v2.metrics_daily)`).Scan(&v1, &v2); err != nil {
		t.Fatal(err)
	}
	if v2 <= v1 {
		t.Fatalf("v2 added %d lines, v1 %d; v2 must count pastes by their lines", v2, v1)
	}
}

func TestMetrics_OptionsSelectTheFormula(t *testing.T) {
	if metrics.New(metrics.Options{}).Formula().String() != "v2" || metrics.New(metrics.Options{LineCounter: "v1"}).Formula().String() != "v1" {
		t.Fatal("formula selection")
	}
	// Versions 2 and 3 (heartbeats folded too) count with formula v2; a new formula
	// needs a new version, so that the service rebuilds on start.
	if metrics.LiveFormula.String() != "v2" || metrics.Version != 3 {
		t.Fatalf("version %d counts with %s: bump the version with the formula", metrics.Version, metrics.LiveFormula)
	}
	if (metrics.Options{LineCounter: "v3"}).Validate() == nil {
		t.Fatal("v3 accepted")
	}
}
