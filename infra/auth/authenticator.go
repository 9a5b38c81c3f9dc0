package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/httpapi"
)

// Authenticator checks request credentials (contract 2.4): a credential starting with
// "dvf_" is an API token (D22), anything else a JWT (D21). Every invalid credential is
// httpapi.ErrUnauthenticated; a failing database is another error (a 500, never a 401).
type Authenticator struct {
	pool     *pgxpool.Pool
	jwt      *JWT
	lastUsed *LastUsed
}

// NewAuthenticator builds the authenticator.
func NewAuthenticator(pool *pgxpool.Pool, jwt *JWT, lastUsed *LastUsed) *Authenticator {
	return &Authenticator{pool: pool, jwt: jwt, lastUsed: lastUsed}
}

var _ httpapi.Authenticator = (*Authenticator)(nil)

// Authenticate returns the caller behind credential.
func (a *Authenticator) Authenticate(ctx context.Context, credential string) (httpapi.Principal, error) {
	if accounts.IsAPIToken(credential) {
		return a.apiToken(ctx, credential)
	}
	// A JWT is not checked against the users table (contract 2.4): endpoints that need
	// the user answer 404 when it is gone. An erased user's JWTs stop at once, though.
	userID, c, err := a.jwt.verify(credential)
	if err != nil {
		return httpapi.Principal{}, httpapi.ErrUnauthenticated
	}
	var erased bool
	if err := a.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM erased_users WHERE user_id = $1)`, userID).Scan(&erased); err != nil {
		return httpapi.Principal{}, fmt.Errorf("erased check: %w", err)
	}
	if erased {
		return httpapi.Principal{}, httpapi.ErrUnauthenticated
	}
	p := httpapi.Principal{UserID: userID, Provider: c.Provider}
	if c.IssuedAt != nil {
		p.IssuedAt = c.IssuedAt.Time
	}
	return p, nil
}

func (a *Authenticator) apiToken(ctx context.Context, credential string) (httpapi.Principal, error) {
	hash, ok := accounts.TokenHash(credential)
	if !ok {
		return httpapi.Principal{}, httpapi.ErrUnauthenticated
	}
	var tokenID, userID ids.ID
	var stored string
	err := a.pool.QueryRow(ctx, `
		SELECT t.id, t.user_id, t.token_hash
		FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL`, hash).Scan(&tokenID, &userID, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return httpapi.Principal{}, httpapi.ErrUnauthenticated
	}
	if err != nil {
		return httpapi.Principal{}, fmt.Errorf("api token lookup: %w", err)
	}
	if !accounts.SameHash(stored, hash) {
		return httpapi.Principal{}, httpapi.ErrUnauthenticated
	}
	if a.lastUsed != nil {
		a.lastUsed.Touch(tokenID)
	}
	return httpapi.Principal{UserID: userID, APIToken: true, TokenID: tokenID}, nil
}
