// Package datakeys is crypto-shredding for the event log (issue 16): every payload of an
// event that belongs to a user is encrypted with that user's data key (AES-256-GCM), the
// data keys are stored wrapped by a master key from the configuration, and erasing a
// user destroys their key, which makes their events unreadable wherever the log goes.
// It is the one place that knows which events are encrypted and how; the event-store
// adapters call it on append and on read, so every reader sees plaintext or "erased".
package datakeys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/devflow/backend/infra/config"
)

// MasterKey wraps and unwraps data keys.
type MasterKey struct {
	aead cipher.AEAD
	// ID names the key without revealing it (a key-check value): the rows a key wrapped
	// carry it, so a wrong key is recognised at start-up.
	ID string
}

// NewMasterKey builds a master key from 32 raw bytes.
func NewMasterKey(raw []byte) (MasterKey, error) {
	if len(raw) != 32 {
		return MasterKey{}, fmt.Errorf("a master key is 32 bytes, not %d", len(raw))
	}
	aead, err := newAEAD(raw)
	if err != nil {
		return MasterKey{}, err
	}
	sum := sha256.Sum256(append([]byte("devflow master key id\x00"), raw...))
	return MasterKey{aead: aead, ID: hex.EncodeToString(sum[:8])}, nil
}

// ParseMasterKey reads a master key written as base64 (standard or URL alphabet).
func ParseMasterKey(text string) (MasterKey, error) {
	text = strings.TrimSpace(text)
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		raw, err = base64.URLEncoding.DecodeString(text)
	}
	if err != nil {
		return MasterKey{}, errors.New("a master key is the base64 of 32 random bytes (openssl rand -base64 32)")
	}
	return NewMasterKey(raw)
}

// ReadMasterKeyFile reads a master key file (base64 text).
func ReadMasterKeyFile(path string) (MasterKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return MasterKey{}, err
	}
	return ParseMasterKey(string(b))
}

// DevKeyFile is where the private-cluster development mode keeps its generated master
// key: next to the cluster's data folder (.devflow/data.key by default).
func DevKeyFile(cfg config.Config) string {
	return filepath.Join(filepath.Dir(filepath.Clean(cfg.DataDir)), "data.key")
}

// ErrNoMasterKey is a configuration without a master key where one is required.
var ErrNoMasterKey = errors.New("DATA_KEY is required: set DATA_KEY (base64 of 32 random bytes, openssl rand -base64 32) or DATA_KEY_FILE")

// FromConfig returns the configured master key: DATA_KEY, else DATA_KEY_FILE. Without
// either, production fails (ErrNoMasterKey); the private-cluster development mode uses
// (and first generates) DevKeyFile, logged as development-only; a development setup on
// a DATABASE_URL gets ok=false: payloads stay plaintext, and start-up (Check) still
// refuses a database that holds encrypted ones.
func FromConfig(cfg config.Config, log *slog.Logger) (key MasterKey, ok bool, err error) {
	switch {
	case cfg.DataKey != "":
		key, err = ParseMasterKey(cfg.DataKey)
		if err != nil {
			return MasterKey{}, false, fmt.Errorf("DATA_KEY: %w", err)
		}
		return key, true, nil
	case cfg.DataKeyFile != "":
		key, err = ReadMasterKeyFile(cfg.DataKeyFile)
		if err != nil {
			return MasterKey{}, false, fmt.Errorf("DATA_KEY_FILE: %w", err)
		}
		return key, true, nil
	case cfg.IsProduction():
		return MasterKey{}, false, ErrNoMasterKey
	}
	if _, configured := cfg.DatabaseURL(); configured {
		log.Warn("DATA_KEY is not set: event payloads are stored in plaintext and erasure cannot shred them; development only")
		return MasterKey{}, false, nil
	}
	path := DevKeyFile(cfg)
	key, err = ReadMasterKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err = writeDevKey(path)
	}
	if err != nil {
		return MasterKey{}, false, fmt.Errorf("development master key %s: %w", path, err)
	}
	log.Warn("DEVELOPMENT-ONLY master key in use: set DATA_KEY or DATA_KEY_FILE for anything else", "file", path, "master_key_id", key.ID)
	return key, true, nil
}

func writeDevKey(path string) (MasterKey, error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return MasterKey{}, err
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o600); err != nil {
		return MasterKey{}, err
	}
	return NewMasterKey(raw)
}

// wrap encrypts a data key for user (the user id is the associated data, so a wrapped
// key cannot be moved to another user): nonce followed by ciphertext.
func (m MasterKey) wrap(dataKey []byte, user [16]byte) []byte {
	nonce := make([]byte, m.aead.NonceSize(), m.aead.NonceSize()+len(dataKey)+m.aead.Overhead())
	rand.Read(nonce)
	return m.aead.Seal(nonce, nonce, dataKey, user[:])
}

func (m MasterKey) unwrap(wrapped []byte, user [16]byte) ([]byte, error) {
	n := m.aead.NonceSize()
	if len(wrapped) < n {
		return nil, errors.New("wrapped key too short")
	}
	return m.aead.Open(nil, wrapped[:n], wrapped[n:], user[:])
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
