package accounts

import (
	"crypto/rand"
	"encoding/hex"
)

// MaxUsernameLength is the longest username, in characters.
const MaxUsernameLength = 50

// UsernameCandidates lists, in order of preference, the usernames the picker tries
// (contract 7.5): the base name; `<provider>-<first 8 characters of the provider user
// id>`; that plus `-<6 random hex>`; finally `<provider>-<12 random hex>`, which is
// taken without a check. Each is cut to MaxUsernameLength characters. An empty base is
// skipped. randomHex returns n random lower-case hex characters (RandomHex when nil).
func UsernameCandidates(base string, provider Provider, providerUserID string, randomHex func(n int) string) []string {
	if randomHex == nil {
		randomHex = RandomHex
	}
	short := provider.String() + "-" + firstRunes(providerUserID, 8)
	var out []string
	if base != "" {
		out = append(out, firstRunes(base, MaxUsernameLength))
	}
	return append(out,
		firstRunes(short, MaxUsernameLength),
		firstRunes(short+"-"+randomHex(6), MaxUsernameLength),
		firstRunes(provider.String()+"-"+randomHex(12), MaxUsernameLength),
	)
}

// PickUsername returns the first candidate that is not taken, or the last candidate
// (the random fallback) when all are.
func PickUsername(candidates []string, taken map[string]bool) string {
	for _, c := range candidates[:len(candidates)-1] {
		if !taken[c] {
			return c
		}
	}
	return candidates[len(candidates)-1]
}

// RandomHex returns n random lower-case hex characters.
func RandomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)[:n]
}

func (p Provider) String() string { return string(p) }

func firstRunes(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}
