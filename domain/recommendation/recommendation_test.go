package recommendation

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/insight"
)

var (
	t0    = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	owner = ids.MustParse("11111111-1111-4111-8111-111111111111")
	other = ids.MustParse("22222222-2222-4222-8222-222222222222")
)

// stream turns appended event data into the envelopes a read would return.
func stream(id ids.ID, events ...eventlog.EventData) []eventlog.Envelope {
	out := make([]eventlog.Envelope, len(events))
	for i, e := range events {
		out[i] = eventlog.Envelope{ID: e.ID, StreamID: StreamID(id), StreamVersion: uint64(i), Type: e.Type, SchemaVersion: e.SchemaVersion, Data: e.Data}
	}
	return out
}

func issued(t *testing.T, id ids.ID) eventlog.EventData {
	t.Helper()
	e, err := Issue(Demo(id, owner, ids.New(), t0))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAct_OwnerActsOnceOnPending(t *testing.T) {
	id := ids.New()
	r, err := Fold(stream(id, issued(t, id)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Action() != "" || r.Version() != 0 || r.Owner() != owner {
		t.Fatalf("folded %+v", r)
	}
	if _, err := r.Act(other, Accepted, t0); !errors.Is(err, ErrForbidden) {
		t.Fatalf("other user: %v, want ErrForbidden", err)
	}
	e, err := r.Act(owner, Snoozed, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var p Ended
	if err := json.Unmarshal(e.Data, &p); err != nil || e.Type != EventSnoozed || !p.At.Equal(t0.Add(time.Minute)) || p.RecommendationID != id {
		t.Fatalf("event %s %s (%v)", e.Type, e.Data, err)
	}
	r, _ = Fold(stream(id, issued(t, id), e))
	if r.Action() != Snoozed || r.Version() != 1 {
		t.Fatalf("after snooze: %+v", r)
	}
	for _, a := range []Action{Accepted, Dismissed, Snoozed} {
		if _, err := r.Act(owner, a, t0); !errors.Is(err, ErrAlreadyEnded) {
			t.Errorf("second action %s: %v, want ErrAlreadyEnded", a, err)
		}
	}
	// Forbidden is checked before "already acted on" (contract 3.22: 403 before 409).
	if _, err := r.Act(other, Accepted, t0); !errors.Is(err, ErrForbidden) {
		t.Fatalf("other user on ended: %v, want ErrForbidden", err)
	}
	if _, err := r.Expire(t0); !errors.Is(err, ErrAlreadyEnded) {
		t.Fatalf("expire ended: %v", err)
	}
}

func TestAct_ExpiredCannotBeActedOn(t *testing.T) {
	id := ids.New()
	r, _ := Fold(stream(id, issued(t, id)))
	exp, err := r.Expire(t0)
	if err != nil || exp.Type != EventExpired {
		t.Fatalf("expire: %v %s", err, exp.Type)
	}
	r, _ = Fold(stream(id, issued(t, id), exp))
	if _, err := r.Act(owner, Accepted, t0); !errors.Is(err, ErrAlreadyEnded) {
		t.Fatalf("act on expired: %v", err)
	}
	if _, err := r.Act(owner, Expired, t0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a client cannot expire: %v", err)
	}
}

func TestFold_EmptyStreamIsNotFound(t *testing.T) {
	if _, err := Fold(nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Fold(nil) = %v", err)
	}
}

func TestParseUserAction(t *testing.T) {
	for s, ok := range map[string]bool{"accepted": true, "dismissed": true, "snoozed": true, "expired": false, "": false, "Accepted": false, "maybe": false} {
		if _, got := ParseUserAction(s); got != ok {
			t.Errorf("ParseUserAction(%q) = %v", s, got)
		}
	}
}

func TestIssue_RoundsConfidenceAndRejectsNormal(t *testing.T) {
	p := Demo(ids.New(), owner, ids.New(), t0)
	p.ConfidenceScore, p.Evidence = 0.745, nil
	e, err := Issue(p)
	if err != nil {
		t.Fatal(err)
	}
	var got Issued
	_ = json.Unmarshal(e.Data, &got)
	if got.ConfidenceScore != 0.75 || got.Evidence == nil {
		t.Fatalf("confidence %v evidence %v", got.ConfidenceScore, got.Evidence)
	}
	p.StateType = insight.StateNormal
	if _, err := Issue(p); !errors.Is(err, ErrInvalid) {
		t.Fatalf("normal issued: %v", err)
	}
}

func TestDemo_IsTheCannedRecommendation(t *testing.T) {
	e, err := Issue(Demo(ids.MustParse("b2a7d3c4-1e5f-4a6b-8c9d-0e1f2a3b4c5d"), owner, owner, t0))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(e.Data, &m)
	ev, _ := json.Marshal(m["evidence"])
	if string(ev) != `[{"metric":"duration_minutes","value":145},{"metric":"lines_added","value":220},{"metric":"lines_deleted","value":180},{"metric":"churn_ratio","value":0.82}]` {
		t.Errorf("evidence %s", ev)
	}
	if m["state_type"] != "demo" || m["confidence_score"] != 1.0 || m["recommendation_type"] != "execute" ||
		m["triggered_rule"] != "demo_trigger" || m["source"] != "demo" ||
		m["recommendation_text"] != "You've been heads-down for a while. Consider stepping away for 5 minutes — your next bug is probably hiding behind a clear head." ||
		m["reasoning"] != "Manually triggered demo recommendation; no Gemini call was made." {
		t.Errorf("demo payload %v", m)
	}
}

func TestCooldown_Timelines(t *testing.T) {
	c := Cooldown{Pending: 45 * time.Minute, Snooze: 30 * time.Minute}
	created := t0
	snoozedAt := t0.Add(40 * time.Minute)
	cases := []struct {
		name   string
		latest *Latest
		at     time.Time
		blocks bool
	}{
		{"none", nil, t0, false},
		{"pending just created", &Latest{CreatedAt: created}, t0, true},
		{"pending 44:59 later", &Latest{CreatedAt: created}, t0.Add(45*time.Minute - time.Second), true},
		{"pending 45 min later", &Latest{CreatedAt: created}, t0.Add(45 * time.Minute), false},
		{"snoozed: window counts from the snooze", &Latest{CreatedAt: created, Action: Snoozed, ActedAt: snoozedAt}, t0.Add(69 * time.Minute), true},
		{"snoozed: 30 min after the snooze", &Latest{CreatedAt: created, Action: Snoozed, ActedAt: snoozedAt}, t0.Add(70 * time.Minute), false},
		{"accepted never blocks", &Latest{CreatedAt: created, Action: Accepted, ActedAt: t0}, t0, false},
		{"dismissed never blocks", &Latest{CreatedAt: created, Action: Dismissed, ActedAt: t0}, t0, false},
		{"expired never blocks", &Latest{CreatedAt: created, Action: Expired, ActedAt: t0}, t0, false},
	}
	for _, tc := range cases {
		if got := c.Blocks(tc.latest, tc.at); got != tc.blocks {
			t.Errorf("%s: Blocks = %v, want %v", tc.name, got, tc.blocks)
		}
	}
}
