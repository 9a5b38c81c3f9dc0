package etl_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/devflow/backend/commands/etl"
	"github.com/devflow/backend/domain/eventlog"
)

// projectionsAt are projections whose checkpoints move to the head when waited for,
// unless stuck.
type projectionsAt struct {
	ordinals map[string]int64
	head     int64
	stuck    bool
	lockHeld bool
	released bool
}

func (p *projectionsAt) LockMaintenance(context.Context, []string) (func(), bool, error) {
	if p.lockHeld {
		return nil, false, nil
	}
	return func() { p.released = true }, true, nil
}

func (p *projectionsAt) Ordinal(_ context.Context, name string) (int64, error) {
	return p.ordinals[name], nil
}

func (p *projectionsAt) WaitFor(ctx context.Context, name string, _ eventlog.Position) error {
	if p.stuck {
		<-ctx.Done()
		return ctx.Err()
	}
	p.ordinals[name] = p.head
	return nil
}

type head struct{}

func (head) Head(context.Context) (eventlog.Position, error) { return eventlog.Position{}, nil }

func TestRun_ReportsTheLowestCheckpointsBeforeAndAfter(t *testing.T) {
	p := &projectionsAt{ordinals: map[string]int64{"a": 7, "b": 4}, head: 10}
	res, err := etl.NewRunHandler(head{}, p, "a", "b").Handle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Before != 4 || res.After != 10 || res.Processed != 6 || !p.released {
		t.Fatalf("result %+v, locks released %v", res, p.released)
	}
}

func TestRun_RefusesWhileAnotherHoldsTheLock(t *testing.T) {
	p := &projectionsAt{ordinals: map[string]int64{"a": 1}, lockHeld: true}
	if _, err := etl.NewRunHandler(head{}, p, "a").Handle(context.Background()); !errors.Is(err, etl.ErrInFlight) {
		t.Fatalf("got %v, want ErrInFlight", err)
	}
}

func TestRun_TimesOutAfterItsLimit(t *testing.T) {
	p := &projectionsAt{ordinals: map[string]int64{"a": 1}, stuck: true}
	h := etl.NewRunHandler(head{}, p, "a")
	h.Limit = 10 * time.Millisecond
	if _, err := h.Handle(context.Background()); !errors.Is(err, etl.ErrTimedOut) || !p.released {
		t.Fatalf("got %v (released %v), want ErrTimedOut and the locks released", err, p.released)
	}
}
