// Package apierr is the one error type a Tollgate client sees, rendered as OpenAI's
// error JSON: {"error":{"message","type","param","code"}}. Domain packages return
// plain errors and sentinels; the HTTP edge maps them to *Error.
package apierr

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Kind decides an error's HTTP status and its OpenAI error.type. The table is an API
// contract, pinned by golden tests and documented in docs/api.md.
type Kind int

// The kinds.
const (
	Internal         Kind = iota // 500 server_error; message always "internal error"
	Invalid                      // 400 invalid_request_error
	Unauthenticated              // 401 authentication_error
	Forbidden                    // 403 permission_error
	NotFound                     // 404 invalid_request_error
	Conflict                     // 409 invalid_request_error
	TooLarge                     // 413 invalid_request_error
	RateLimited                  // 429 rate_limit_error
	BudgetExceeded               // 429 insufficient_quota
	BadGateway                   // 502 upstream_error
	Unavailable                  // 503 service_unavailable_error
	Timeout                      // 504 timeout_error
	MethodNotAllowed             // 405 invalid_request_error
)

var kinds = map[Kind]struct {
	status int
	typ    string
}{
	Internal:         {http.StatusInternalServerError, "server_error"},
	Invalid:          {http.StatusBadRequest, "invalid_request_error"},
	Unauthenticated:  {http.StatusUnauthorized, "authentication_error"},
	Forbidden:        {http.StatusForbidden, "permission_error"},
	NotFound:         {http.StatusNotFound, "invalid_request_error"},
	MethodNotAllowed: {http.StatusMethodNotAllowed, "invalid_request_error"},
	Conflict:         {http.StatusConflict, "invalid_request_error"},
	TooLarge:         {http.StatusRequestEntityTooLarge, "invalid_request_error"},
	RateLimited:      {http.StatusTooManyRequests, "rate_limit_error"},
	BudgetExceeded:   {http.StatusTooManyRequests, "insufficient_quota"},
	BadGateway:       {http.StatusBadGateway, "upstream_error"},
	Unavailable:      {http.StatusServiceUnavailable, "service_unavailable_error"},
	Timeout:          {http.StatusGatewayTimeout, "timeout_error"},
}

// Status returns the HTTP status of k.
func (k Kind) Status() int { return kinds[k].status }

// Type returns the OpenAI error.type of k.
func (k Kind) Type() string { return kinds[k].typ }

// Error is an error that is safe to show to an API client.
type Error struct {
	Kind       Kind
	Code       string        // machine-readable, e.g. "model_not_found"; optional
	Param      string        // offending request field path; optional
	Message    string        // client-safe text
	RetryAfter time.Duration // > 0 adds a Retry-After header (whole seconds, rounded up)
	// NoRetry adds x-should-retry: false, which the OpenAI SDKs honour instead of
	// their automatic retries: for a refusal that no retry can pass before
	// RetryAfter (a budget until its period resets), which they would otherwise
	// sleep out.
	NoRetry bool
	Err     error // cause; logged, never rendered
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error of kind k with code and message.
func New(k Kind, code, message string) *Error {
	return &Error{Kind: k, Code: code, Message: message}
}

// InvalidParam returns a 400 naming the offending field.
func InvalidParam(code, param, message string) *Error {
	return &Error{Kind: Invalid, Code: code, Param: param, Message: message}
}

// StoreUnavailable is the 503 for a database that cannot be reached: Tollgate
// fails closed, so nothing runs unauthenticated or unmetered. what says what could
// not be done, e.g. "meter this request".
func StoreUnavailable(what string, err error) *Error {
	return &Error{Kind: Unavailable, Code: "store_unavailable",
		Message: "the gateway cannot reach its database to " + what + "; retry later", Err: err}
}

// From returns err as an *Error: itself when it is one (or wraps one), else an
// Internal error wrapping it.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: Internal, Err: err}
}

// HeaderShouldRetry tells the OpenAI SDKs whether to retry a failed request.
const HeaderShouldRetry = "x-should-retry"

// Payload is the JSON body of an error response.
type Payload struct {
	Error Detail `json:"error"`
}

// Detail is the inner object of Payload, in OpenAI's field order.
type Detail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// Body returns the client-facing payload of err. Errors that are not *Error, and
// Internal ones, render "internal error" so internals never leak.
func Body(err error) Payload {
	e := From(err)
	d := Detail{Message: e.Message, Type: e.Kind.Type()}
	if e.Kind == Internal {
		d.Message = "internal error"
		return Payload{Error: d}
	}
	if e.Param != "" {
		d.Param = &e.Param
	}
	if e.Code != "" {
		d.Code = &e.Code
	}
	return Payload{Error: d}
}

// Write writes err as a JSON error response: status from its Kind, Retry-After when
// set, and the OpenAI-shaped body.
func Write(w http.ResponseWriter, err error) {
	e := From(err)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(RetrySeconds(e.RetryAfter), 10))
	}
	if e.NoRetry {
		h.Set(HeaderShouldRetry, "false")
	}
	w.WriteHeader(e.Kind.Status())
	enc := json.NewEncoder(w) // writes the trailing newline
	enc.SetEscapeHTML(false)  // messages name things like <ADMIN_API_KEY>
	_ = enc.Encode(Body(e))   // cannot fail: strings and pointers only
}

// RetrySeconds rounds d up to whole seconds, at least 1.
func RetrySeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}
