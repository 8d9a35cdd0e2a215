// Package openaitest runs a fake OpenAI-compatible Chat Completions server that
// speaks the real wire format: streamed chat.completion.chunk events over SSE with
// a usage chunk and "data: [DONE]", non-streamed chat.completion objects, and
// OpenAI-shaped error bodies. Scripts chosen by model name make it echo, call
// tools, reason, refuse, stream slowly, hang, fail with a status, fail
// mid-stream or cut the connection; it validates requests as OpenAI does (tool
// names, tool messages against the calls they answer) and records every request
// it receives, decoded field by field.
//
// Unscripted, the fake answers like a model in an agent loop (see Script.Auto):
// it calls the tools a request offers with arguments valid for their schemas,
// answers tool results, and honours response_format.
//
// Tests use NewServer; a benchmark command serves NewHandler on a real port:
//
//	srv := openaitest.NewServer(t)
//	srv.Set("slow", openaitest.Script{Chunks: []string{"a", "b"}, Delay: time.Second})
//	srv.Set("busy", openaitest.Script{Status: 429, RetryAfter: 2 * time.Second})
//	c := openai.New(srv.Client(), srv.URL, "test-key")
//	// ... stream from c ...
//	if got := srv.Calls("busy"); got != 1 { ... }
//
// Scripted tool calls, and what reached the upstream:
//
//	srv.Set("tools", openaitest.Script{ToolCalls: []openaitest.ToolCall{
//		{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
//	}})
//	// ... stream from c ...
//	body := srv.Requests()[0].Body // an openaitest.Request
//	_ = body.Tools[0].Parameters   // the schema as sent
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

// Script says how the fake answers requests for one model. The zero Script
// answers automatically (see Auto): for a request without tools or
// response_format, it echoes the last user message word by word, as fast as it
// can.
//
// An answer streams as OpenAI streams it: a first chunk with the assistant role,
// then reasoning_content pieces, content pieces (with logprobs when the request
// asks for them), refusal pieces and tool calls (a chunk with index, id, type
// "function", function.name and empty arguments, then chunks of argument
// fragments with only index and function.arguments), then a chunk with the
// finish reason, the usage chunk and "data: [DONE]". With n > 1 the fake sends
// every chunk once per choice, each with its own index, the same words. A
// non-streamed answer says the same in message form.
type Script struct {
	// Chunks are the pieces of text streamed, one per chunk. When Chunks,
	// ToolCalls and Refusal are all unset, the fake answers as Auto says.
	Chunks []string
	// ToolCalls are the tool calls the answer makes, after the text of Chunks
	// (content is null when Chunks is empty). A call without an ID gets
	// "call_<request number>_<k>"; with n > 1, choice c > 0 has "_<c>" appended.
	ToolCalls []ToolCall
	// Refusal, when not empty, is a refusal streamed word by word (see Words) as
	// delta.refusal, and returned as message.refusal; content is null unless
	// Chunks has text.
	Refusal string
	// Reasoning are pieces of reasoning streamed before the answer as
	// delta.reasoning_content, as DeepSeek and vLLM do, and returned as
	// message.reasoning_content.
	Reasoning []string

	// Auto makes the fake answer as a model in an agent loop would, whatever
	// Chunks, ToolCalls and Refusal say. When the request offers tools
	// (tool_choice other than "none") and its last message is not a tool message,
	// it calls tools: the first two when parallel_tool_calls is not false, there
	// are at least two and tool_choice names none; else the named tool or the
	// first. Each call's arguments are schema.Example(parameters, last user
	// text). Otherwise it answers text: "results: " and the contents of the last
	// run of tool messages joined with "; ", or else the last user text; with a
	// json_schema response_format the content is schema.Example(schema, that
	// text), with json_object {"answer": that text}.
	Auto bool

	// FinishReason is reported at the end; "tool_calls" when there are tool
	// calls and "stop" otherwise when empty. When the request's max_tokens (or
	// max_completion_tokens) is smaller than the number of chunks, the answer
	// stops after that many chunks with "length".
	FinishReason string

	// Usage overrides the token counts reported, CacheReadTokens and
	// ReasoningTokens included (as prompt_tokens_details.cached_tokens and
	// completion_tokens_details.reasoning_tokens). By default the prompt counts
	// one token per word of every message's text (see Tokens), no cached tokens,
	// and every choice one token per chunk sent after the first (reasoning,
	// content, refusal, tool-call header and argument fragment), the reasoning
	// pieces also as reasoning tokens. A stream reports usage only when the
	// request asked with stream_options.include_usage, as OpenAI does.
	Usage *chat.Usage
	// OmitUsage never reports usage, as some compatible servers do.
	OmitUsage bool

	// FirstDelay passes before the response headers. Delay passes before every
	// chunk of a stream after the first (which has the assistant role and goes
	// out with the headers) up to the finish. Both end early when the client goes
	// away.
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
	// DropAfter, when positive, streams that many chunks after the first (fewer
	// if there are fewer; with n > 1, that many per choice) and then cuts the
	// connection, without a finish chunk or [DONE]. A non-streamed request is cut
	// before any answer.
	DropAfter int
	// ErrorAfter, when positive, streams that many chunks after the first (fewer
	// if there are fewer), then an in-band error event `data: {"error":{...}}` built from
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
