package auth

import (
	"context"
	"testing"
	"time"

	"github.com/devflow/backend/domain/accounts"
)

func TestLastUsed_WritesAtMostOncePerMinute(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	clk := newClock()
	user := createUser(t, db, "ann")
	token, _ := accounts.Issue(user, "laptop", accounts.TokenSourceAPI, clk.Now())
	if err := NewTokens(db).Issue(ctx, token); err != nil {
		t.Fatal(err)
	}
	lastUsed := func() time.Time {
		var at *time.Time
		if err := db.Pool.QueryRow(ctx, `SELECT last_used_at FROM api_tokens WHERE id = $1`, token.ID).Scan(&at); err != nil {
			t.Fatal(err)
		}
		if at == nil {
			return time.Time{}
		}
		return at.UTC()
	}
	l := NewLastUsed(db.Pool, quietLog(), clk.Now)

	first := clk.Now()
	l.Touch(token.ID)
	clk.Advance(30 * time.Second)
	l.Touch(token.ID) // within the minute: coalesced
	l.Flush(ctx)
	if got := lastUsed(); !got.Equal(first) {
		t.Fatalf("last_used_at = %v, want %v", got, first)
	}

	clk.Advance(31 * time.Second)
	second := clk.Now()
	l.Touch(token.ID)
	l.Flush(ctx)
	if got := lastUsed(); !got.Equal(second) {
		t.Fatalf("last_used_at = %v, want %v", got, second)
	}
}
