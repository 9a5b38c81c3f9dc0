package insights_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/devflow/backend/commands/insights"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/recommendation"
)

func TestAct_ChecksAndRecordsTheActionTime(t *testing.T) {
	e := newEnv(t, insights.ProviderRules, nil)
	owner, other := ids.New(), ids.New()
	e.longSession(owner)
	id, err := e.eval.Demo(context.Background(), owner)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.acts.Handle(ctx, owner, ids.New(), recommendation.Accepted); !errors.Is(err, recommendation.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if err := e.acts.Handle(ctx, other, id, recommendation.Accepted); !errors.Is(err, recommendation.ErrForbidden) {
		t.Fatalf("other user: %v", err)
	}
	e.clock.Set(t0.Add(7 * time.Minute))
	if err := e.acts.Handle(ctx, owner, id, recommendation.Snoozed); err != nil {
		t.Fatal(err)
	}
	// Reflected at once; the snooze time is the action's, not the creation's.
	latest, err := e.rm.Latest(ctx, owner)
	if err != nil || latest.Action != recommendation.Snoozed || !latest.ActedAt.Equal(t0.Add(7*time.Minute)) {
		t.Fatalf("latest %+v (%v)", latest, err)
	}
	if e.pending(t, owner) != nil {
		t.Fatal("a snoozed recommendation is still pending")
	}
	if err := e.acts.Handle(ctx, owner, id, recommendation.Accepted); !errors.Is(err, recommendation.ErrAlreadyEnded) {
		t.Fatalf("second action: %v", err)
	}
	if err := e.acts.Handle(ctx, other, id, recommendation.Accepted); !errors.Is(err, recommendation.ErrForbidden) {
		t.Fatalf("other user on an ended one: %v, want forbidden first", err)
	}
}

func TestAct_ConcurrentActionsExactlyOneWins(t *testing.T) {
	e := newEnv(t, insights.ProviderRules, nil)
	owner := ids.New()
	e.longSession(owner)
	for round := range 3 {
		id, err := e.eval.Demo(context.Background(), owner)
		if err != nil {
			t.Fatal(err)
		}
		actions := []recommendation.Action{recommendation.Accepted, recommendation.Dismissed, recommendation.Snoozed, recommendation.Accepted, recommendation.Snoozed, recommendation.Dismissed}
		results := make(chan error, len(actions)+1)
		var wg sync.WaitGroup
		for _, a := range actions {
			wg.Add(1)
			go func() { defer wg.Done(); results <- e.acts.Handle(context.Background(), owner, id, a) }()
		}
		if round == 2 { // a force evaluation racing the actions: its expiry competes too
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.eval.Evaluate(context.Background(), owner, insights.ModeForce)
				results <- err
			}()
		}
		wg.Wait()
		close(results)
		wins, conflicts := 0, 0
		for err := range results {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, recommendation.ErrAlreadyEnded):
				conflicts++
			default:
				t.Fatal(err)
			}
		}
		if round < 2 && (wins != 1 || conflicts != len(actions)-1) {
			t.Fatalf("round %d: %d wins, %d conflicts", round, wins, conflicts)
		}
		if round == 2 && wins+conflicts != len(actions)+1 {
			t.Fatalf("round %d: %d wins, %d conflicts", round, wins, conflicts)
		}
		if n := e.pendingCount(t, owner); n > 1 {
			t.Fatalf("%d pending", n)
		}
		if evs := e.events(t, recommendation.StreamID(id)); len(evs) != 2 {
			t.Fatalf("round %d: recommendation stream has %d events, want issue + one end", round, len(evs))
		}
	}
}

func TestDemo_NeedsASessionAndReplacesThePendingOne(t *testing.T) {
	e := newEnv(t, insights.ProviderOff, nil) // demo works with any provider setting
	user := ids.New()
	if _, err := e.eval.Demo(context.Background(), user); !errors.Is(err, insights.ErrNoSession) {
		t.Fatalf("demo without session: %v", err)
	}
	e.longSession(user)
	first, err := e.eval.Demo(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.eval.Demo(context.Background(), user) // ignores the cooldown
	if err != nil {
		t.Fatal(err)
	}
	v := e.list(t, user)
	if len(v) != 2 || v[0].ID != second || v[0].UserAction != nil || v[1].ID != first || *v[1].UserAction != "expired" {
		t.Fatalf("history %+v", v)
	}
	if v[0].StateType != "demo" || v[0].Source != "demo" || *v[0].TriggeredRule != "demo_trigger" || v[0].ConfidenceScore != 1 {
		t.Fatalf("demo %+v", v[0])
	}
}
