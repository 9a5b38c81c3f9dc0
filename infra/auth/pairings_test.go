package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	cmdpairing "github.com/devflow/backend/commands/pairing"
	"github.com/devflow/backend/domain/pairing"
	"github.com/devflow/backend/infra/oauth"
)

func TestApprove_ConcurrentApprovalsIssueOneToken(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	clk := newClock()
	store := NewPairings(db)
	p, err := cmdpairing.NewStartHandler(store, clk.Now).Handle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	approve := cmdpairing.NewApproveHandler(store, clk.Now)
	users := []string{"ann", "bob", "cat", "dan", "eve", "fay"}
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	for i, name := range users {
		user := createUser(t, db, name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = approve.Handle(ctx, user, string(p.UserCode()))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, pairing.ErrAlreadyUsed):
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d approvals succeeded, want 1", ok)
	}
	if n := count(t, db.Pool, `SELECT count(*) FROM api_tokens`); n != 1 {
		t.Fatalf("%d tokens issued, want 1 (no orphans)", n)
	}
}

func TestCleanup_ErasesPlaintextRecordsExpiryOnceAndPurges(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	clk := newClock()
	store := NewPairings(db)
	approved, _ := cmdpairing.NewStartHandler(store, clk.Now).Handle(ctx)
	pending, _ := cmdpairing.NewStartHandler(store, clk.Now).Handle(ctx)
	user := createUser(t, db, "ann")
	if _, err := cmdpairing.NewApproveHandler(store, clk.Now).Handle(ctx, user, string(approved.UserCode())); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db.Pool, `SELECT count(*) FROM pairings WHERE token_plaintext IS NOT NULL`); n != 1 {
		t.Fatalf("plaintexts held after approval: %d", n)
	}
	cleanup := NewCleanup(db.Pool, cmdpairing.NewCleanupHandler(store, clk.Now), oauth.NewStates(db.Pool, clk.Now), quietLog(), clk.Now)

	clk.Advance(pairing.TTL - time.Second)
	if err := cleanup.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db.Pool, `SELECT count(*) FROM pairings WHERE token_plaintext IS NOT NULL`); n != 1 {
		t.Fatal("plaintext erased before expiry")
	}

	clk.Advance(time.Second)
	for range 2 { // a second pass must change nothing
		if err := cleanup.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, db.Pool, `SELECT count(*) FROM pairings WHERE token_plaintext IS NOT NULL`); n != 0 {
		t.Fatal("plaintext kept after expiry")
	}
	if n := count(t, db.Pool, `SELECT count(*) FROM events WHERE event_type = 'PairingExpired'`); n != 2 {
		t.Fatalf("PairingExpired events = %d, want one per pairing", n)
	}
	if n := count(t, db.Pool, `SELECT count(*) FROM api_tokens`); n != 1 {
		t.Fatal("the issued token must stay in the user's list")
	}

	clk.Advance(pairing.PurgeAfter - time.Second)
	_ = cleanup.RunOnce(ctx)
	if n := count(t, db.Pool, `SELECT count(*) FROM pairings`); n != 2 {
		t.Fatal("purged too early")
	}
	clk.Advance(time.Second)
	_ = cleanup.RunOnce(ctx)
	if n := count(t, db.Pool, `SELECT count(*) FROM pairings`); n != 0 {
		t.Fatalf("%d pairings left an hour after expiry", n)
	}
	res, err := cmdpairing.NewExchangeHandler(store, clk.Now).Handle(ctx, pending.ID().String())
	if err != nil || res.Outcome != pairing.OutcomeExpired {
		t.Fatalf("exchange of a purged pairing = %+v %v", res, err)
	}
	if _, err := cmdpairing.NewApproveHandler(store, clk.Now).Handle(ctx, user, string(pending.UserCode())); !errors.Is(err, pairing.ErrNotFound) {
		t.Fatalf("approve of a purged pairing: %v", err)
	}
}

func TestCleanup_SkipsWhileAnotherReplicaHoldsTheLock(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	clk := newClock()
	store := NewPairings(db)
	_, _ = cmdpairing.NewStartHandler(store, clk.Now).Handle(ctx)
	clk.Advance(pairing.TTL)

	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, cleanupLockKey); err != nil {
		t.Fatal(err)
	}
	cleanup := NewCleanup(db.Pool, cmdpairing.NewCleanupHandler(store, clk.Now), oauth.NewStates(db.Pool, clk.Now), quietLog(), clk.Now)
	if err := cleanup.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db.Pool, `SELECT count(*) FROM events WHERE event_type = 'PairingExpired'`); n != 0 {
		t.Fatal("ran although another replica held the lock")
	}
	_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, cleanupLockKey)
	if err := cleanup.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db.Pool, `SELECT count(*) FROM events WHERE event_type = 'PairingExpired'`); n != 1 {
		t.Fatal("did not run once the lock was free")
	}
}
