package accounts

import (
	"context"
	"time"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
)

// IssueTokenHandler issues an API token to a user.
type IssueTokenHandler struct {
	tokens Tokens
	now    func() time.Time
}

// NewIssueTokenHandler builds the handler; now defaults to time.Now.
func NewIssueTokenHandler(tokens Tokens, now func() time.Time) IssueTokenHandler {
	if tokens == nil {
		panic("accounts: nil dependency")
	}
	return IssueTokenHandler{tokens: tokens, now: clockOrNow(now)}
}

// Handle returns the stored token and its plaintext, which is never available again.
func (h IssueTokenHandler) Handle(ctx context.Context, userID ids.ID, name string) (accounts.IssuedToken, string, error) {
	token, plaintext := accounts.Issue(userID, name, accounts.TokenSourceAPI, h.now())
	if err := h.tokens.Issue(ctx, token); err != nil {
		return accounts.IssuedToken{}, "", err
	}
	return token, plaintext, nil
}

// RevokeTokenHandler revokes one of a user's API tokens.
type RevokeTokenHandler struct {
	tokens Tokens
	now    func() time.Time
}

// NewRevokeTokenHandler builds the handler; now defaults to time.Now.
func NewRevokeTokenHandler(tokens Tokens, now func() time.Time) RevokeTokenHandler {
	if tokens == nil {
		panic("accounts: nil dependency")
	}
	return RevokeTokenHandler{tokens: tokens, now: clockOrNow(now)}
}

// Handle revokes; accounts.ErrTokenNotFound when rawID is not a UUID, or names no
// unrevoked token of the user.
func (h RevokeTokenHandler) Handle(ctx context.Context, userID ids.ID, rawID string) error {
	tokenID, err := ids.Parse(rawID)
	if err != nil {
		return accounts.ErrTokenNotFound
	}
	return h.tokens.Revoke(ctx, userID, tokenID, h.now())
}
