package accounts

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/devflow/backend/domain/ids"
)

// TokenPrefix marks an API token; a credential starting with it is never a JWT.
const TokenPrefix = "dvf_"

// APIToken is a freshly issued token. Plaintext leaves the service once, in the
// response that issues it; only Hash is stored.
type APIToken struct {
	Plaintext string // "dvf_" + 43 base64url characters
	Hash      string // lower-case hex SHA-256 of the secret (the part after "dvf_")
	Prefix    string // first 6 characters of the secret
}

// NewAPIToken draws a token exactly as the Node implementation did (decision D22):
// "dvf_" + base64url (no padding) of 32 random bytes.
func NewAPIToken() APIToken {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	return APIToken{Plaintext: TokenPrefix + secret, Hash: HashSecret(secret), Prefix: secret[:6]}
}

// IsAPIToken reports whether a credential is to be checked as an API token.
func IsAPIToken(credential string) bool { return strings.HasPrefix(credential, TokenPrefix) }

// TokenHash returns the stored hash of an API-token credential; ok is false when the
// credential has no secret after "dvf_".
func TokenHash(credential string) (hash string, ok bool) {
	secret, found := strings.CutPrefix(credential, TokenPrefix)
	if !found || secret == "" {
		return "", false
	}
	return HashSecret(secret), true
}

// HashSecret is the lower-case hex SHA-256 of a token's secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SameHash compares two token hashes in constant time.
func SameHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// TokenInfo is an issued token as its owner sees it in the token list.
type TokenInfo struct {
	ID         ids.ID
	Name       string
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// LastUsedInterval coalesces last-used writes: at most one per token per interval.
const LastUsedInterval = time.Minute

// IssuedToken is the stored side of a newly issued API token.
type IssuedToken struct {
	ID        ids.ID
	UserID    ids.ID
	Name      string
	Hash      string
	Prefix    string
	Source    TokenSource
	CreatedAt time.Time
}

// Issue draws a new token for a user; the plaintext is returned separately so that it
// is never stored with the rest.
func Issue(userID ids.ID, name string, source TokenSource, now time.Time) (IssuedToken, string) {
	t := NewAPIToken()
	return IssuedToken{
		ID: ids.New(), UserID: userID, Name: name, Hash: t.Hash, Prefix: t.Prefix,
		Source: source, CreatedAt: now.UTC(),
	}, t.Plaintext
}

// Event is the log's record of the issue.
func (t IssuedToken) Event() APITokenIssued {
	return APITokenIssued{TokenID: t.ID, UserID: t.UserID, Source: t.Source, IssuedAt: t.CreatedAt}
}
