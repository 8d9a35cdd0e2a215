// Package openaitest runs a fake OpenAI-compatible Chat Completions server that
// speaks the real wire format: streamed chat.completion.chunk events over SSE with
// a usage chunk and "data: [DONE]", non-streamed chat.completion objects, and
// OpenAI-shaped error bodies. Scripts chosen by model name make it echo, stream
// slowly, hang, fail with a status, fail mid-stream or cut the connection, and it
// records every request it receives.
//
// Tests use NewServer; a benchmark command serves NewHandler on a real port:
//
//	srv := openaitest.NewServer(t)
//	srv.Set("slow", openaitest.Script{Chunks: []string{"a", "b"}, Delay: time.Second})
//	srv.Set("busy", openaitest.Script{Status: 429, RetryAfter: 2 * time.Second})
//	c := openai.New(srv.Client(), srv.URL, "test-key")
//	// ... stream from c ...
//	if got := srv.Calls("busy"); got != 1 { ... }
package openaitest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/tollgate/tollgate/shared/chat"
)

// Script says how the fake answers requests for one model. The zero Script echoes
// the last user message word by word, as fast as it can.
type Script struct {
	// Chunks are the pieces of text streamed, one per chunk. When nil, the fake
	// echoes the last user message split by Words.
	Chunks []string
	// FinishReason is reported at the end; "stop" when empty. When the request's
	// max_tokens (or max_completion_tokens) is smaller than the number of chunks,
	// the answer stops after that many chunks with "length".
	FinishReason string

	// Usage overrides the token counts reported. By default the prompt counts one
	// token per word of every message (see Tokens) and the completion one token
	// per chunk sent. A stream reports usage only when the request asked with
	// stream_options.include_usage, as OpenAI does.
	Usage *chat.Usage
	// OmitUsage never reports usage, as some compatible servers do.
	OmitUsage bool

	// FirstDelay passes before the response headers. Delay passes before every
	// text chunk of a stream (the first chunk, with the assistant role, goes out
	// with the headers). Both end early when the client goes away.
	FirstDelay time.Duration
	Delay      time.Duration

	// Status, when neither 0 nor 200, is the HTTP status of an OpenAI-shaped error
	// answer: {"error":{"message","type","param","code"}}. ErrorMessage defaults to
	// the status text and ErrorType to OpenAI's type for the status; ErrorCode is
	// null when empty. RetryAfter, when positive, is sent in a Retry-After header
	// in whole seconds, rounded up.
	Status       int
	ErrorMessage string
	ErrorType    string
	ErrorCode    string
	RetryAfter   time.Duration

	// Hang never answers: the handler waits until the client goes away (or the
	// Handler is closed).
	Hang bool
	// DropAfter, when positive, streams that many text chunks (fewer if there are
	// fewer) and then cuts the connection, without a finish chunk or [DONE]. A
	// non-streamed request is cut before any answer.
	DropAfter int
	// ErrorAfter, when positive, streams that many text chunks (fewer if there are
	// fewer), then an in-band error event `data: {"error":{...}}` built from
	// ErrorMessage, ErrorType ("server_error" when empty) and ErrorCode, and ends
	// the response without [DONE].
	ErrorAfter int

	// Body, when not empty, is sent verbatim with status 200 instead of a scripted
	// answer: as text/event-stream to a streamed request and as application/json
	// otherwise. Use it for malformed or unusual upstream output.
	Body string
}

// Words splits s into the pieces the fake echoes: every word with the whitespace
// before it, so that joining the pieces gives s back without its leading and
// trailing whitespace ("  Hello big world " gives "Hello", " big", " world").
// There are as many pieces as Tokens counts.
func Words(s string) []string {
	s = strings.TrimSpace(s)
	var words []string
	start, space := 0, -1 // space: where the current run of whitespace began
	for i, r := range s {
		switch {
		case unicode.IsSpace(r):
			if space < 0 {
				space = i
			}
		case space >= 0:
			words = append(words, s[start:space])
			start, space = space, -1
		}
	}
	if s != "" {
		words = append(words, s[start:])
	}
	return words
}

// Tokens counts the tokens of s the way the fake does: one per
// whitespace-separated word. The default prompt tokens of a request are the sum
// of Tokens over the contents of its messages.
func Tokens(s string) int { return len(strings.Fields(s)) }

// Server is a Handler served by an httptest.Server on loopback. Its Close, the
// Handler's, ends the requests in progress; the server itself closes when the
// test ends.
type Server struct {
	*Handler
	// URL is the base URL of the API, ending in "/v1", as clients expect it:
	// requests go to URL + "/chat/completions".
	URL string
	ts  *httptest.Server
}

// NewServer starts a fake server that is closed when the test ends. def, when
// given (at most one), is the default Script, used for models without their own;
// otherwise the default is the zero Script (echo).
func NewServer(tb testing.TB, def ...Script) *Server {
	tb.Helper()
	if len(def) > 1 {
		tb.Fatalf("openaitest.NewServer: at most one default script, got %d", len(def))
	}
	h := NewHandler()
	if len(def) == 1 {
		h.SetDefault(def[0])
	}
	ts := httptest.NewServer(h)
	tb.Cleanup(func() {
		h.Close() // ends hung requests, so ts.Close does not wait for them
		ts.Close()
	})
	return &Server{Handler: h, URL: ts.URL + "/v1", ts: ts}
}

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// CloseClientConnections closes every connection to the server, idle or not;
// requests in progress see their connection cut.
func (s *Server) CloseClientConnections() { s.ts.CloseClientConnections() }
