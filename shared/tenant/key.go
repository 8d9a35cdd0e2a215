package tenant

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// KeyPrefix starts every Tollgate API key.
const KeyPrefix = "tg_"

// keyBytes is the number of random bytes in a key (256 bits).
const keyBytes = 32

var keyEncoding = base64.RawURLEncoding

// ErrMalformedKey is returned by ParseKey for a string that cannot be a Tollgate key.
var ErrMalformedKey = errors.New("malformed API key")

// NewKey returns a fresh key id and secret key. The secret is shown to the caller
// once; only its hash (HashKey) is stored.
func NewKey() (id, secret string) {
	b := make([]byte, keyBytes+8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return "key_" + hex.EncodeToString(b[keyBytes:]), KeyPrefix + keyEncoding.EncodeToString(b[:keyBytes])
}

// IssueKey makes a new key named name for tenant cfg's incarnation, created at
// now: its metadata and the secret, shown to the caller once.
func IssueKey(cfg *Config, name string, now time.Time) (Key, string) {
	id, secret := NewKey()
	return Key{ID: id, TenantID: cfg.ID, Name: name, Hint: secret[len(secret)-4:], CreatedAt: now.UTC(),
		Incarnation: cfg.Incarnation}, secret
}

// NewIncarnation returns a fresh tenant incarnation: 64 random bits in hex.
func NewIncarnation() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ParseKey checks the shape of a presented key before any lookup: the prefix, the
// length and the alphabet. It returns the key unchanged when it is well formed.
func ParseKey(s string) (string, error) {
	body, ok := strings.CutPrefix(s, KeyPrefix)
	if !ok || len(body) != keyEncoding.EncodedLen(keyBytes) {
		return "", ErrMalformedKey
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", ErrMalformedKey
		}
	}
	return s, nil
}

// HashKey returns the hex SHA-256 of a key: what the store keeps and looks up. A
// plain hash suffices because keys carry 256 random bits, so there is nothing to
// brute-force that a slow hash would protect.
func HashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ValidKeyID reports whether id has the shape NewKey gives key ids.
func ValidKeyID(id string) bool {
	h, ok := strings.CutPrefix(id, "key_")
	if !ok || len(h) != 16 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}
