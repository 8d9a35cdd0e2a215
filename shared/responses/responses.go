// Package responses holds the pure parts of stored Responses API answers: their
// ids (which also name the items of a response, so an item reference finds its
// response with one read) and what is kept of each. Storage is in package
// dynamo; the routes are in package gateway.
package responses

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate/tollgate/shared/session"
)

// ErrNotFound is returned for a response that does not exist, expired, or is
// another tenant's.
var ErrNotFound = errors.New("response not found")

// Stored is what is kept of one response.
type Stored struct {
	ID        string // resp_<key>
	TenantID  string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Object is the Response object as it was answered (JSON).
	Object []byte
	// Input is the request's input items with their ids (a JSON array), as GET
	// /v1/responses/{id}/input_items lists them.
	Input []byte
	// Conversation is what a later previous_response_id continues: the turns of
	// the chain that fit the history window, this response's last, each the
	// request's messages and the answer. Instructions are not part of it (as
	// with OpenAI, they do not carry over).
	Conversation []session.Turn
}

const keyLen = 32 // hex digits of a response key

// NewKey returns a random response key: 32 hex digits.
func NewKey() string {
	var b [keyLen / 2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// ID returns the response id of key.
func ID(key string) string { return "resp_" + key }

// ItemID returns the id of item n of the response with key: prefix (msg, fc, rs,
// fco) + "_" + key + n as four hex digits. Output items count from 0, input
// items from InputBase.
func ItemID(prefix, key string, n int) string { return fmt.Sprintf("%s_%s%04x", prefix, key, n) }

// InputBase is the number of a response's first input item in ItemID.
const InputBase = 0x8000

// ResponseOfItem returns the id of the response that item id belongs to, if it is
// an item id that ItemID made.
func ResponseOfItem(id string) (string, bool) {
	_, rest, ok := strings.Cut(id, "_")
	if !ok || len(rest) != keyLen+4 || !isHex(rest) {
		return "", false
	}
	return ID(rest[:keyLen]), true
}

// ValidID reports whether id is a response id that ID made.
func ValidID(id string) bool {
	key, ok := strings.CutPrefix(id, "resp_")
	return ok && len(key) == keyLen && isHex(key)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
