// Package model names the models Tollgate serves: "provider/model", such as
// "openai/gpt-4o-mini" or "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0".
package model

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Providers Tollgate knows.
const (
	OpenAI  = "openai"
	Bedrock = "bedrock"
	Echo    = "echo"
)

// Name is a parsed "provider/model" name.
type Name struct {
	Provider string
	Model    string
}

// ErrMalformed is returned by Parse for a name that is not provider/model.
var ErrMalformed = errors.New("malformed model name")

// Parse parses "provider/model". The provider must be one Tollgate knows; the model
// part is 1-200 printable characters without spaces.
func Parse(s string) (Name, error) {
	p, m, ok := strings.Cut(s, "/")
	if !ok || p == "" || m == "" {
		return Name{}, fmt.Errorf("%w: %q: want provider/model, such as echo/echo-1", ErrMalformed, s)
	}
	switch p {
	case OpenAI, Bedrock, Echo:
	default:
		return Name{}, fmt.Errorf("%w: %q: unknown provider %q (want openai, bedrock or echo)", ErrMalformed, s, p)
	}
	if len(m) > 200 {
		return Name{}, fmt.Errorf("%w: %q: model part longer than 200 characters", ErrMalformed, s)
	}
	for _, r := range m {
		if r <= ' ' || r == 0x7f {
			return Name{}, fmt.Errorf("%w: %q: model part has a space or control character", ErrMalformed, s)
		}
	}
	return Name{Provider: p, Model: m}, nil
}

// String returns "provider/model", or "" for the zero Name.
func (n Name) String() string {
	if n.IsZero() {
		return ""
	}
	return n.Provider + "/" + n.Model
}

// IsZero reports whether n is the zero Name.
func (n Name) IsZero() bool { return n.Provider == "" && n.Model == "" }

// In reports whether n is in list.
func In(n Name, list []Name) bool { return slices.Contains(list, n) }
