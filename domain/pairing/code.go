package pairing

import (
	"crypto/rand"
	"errors"
	"io"
	"strings"
)

// CodeAlphabet is the 27-character user-code alphabet: no vowels and none of the
// look-alikes 0 O 1 I L Y, so a code read aloud or typed from a screen survives.
const CodeAlphabet = "BCDFGHJKMNPQRSTVWXZ23456789"

// UserCode is a validated `XXXX-XXXX` code in upper case.
type UserCode string

// ErrInvalidCode is returned for text that cannot be a user code.
var ErrInvalidCode = errors.New("invalid user code")

// ParseUserCode upper-cases s (decision D18) and checks it against the code format.
func ParseUserCode(s string) (UserCode, error) {
	s = strings.ToUpper(s)
	if len(s) != 9 || s[4] != '-' {
		return "", ErrInvalidCode
	}
	for i := 0; i < len(s); i++ {
		if i == 4 {
			continue
		}
		if strings.IndexByte(CodeAlphabet, s[i]) < 0 {
			return "", ErrInvalidCode
		}
	}
	return UserCode(s), nil
}

// NewUserCode draws 8 characters uniformly from CodeAlphabet with the given random
// source (crypto/rand when nil), using rejection sampling so no character is favoured.
func NewUserCode(random io.Reader) (UserCode, error) {
	if random == nil {
		random = rand.Reader
	}
	const n = len(CodeAlphabet)
	// The largest multiple of 27 that fits in a byte: bytes at or above it are redrawn.
	const limit = 256 - 256%n
	out := make([]byte, 0, 9)
	var buf [16]byte
	for len(out) < 9 {
		if _, err := io.ReadFull(random, buf[:]); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			if len(out) == 4 {
				out = append(out, '-')
			}
			out = append(out, CodeAlphabet[int(b)%n])
			if len(out) == 9 {
				break
			}
		}
	}
	return UserCode(out), nil
}
