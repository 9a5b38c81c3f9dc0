package auth

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
)

// SessionLifetime is the lifetime of a JWT and of the session cookie (7 days).
const SessionLifetime = 7 * 24 * time.Hour

// ErrInvalidJWT is returned for every JWT that must not authenticate.
var ErrInvalidJWT = errors.New("invalid jwt")

// JWT mints and verifies session tokens per decision D21: HS256 only, claims exactly
// sub, provider, iat and exp, compatible with tokens the Node implementation minted.
type JWT struct {
	secret []byte
	now    func() time.Time
}

// NewJWT refuses an empty secret: the service must not start without JWT_SECRET.
func NewJWT(secret string, now func() time.Time) (*JWT, error) {
	if secret == "" {
		return nil, errors.New("JWT_SECRET is required")
	}
	if now == nil {
		now = time.Now
	}
	return &JWT{secret: []byte(secret), now: now}, nil
}

type claims struct {
	Provider string `json:"provider"`
	jwt.RegisteredClaims
}

// Mint signs a token for the user that expires SessionLifetime from now.
func (j *JWT) Mint(userID ids.ID, provider accounts.Provider) (string, error) {
	now := j.now().Truncate(time.Second)
	c := claims{
		Provider: string(provider),
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   userID.String(),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(SessionLifetime)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(j.secret)
}

// Verify checks signature (HS256 only), expiry (required, no leeway) and that sub is a
// UUID, and returns the user id and provider claim.
func (j *JWT) Verify(token string) (ids.ID, string, error) {
	userID, c, err := j.verify(token)
	return userID, c.Provider, err
}

// verify is Verify with every claim.
func (j *JWT) verify(token string) (ids.ID, claims, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c,
		func(t *jwt.Token) (any, error) {
			if t.Method != jwt.SigningMethodHS256 {
				return nil, ErrInvalidJWT
			}
			return j.secret, nil
		},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(j.now),
	)
	if err != nil {
		return ids.Nil, claims{}, ErrInvalidJWT
	}
	userID, err := ids.Parse(c.Subject)
	if err != nil {
		return ids.Nil, claims{}, ErrInvalidJWT
	}
	return userID, c, nil
}
