package auth

import (
	"golang.org/x/crypto/bcrypt"

	cmdaccounts "github.com/devflow/backend/commands/accounts"
)

// BcryptCost is fixed by the contract.
const BcryptCost = 12

// maxPasswordBytes is bcrypt's limit: like the Node implementation, only the first 72
// bytes of the UTF-8 password count, and longer passwords are accepted.
const maxPasswordBytes = 72

// dummyHash is a cost-12 hash of a random string nobody knows. Checking a password
// against it makes an unknown email cost as much as a real check.
const dummyHash = "$2a$12$VVZf0gqPEZRXANDoWR63FOP44wHG/ZK45JHtTPp8ZBr4pJWUaBZni"

// Passwords is bcrypt at cost 12 (commands/accounts.Passwords).
type Passwords struct{}

var _ cmdaccounts.Passwords = Passwords{}

// Hash hashes the first 72 bytes of password.
func (Passwords) Hash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword(significant(password), BcryptCost)
	return string(h), err
}

// Matches checks password against hash; an empty hash is checked against dummyHash
// and never matches.
func (Passwords) Matches(hash, password string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword([]byte(dummyHash), significant(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), significant(password)) == nil
}

func significant(password string) []byte {
	b := []byte(password)
	if len(b) > maxPasswordBytes {
		b = b[:maxPasswordBytes]
	}
	return b
}
