package auth

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestPasswords_Cost12AndFirst72Bytes(t *testing.T) {
	var p Passwords
	long := strings.Repeat("é", 36) // 72 bytes of UTF-8
	hash, err := p.Hash(long + "ignored")
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost([]byte(hash)); cost != 12 {
		t.Fatalf("cost %d, want 12", cost)
	}
	if !p.Matches(hash, long+"anything else") || p.Matches(hash, strings.Repeat("é", 35)) {
		t.Fatal("only the first 72 bytes must count")
	}
	// The unknown-email path compares against a hash of the same cost, and never matches.
	if cost, _ := bcrypt.Cost([]byte(dummyHash)); cost != BcryptCost {
		t.Fatalf("dummy hash cost %d", cost)
	}
	if p.Matches("", "") || p.Matches("", long) {
		t.Fatal("an empty hash matched")
	}
}
