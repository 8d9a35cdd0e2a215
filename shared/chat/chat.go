// Package chat holds the vocabulary every part of Tollgate shares about a chat
// completion: the request a provider receives, the chunks it streams back, token
// usage, and the classified errors that drive fallback. It imports nothing from the
// project, as io imports nothing from its users.
package chat

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Roles a message may have.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one turn of a conversation. Content is plain text.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is what a provider is asked to complete. Model is the provider's own model
// name (the part after "provider/"), never the full Tollgate name.
type Request struct {
	Model       string
	Messages    []Message // system messages included, in order
	MaxTokens   int       // > 0: the upper bound of output tokens
	Temperature *float64
	TopP        *float64
	Stop        []string
	User        string
}

// Finish reasons, in OpenAI's vocabulary.
const (
	FinishStop   = "stop"
	FinishLength = "length"
	// FinishContentFilter is reported when the provider withheld content.
	FinishContentFilter = "content_filter"
)

// Chunk is one piece of a streamed answer. A provider's stream yields text chunks,
// then a final chunk with FinishReason and, when the provider reports it, Usage.
type Chunk struct {
	Text         string
	FinishReason string // set on the last chunk only
	Usage        *Usage // set on the last chunk only, when the provider reports usage
}

// Completion is a whole answer from a non-streaming call.
type Completion struct {
	Text         string
	FinishReason string
	Usage        *Usage // nil when the provider reported none
}

// Usage counts the tokens of one completion.
type Usage struct {
	InputTokens  int  `json:"inputTokens"`
	OutputTokens int  `json:"outputTokens"`
	Estimated    bool `json:"estimated"` // true when Tollgate counted, not the provider
}

// Total returns input plus output tokens.
func (u Usage) Total() int { return u.InputTokens + u.OutputTokens }

// Stream is a provider's answer in progress. Next returns io.EOF after the last
// chunk. Close releases the connection; it is safe to call more than once.
type Stream interface {
	Next(ctx context.Context) (Chunk, error)
	Close() error
}

type traceKey struct{}

// WithTraceID returns ctx carrying the request's AWS X-Ray trace header
// (X-Amzn-Trace-Id), which providers on AWS forward with their calls.
func WithTraceID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, id)
}

// TraceID returns the trace header carried by ctx, or "".
func TraceID(ctx context.Context) string {
	id, _ := ctx.Value(traceKey{}).(string)
	return id
}

// ErrorClass is the small set of provider failures the gateway decides on.
type ErrorClass int

// The classes. Retryable reports which ones fallback may retry on another model.
const (
	ErrUnavailable ErrorClass = iota // 5xx, connection refused or cut, malformed answer
	ErrRateLimited                   // provider said 429 or throttled
	ErrTimeout                       // no answer (or no first token) in time
	ErrBadRequest                    // provider rejected the request itself (400)
	ErrAuth                          // provider refused our credentials (401/403)
	ErrNotFound                      // provider does not know the model (404)
)

func (c ErrorClass) String() string {
	switch c {
	case ErrUnavailable:
		return "unavailable"
	case ErrRateLimited:
		return "rate_limited"
	case ErrTimeout:
		return "timeout"
	case ErrBadRequest:
		return "bad_request"
	case ErrAuth:
		return "auth"
	case ErrNotFound:
		return "not_found"
	}
	return fmt.Sprintf("ErrorClass(%d)", int(c))
}

// Retryable reports whether another attempt (on a fallback model) may succeed.
func (c ErrorClass) Retryable() bool {
	return c == ErrUnavailable || c == ErrRateLimited || c == ErrTimeout
}

// ProviderError is a classified provider failure. Message is the provider's own text,
// safe to show a client (it never holds credentials); Err is the cause, for logs.
type ProviderError struct {
	Class      ErrorClass
	Status     int           // upstream HTTP status, when there was one
	Message    string        // provider's message, client-safe
	RetryAfter time.Duration // from the provider's Retry-After, when given
	Err        error
}

func (e *ProviderError) Error() string {
	msg := "provider " + e.Class.String()
	if e.Status != 0 {
		msg += fmt.Sprintf(" (status %d)", e.Status)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ProviderError) Unwrap() error { return e.Err }

// ClassOf returns the class of err: its ProviderError's class, ErrTimeout for a
// deadline, and ErrUnavailable for anything else.
func ClassOf(err error) ErrorClass {
	var pe *ProviderError
	if errors.As(err, &pe) {
		return pe.Class
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrTimeout
	}
	return ErrUnavailable
}
