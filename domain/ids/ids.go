// Package ids is devFlow's UUID type. The domain imports only the standard library, so
// it carries its own small UUID: parsing (any letter case, canonical 8-4-4-4-12 only),
// canonical lower-case formatting, random (v4) and content-derived (v5-style, SHA-256)
// ids, and the JSON and SQL conversions the adapters need.
package ids

import (
	"crypto/rand"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
)

// ID is a UUID. The zero value is the nil UUID.
type ID [16]byte

// Nil is the all-zero UUID.
var Nil ID

// ErrInvalid is returned for text that is not a canonical UUID.
var ErrInvalid = errors.New("invalid uuid")

// New returns a random (version 4) UUID.
func New() ID {
	var id ID
	if _, err := rand.Read(id[:]); err != nil {
		panic(fmt.Sprintf("ids: crypto/rand failed: %v", err))
	}
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// FromContent derives a stable UUID (version 5 layout, SHA-256 digest) from a namespace
// and content, so that the same fact always gets the same id and a retried append
// dedupes.
func FromContent(namespace ID, content []byte) ID {
	h := sha256.New()
	h.Write(namespace[:])
	h.Write(content)
	var id ID
	copy(id[:], h.Sum(nil))
	id[6] = id[6]&0x0f | 0x50
	id[8] = id[8]&0x3f | 0x80
	return id
}

// Parse accepts exactly the canonical 8-4-4-4-12 form in any letter case (no braces, no
// urn:uuid: prefix): the contract's uuid format (4.5). It is the service's one UUID
// parser (the domain imports only the standard library, which has none).
func Parse(s string) (ID, error) {
	if len(s) != 36 {
		return Nil, ErrInvalid
	}
	var b [36]byte // on the stack: no allocation
	copy(b[:], s)
	return ParseBytes(b[:])
}

// ParseBytes is Parse for bytes (the ingest reads every event's session_id from the body).
func ParseBytes(b []byte) (ID, error) {
	if len(b) != 36 {
		return Nil, ErrInvalid
	}
	var id ID
	n := 0
	for i, g := range hexGroups {
		if i > 0 && b[g[0]-1] != '-' {
			return Nil, ErrInvalid
		}
		k, err := hex.Decode(id[n:], b[g[0]:g[1]])
		if err != nil {
			return Nil, ErrInvalid
		}
		n += k
	}
	return id, nil
}

// hexGroups are the spans of the five groups of hex digits in the 8-4-4-4-12 form.
var hexGroups = [5][2]int{{0, 8}, {9, 13}, {14, 18}, {19, 23}, {24, 36}}

// MustParse is Parse for constants; it panics on bad input.
func MustParse(s string) ID {
	id, err := Parse(s)
	if err != nil {
		panic(fmt.Sprintf("ids: %q: %v", s, err))
	}
	return id
}

// String is the canonical lower-case form.
func (id ID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], id[10:16])
	return string(b[:])
}

// IsNil reports whether id is the nil UUID.
func (id ID) IsNil() bool { return id == Nil }

// MarshalText writes the canonical form (used by encoding/json).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses the canonical form (used by encoding/json).
func (id *ID) UnmarshalText(b []byte) error {
	parsed, err := Parse(string(b))
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}

// Value stores the id as its canonical text; PostgreSQL casts it to uuid.
func (id ID) Value() (driver.Value, error) { return id.String(), nil }

// Scan reads a uuid column given as text or 16 raw bytes.
func (id *ID) Scan(src any) error {
	switch v := src.(type) {
	case string:
		return id.UnmarshalText([]byte(v))
	case []byte:
		if len(v) == 16 {
			copy(id[:], v)
			return nil
		}
		return id.UnmarshalText(v)
	case [16]byte:
		*id = v
		return nil
	case nil:
		*id = Nil
		return nil
	}
	return fmt.Errorf("ids: cannot scan %T", src)
}
