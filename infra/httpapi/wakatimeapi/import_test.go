package wakatimeapi_test

import (
	"fmt"
	"testing"

	cmdheartbeats "github.com/devflow/backend/commands/heartbeats"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/postgres"
)

// A Wakapi export: times as RFC 3339, the editor, OS and machine as Wakapi stores them.
const wakapiExport = `[
 {"id":"1","user_id":"old","entity":"/src/main.go","type":"file","category":"coding","project":"devflow","branch":"main",
  "language":"Go","is_write":false,"editor":"neovim","operating_system":"linux","machine_name_id":"desk",
  "time":"2025-06-01T09:00:00Z","lines":10,"line_no":1,"cursor_pos":1,"line_deletions":0,"line_additions":2},
 {"id":"2","user_id":"old","entity":"/src/main.go","type":"file","category":"coding","project":"devflow","branch":"main",
  "language":"Go","is_write":true,"editor":"neovim","operating_system":"linux","machine_name_id":"desk",
  "time":"2025-06-01T09:10:00Z"},
 {"id":"3","user_id":"old","entity":"","type":"file","time":"2025-06-01T09:11:00Z"}
]`

func TestImportWakapi_IsIdempotent(t *testing.T) {
	c := start(t)
	u := c.newUser("frank")
	var userID ids.ID
	if err := c.pool.QueryRow(t.Context(), `SELECT id FROM users WHERE username = 'frank'`).Scan(&userID); err != nil {
		t.Fatal(err)
	}
	store := postgres.NewEventStore(c.pool)
	defer store.Close()
	imp := cmdheartbeats.NewImportHandler(store)
	var reported []cmdheartbeats.Progress
	for range 2 {
		p, err := imp.Handle(t.Context(), userID, []byte(wakapiExport), func(p cmdheartbeats.Progress) { reported = append(reported, p) })
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 3 || p.Done != 3 || p.Invalid != 1 {
			t.Fatalf("progress %+v", p)
		}
	}
	if len(reported) == 0 {
		t.Fatal("no progress reported")
	}
	var events int
	if err := c.pool.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE event_type = 'HeartbeatRecorded'`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 2 {
		t.Fatalf("%d events after two imports, want 2", events)
	}
	eventually(t, "the imported heartbeats", func() bool { return len(heartbeatsOn(c, u, "2025-06-01")) == 2 })
	h := heartbeatsOn(c, u, "2025-06-01")[0]
	if got := fmt.Sprintf("%v %v %v %v", h["editor"], h["operating_system"], h["machine_name_id"], h["project"]); got != "neovim linux desk devflow" {
		t.Errorf("imported %v", h)
	}
	var s summariesBody
	c.do("GET", "/api/v1/users/current/summaries?start=2025-06-01&end=2025-06-01", basic(u.key), nil, &s)
	if s.CumulativeTotal.Seconds != 600 {
		t.Errorf("imported day counts %v s, want 600", s.CumulativeTotal.Seconds)
	}
}
