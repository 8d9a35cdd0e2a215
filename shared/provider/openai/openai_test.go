package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/provider/openai"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
)

const apiKey = "sk-test-0123456789abcdef"

// hello asks the fake's default script to echo "Hello big world": three chunks,
// and five prompt tokens (one per word of every message).
func hello(model string) *chat.Request {
	return &chat.Request{
		Model: model,
		Messages: []chat.Message{
			chat.TextMessage(chat.RoleSystem, "Be brief."),
			chat.TextMessage(chat.RoleUser, "Hello big world"),
		},
	}
}

func newClient(srv *openaitest.Server) *openai.Client {
	return openai.New(srv.Client(), srv.URL, apiKey)
}

// result is what a stream yielded.
type result struct {
	Texts  []string
	Others []chat.Chunk // deltas other than text: reasoning, tool calls...
	Last   chat.Chunk   // the chunk without a delta, which ends a good stream
	Err    error        // io.EOF for a good stream
}

// isDelta reports whether c is a delta rather than one of the last chunks.
func isDelta(c chat.Chunk) bool {
	return c.Text != "" || c.Reasoning != "" || c.Refusal != "" || c.ToolCall != nil || c.Logprobs != ""
}

// drain reads s to its end. It fails the test when a chunk follows the last one.
func drain(t *testing.T, ctx context.Context, s chat.Stream) result {
	t.Helper()
	var r result
	sawLast := false
	for {
		c, err := s.Next(ctx)
		if err != nil {
			r.Err = err
			return r
		}
		if sawLast {
			t.Fatalf("chunk %+v after the last chunk", c)
		}
		switch {
		case !isDelta(c):
			r.Last, sawLast = c, true
		case c.Text != "" && c == chat.Chunk{Text: c.Text}:
			r.Texts = append(r.Texts, c.Text)
		default:
			r.Others = append(r.Others, c)
		}
	}
}

// providerError returns err as a *chat.ProviderError, or fails the test.
func providerError(t *testing.T, err error) *chat.ProviderError {
	t.Helper()
	var pe *chat.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v (%T), want a *chat.ProviderError", err, err)
	}
	return pe
}

func TestStream(t *testing.T) {
	tests := []struct {
		name   string
		script openaitest.Script
		req    func(*chat.Request)
		want   result
	}{
		{
			name: "echo with usage",
			want: result{
				Texts: []string{"Hello", " big", " world"},
				Last:  chat.Chunk{FinishReason: "stop", Usage: &chat.Usage{InputTokens: 5, OutputTokens: 3}},
				Err:   io.EOF,
			},
		},
		{
			name:   "provider usage mapped",
			script: openaitest.Script{Chunks: []string{"a"}, Usage: &chat.Usage{InputTokens: 1234, OutputTokens: 567}},
			want: result{
				Texts: []string{"a"},
				Last:  chat.Chunk{FinishReason: "stop", Usage: &chat.Usage{InputTokens: 1234, OutputTokens: 567}},
				Err:   io.EOF,
			},
		},
		{
			name:   "missing usage",
			script: openaitest.Script{OmitUsage: true},
			want:   result{Texts: []string{"Hello", " big", " world"}, Last: chat.Chunk{FinishReason: "stop"}, Err: io.EOF},
		},
		{
			name: "max tokens",
			req:  func(r *chat.Request) { r.MaxTokens = 2 },
			want: result{
				Texts: []string{"Hello", " big"},
				Last:  chat.Chunk{FinishReason: "length", Usage: &chat.Usage{InputTokens: 5, OutputTokens: 2}},
				Err:   io.EOF,
			},
		},
		{
			name:   "empty answer",
			script: openaitest.Script{Chunks: []string{}, FinishReason: "content_filter"},
			want: result{
				Last: chat.Chunk{FinishReason: "content_filter", Usage: &chat.Usage{InputTokens: 5}},
				Err:  io.EOF,
			},
		},
		{
			name:   "empty pieces skipped",
			script: openaitest.Script{Chunks: []string{"", "a", "", "b"}},
			want: result{
				Texts: []string{"a", "b"},
				Last:  chat.Chunk{FinishReason: "stop", Usage: &chat.Usage{InputTokens: 5, OutputTokens: 4}},
				Err:   io.EOF,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t, tt.script)
			req := hello("gpt-test")
			if tt.req != nil {
				tt.req(req)
			}
			s, err := newClient(srv).Stream(t.Context(), req)
			if err != nil {
				t.Fatalf("Stream error = %v", err)
			}
			defer s.Close()
			got := drain(t, t.Context(), s)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
				t.Errorf("stream mismatch (-want +got):\n%s", diff)
			}
			// io.EOF is final.
			if _, err := s.Next(t.Context()); err != io.EOF {
				t.Errorf("Next after io.EOF = %v, want io.EOF", err)
			}
		})
	}
}

// TestStreamTranscripts parses answers as real servers send them.
func TestStreamTranscripts(t *testing.T) {
	openaiSSE, err := os.ReadFile("testdata/openai.sse")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		body string
		want result
	}{
		{
			name: "api.openai.com",
			body: string(openaiSSE),
			want: result{
				Texts: []string{"Hello", "! <b>How</b> can I help?\n"},
				Last:  chat.Chunk{FinishReason: "stop", Usage: &chat.Usage{InputTokens: 19, OutputTokens: 10}},
				Err:   io.EOF,
			},
		},
		{
			name: "finish with the last text, usage on every chunk, nulls, crlf, no space",
			body: "data:{\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\r\n\r\n" +
				"data:{\"choices\":[{\"delta\":{\"content\":null},\"finish_reason\":null}],\"usage\":null}\r\n\r\n" +
				"data:{\"choices\":[{\"delta\":{\"content\":\"b\"},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\r\n\r\n" +
				"data:[DONE]\r\n\r\n",
			want: result{
				Texts: []string{"a", "b"},
				Last:  chat.Chunk{FinishReason: "length", Usage: &chat.Usage{InputTokens: 3, OutputTokens: 2}},
				Err:   io.EOF,
			},
		},
		{
			name: "azure prompt filter chunk, keep-alives, no usage",
			body: `data: {"choices":[],"prompt_filter_results":[{"prompt_index":0}]}` + "\n\n" +
				": keep-alive\n\n" +
				"data:\n\n" + "data:  \t\n\n" +
				`data: {"choices":[{"delta":{"content":null,"role":"assistant"},"finish_reason":null}]}` + "\n\n" +
				`data: {"choices":[{"delta":{"content":"x"},"finish_reason":null}]}` + "\n\n" +
				`data: {"choices":[{"delta":{},"finish_reason":"stop"}]}` + "\n\n" +
				"data: [DONE]",
			want: result{Texts: []string{"x"}, Last: chat.Chunk{FinishReason: "stop"}, Err: io.EOF},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t, openaitest.Script{Body: tt.body})
			s, err := newClient(srv).Stream(t.Context(), hello("m"))
			if err != nil {
				t.Fatalf("Stream error = %v", err)
			}
			defer s.Close()
			got := drain(t, t.Context(), s)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
				t.Errorf("stream mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStreamFailures(t *testing.T) {
	tests := []struct {
		name    string
		script  openaitest.Script
		texts   int // text chunks before the error
		class   chat.ErrorClass
		message string // contained in the error's Message
	}{
		{"cut", openaitest.Script{Chunks: []string{"a", "b", "c"}, DropAfter: 2}, 2, chat.ErrUnavailable, "stream ended before [DONE]"},
		{"cut before the finish chunk", openaitest.Script{Chunks: []string{"a"}, DropAfter: 1}, 1, chat.ErrUnavailable, "before [DONE]"},
		{"clean end without [DONE]", openaitest.Script{Body: "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"}, 1, chat.ErrUnavailable, "before [DONE]"},
		{"error event", openaitest.Script{Chunks: []string{"a", "b"}, ErrorAfter: 1, ErrorMessage: "The server is overloaded"}, 1, chat.ErrUnavailable, "The server is overloaded"},
		{"rate limit error event", openaitest.Script{ErrorAfter: 1, ErrorType: "tokens", ErrorCode: "rate_limit_exceeded", ErrorMessage: "slow down"}, 1, chat.ErrRateLimited, "slow down"},
		{"rate limit error type", openaitest.Script{ErrorAfter: 1, ErrorType: "rate_limit_error"}, 1, chat.ErrRateLimited, ""},
		{"string error", openaitest.Script{Body: "data: {\"error\":\"model crashed\"}\n\n"}, 0, chat.ErrUnavailable, "model crashed"},
		{"named error event", openaitest.Script{Body: "event: error\ndata: {\"message\":\"boom\"}\n\n"}, 0, chat.ErrUnavailable, "boom"},
		{"malformed chunk", openaitest.Script{Body: "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {oops\n\n"}, 1, chat.ErrUnavailable, "malformed chunk"},
		{"data after the value", openaitest.Script{Body: "data: {\"choices\":[]} x\n\n"}, 0, chat.ErrUnavailable, "malformed chunk"},
		{"two values", openaitest.Script{Body: "data: {\"choices\":[]}{\"choices\":[]}\n\n"}, 0, chat.ErrUnavailable, "malformed chunk"},
		{"extra brace", openaitest.Script{Body: "data: {\"choices\":[]}}\n\n"}, 0, chat.ErrUnavailable, "malformed chunk"},
		{"truncated value", openaitest.Script{Body: "data: {\"choices\":[\n\n"}, 0, chat.ErrUnavailable, "malformed chunk"},
		{"wrong types", openaitest.Script{Body: "data: {\"choices\":{}}\n\n"}, 0, chat.ErrUnavailable, "malformed chunk"},
		{"event too large", openaitest.Script{Body: "data: " + strings.Repeat("x", 2<<20) + "\n\n"}, 0, chat.ErrUnavailable, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t, tt.script)
			s, err := newClient(srv).Stream(t.Context(), hello("m"))
			if err != nil {
				t.Fatalf("Stream error = %v", err)
			}
			defer s.Close()
			got := drain(t, t.Context(), s)
			if len(got.Texts) != tt.texts || got.Last != (chat.Chunk{}) {
				t.Errorf("before the error: texts %q, last %+v; want %d texts and no last chunk", got.Texts, got.Last, tt.texts)
			}
			pe := providerError(t, got.Err)
			if pe.Class != tt.class || !strings.Contains(pe.Message, tt.message) {
				t.Errorf("error = %v (class %v, message %q), want class %v, message containing %q", pe, pe.Class, pe.Message, tt.class, tt.message)
			}
			if _, err := s.Next(t.Context()); err != got.Err {
				t.Errorf("Next after the error = %v, want the same error again", err)
			}
		})
	}
}

func TestStreamStatus(t *testing.T) {
	tests := []struct {
		status int
		class  chat.ErrorClass
	}{
		{400, chat.ErrBadRequest},
		{401, chat.ErrAuth},
		{403, chat.ErrAuth},
		{404, chat.ErrNotFound},
		{408, chat.ErrUnavailable},
		{409, chat.ErrUnavailable},
		{413, chat.ErrUnavailable},
		{422, chat.ErrBadRequest},
		{429, chat.ErrRateLimited},
		{500, chat.ErrUnavailable},
		{502, chat.ErrUnavailable},
		{503, chat.ErrUnavailable},
		{504, chat.ErrUnavailable},
		{302, chat.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := openaitest.NewServer(t, openaitest.Script{Status: tt.status, ErrorMessage: "upstream says no"})
			c := newClient(srv)
			_, err := c.Stream(t.Context(), hello("m"))
			pe := providerError(t, err)
			want := &chat.ProviderError{Class: tt.class, Status: tt.status, Message: "upstream says no"}
			if diff := cmp.Diff(want, pe); diff != "" {
				t.Errorf("Stream error mismatch (-want +got):\n%s", diff)
			}
			_, err = c.Complete(t.Context(), hello("m"))
			if diff := cmp.Diff(want, providerError(t, err)); diff != "" {
				t.Errorf("Complete error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes
	tests := []struct {
		name string
		body string
		want string
	}{
		{"openai shape", `{"error":{"message":"Bad thing","type":"invalid_request_error","param":null,"code":null}}`, "Bad thing"},
		{"string error", `{"error":"Bad thing"}`, "Bad thing"},
		{"not json", "<html>502 Bad Gateway</html>", ""},
		{"no message", `{"detail":"x"}`, ""},
		{"truncated on a rune", `{"error":{"message":"` + long + `"}}`, long[:500] + "…"},
		{"our key", `{"error":{"message":"Bad key ` + apiKey + `."}}`, "Bad key [redacted]."},
		{"masked key", `{"error":{"message":"Incorrect API key provided: sk-proj-********************abcd. See docs."}}`, "Incorrect API key provided: [redacted]. See docs."},
		{"invalid utf-8", `{"error":{"message":"a\udc00b"}}`, "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
				io.WriteString(w, tt.body)
			}))
			defer ts.Close()
			_, err := openai.New(ts.Client(), ts.URL, apiKey).Stream(t.Context(), hello("m"))
			pe := providerError(t, err)
			if pe.Message != tt.want {
				t.Errorf("Message = %q, want %q", pe.Message, tt.want)
			}
			if strings.Contains(err.Error(), apiKey) {
				t.Errorf("error %q contains the API key", err)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		header   string
		min, max time.Duration
	}{
		{"7", 7 * time.Second, 7 * time.Second},
		{" 0 ", 0, 0},
		{"-3", 0, 0},
		{"soon", 0, 0},
		{"99999999999999", 24 * time.Hour, 24 * time.Hour},
		{date, 80 * time.Second, 90 * time.Second},
		{"Mon, 02 Jan 2006 15:04:05 GMT", 0, 0}, // in the past
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tt.header)
				w.WriteHeader(http.StatusTooManyRequests)
			}))
			defer ts.Close()
			_, err := openai.New(ts.Client(), ts.URL, "").Stream(t.Context(), hello("m"))
			pe := providerError(t, err)
			if pe.Class != chat.ErrRateLimited || pe.RetryAfter < tt.min || pe.RetryAfter > tt.max {
				t.Errorf("error = %v with RetryAfter %v, want rate limited with RetryAfter in [%v, %v]", pe, pe.RetryAfter, tt.min, tt.max)
			}
		})
	}

	// Through the fake: whole seconds.
	srv := openaitest.NewServer(t, openaitest.Script{Status: 429, RetryAfter: 3 * time.Second})
	_, err := newClient(srv).Stream(t.Context(), hello("m"))
	if pe := providerError(t, err); pe.RetryAfter != 3*time.Second {
		t.Errorf("RetryAfter = %v, want 3s", pe.RetryAfter)
	}
}

func TestStreamJSONAnswer(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, `{"error":{"message":"streaming is not supported"}}`)
	}))
	defer ts.Close()
	_, err := openai.New(ts.Client(), ts.URL, "").Stream(t.Context(), hello("m"))
	pe := providerError(t, err)
	if pe.Class != chat.ErrUnavailable || pe.Message != "streaming is not supported" {
		t.Errorf("error = %v, want unavailable with the provider's message", pe)
	}
}

// waitDone waits until the fake has finished with request i.
func waitDone(t *testing.T, srv *openaitest.Server, i int) {
	t.Helper()
	select {
	case <-srv.Requests()[i].Done:
	case <-time.After(10 * time.Second):
		t.Fatal("the fake never saw the request end")
	}
}

func TestStreamCancel(t *testing.T) {
	tests := []struct {
		name string
		// ctxs returns the contexts for Stream and for Next, and the function
		// that cancels the one that matters.
		ctxs func(t *testing.T) (streamCtx, nextCtx context.Context, cancel func())
	}{
		{"request context", func(t *testing.T) (context.Context, context.Context, func()) {
			ctx, cancel := context.WithCancel(t.Context())
			return ctx, ctx, cancel
		}},
		{"request context, another for next", func(t *testing.T) (context.Context, context.Context, func()) {
			ctx, cancel := context.WithCancel(t.Context())
			return ctx, t.Context(), cancel
		}},
		{"next context", func(t *testing.T) (context.Context, context.Context, func()) {
			ctx, cancel := context.WithCancel(t.Context())
			return t.Context(), ctx, cancel
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t, openaitest.Script{Chunks: []string{"a", "b"}, Delay: time.Hour})
			streamCtx, nextCtx, cancel := tt.ctxs(t)
			s, err := newClient(srv).Stream(streamCtx, hello("m"))
			if err != nil {
				t.Fatalf("Stream error = %v", err)
			}
			defer s.Close()
			// Next blocks: the fake sent the role chunk and waits an hour before
			// the first text.
			time.AfterFunc(20*time.Millisecond, cancel)
			_, err = s.Next(nextCtx)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Next error = %v, want context.Canceled", err)
			}
			if !strings.HasPrefix(err.Error(), "openai: ") {
				t.Errorf("error %q, want the openai: prefix", err)
			}
			waitDone(t, srv, 0)
			if got := srv.Cancelled(); got != 1 {
				t.Errorf("fake's Cancelled() = %d, want 1: the upstream request was not cancelled", got)
			}
			if _, err2 := s.Next(t.Context()); err2 != err {
				t.Errorf("Next after cancel = %v, want %v again", err2, err)
			}
		})
	}
}

func TestStreamCancelBeforeHeaders(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Script{Hang: true})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for len(srv.Requests()) == 0 { // cancel once the fake has the request
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := newClient(srv).Stream(ctx, hello("m"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Stream error = %v, want context.Canceled", err)
	}
	waitDone(t, srv, 0)
	if got := srv.Cancelled(); got != 1 {
		t.Errorf("Cancelled() = %d, want 1", got)
	}
}

func TestStreamCancelledContext(t *testing.T) {
	srv := openaitest.NewServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := newClient(srv).Stream(ctx, hello("m")); !errors.Is(err, context.Canceled) {
		t.Errorf("Stream error = %v, want context.Canceled", err)
	}
}

func TestCloseCancelsUpstream(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Script{Chunks: []string{"a", "b"}, Delay: time.Hour})
	s, err := newClient(srv).Stream(t.Context(), hello("m"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	waitDone(t, srv, 0)
	if got := srv.Cancelled(); got != 1 {
		t.Errorf("Cancelled() = %d, want 1", got)
	}
}

func TestTimeouts(t *testing.T) {
	t.Run("deadline before headers", func(t *testing.T) {
		srv := openaitest.NewServer(t, openaitest.Script{Hang: true})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		_, err := newClient(srv).Stream(ctx, hello("m"))
		if pe := providerError(t, err); pe.Class != chat.ErrTimeout || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want a timeout wrapping context.DeadlineExceeded", err)
		}
	})
	t.Run("deadline mid-stream", func(t *testing.T) {
		srv := openaitest.NewServer(t, openaitest.Script{Chunks: []string{"a", "b"}, Delay: time.Hour})
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		s, err := newClient(srv).Stream(ctx, hello("m"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, err = s.Next(ctx)
		if pe := providerError(t, err); pe.Class != chat.ErrTimeout || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want a timeout wrapping context.DeadlineExceeded", err)
		}
	})
	t.Run("client timeout", func(t *testing.T) {
		srv := openaitest.NewServer(t, openaitest.Script{Hang: true})
		hc := srv.Client()
		hc.Timeout = 20 * time.Millisecond
		_, err := openai.New(hc, srv.URL, "").Stream(t.Context(), hello("m"))
		if pe := providerError(t, err); pe.Class != chat.ErrTimeout {
			t.Errorf("error = %v, want a timeout", err)
		}
	})
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/v1"
	l.Close()
	c := openai.New(nil, url, apiKey)
	_, err = c.Stream(t.Context(), hello("m"))
	if pe := providerError(t, err); pe.Class != chat.ErrUnavailable || pe.Status != 0 {
		t.Errorf("Stream error = %v, want unavailable without status", err)
	}
	_, err = c.Complete(t.Context(), hello("m"))
	if pe := providerError(t, err); pe.Class != chat.ErrUnavailable {
		t.Errorf("Complete error = %v, want unavailable", err)
	}
}

// body decodes the JSON body of recorded request i into a map.
func body(t *testing.T, srv *openaitest.Server, i int) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(srv.Requests()[i].Raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRequest(t *testing.T) {
	temp, topP := 0.0, 0.9
	tests := []struct {
		name string
		req  *chat.Request
		want map[string]any
	}{
		{
			name: "minimal",
			req:  &chat.Request{Model: "gpt-test", Messages: []chat.Message{chat.TextMessage("user", "hi")}},
			want: map[string]any{
				"model":          "gpt-test",
				"messages":       []any{map[string]any{"role": "user", "content": "hi"}},
				"stream":         true,
				"stream_options": map[string]any{"include_usage": true},
			},
		},
		{
			name: "no messages",
			req:  &chat.Request{Model: "gpt-test"},
			want: map[string]any{
				"model":          "gpt-test",
				"messages":       []any{},
				"stream":         true,
				"stream_options": map[string]any{"include_usage": true},
			},
		},
		{
			name: "everything",
			req: &chat.Request{
				Model:       "gpt-test",
				Messages:    []chat.Message{chat.TextMessage("system", "sys"), chat.TextMessage("user", "hi")},
				MaxTokens:   100,
				Temperature: &temp,
				TopP:        &topP,
				Stop:        []string{"END", "\n\n"},
				User:        "tenant-42",
			},
			want: map[string]any{
				"model": "gpt-test",
				"messages": []any{
					map[string]any{"role": "system", "content": "sys"},
					map[string]any{"role": "user", "content": "hi"},
				},
				"max_tokens":     100.0,
				"temperature":    0.0,
				"top_p":          0.9,
				"stop":           []any{"END", "\n\n"},
				"user":           "tenant-42",
				"stream":         true,
				"stream_options": map[string]any{"include_usage": true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t)
			s, err := newClient(srv).Stream(t.Context(), tt.req)
			if err == nil {
				s.Close()
			} else if len(tt.req.Messages) > 0 { // the fake rejects no messages, as OpenAI does
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, body(t, srv, 0)); diff != "" {
				t.Errorf("request body mismatch (-want +got):\n%s", diff)
			}
			r := srv.Requests()[0]
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer "+apiKey {
				t.Errorf("Authorization = %q, want the bearer key", got)
			}
		})
	}
}

func TestNoAuthorizationWithoutKey(t *testing.T) {
	srv := openaitest.NewServer(t)
	s, err := openai.New(srv.Client(), srv.URL, "").Stream(t.Context(), hello("m"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got, ok := srv.Requests()[0].Header["Authorization"]; ok {
		t.Errorf("Authorization = %q, want no header", got)
	}
}

func TestBaseURL(t *testing.T) {
	srv := openaitest.NewServer(t)
	for _, base := range []string{srv.URL, srv.URL + "/", srv.URL + "//"} {
		s, err := openai.New(srv.Client(), base, "").Stream(t.Context(), hello("m"))
		if err != nil {
			t.Fatalf("base %q: %v", base, err)
		}
		s.Close()
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			t.Errorf("path = %q, want /v1/chat/completions", r.URL.Path)
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer ts.Close()
	openai.New(ts.Client(), ts.URL+"/v1/", "").Stream(t.Context(), hello("m"))
}

// TestConnectionReuse checks that a stream read to its end and closed leaves its
// connection for the next request.
func TestConnectionReuse(t *testing.T) {
	var conns atomic.Int32
	ts := httptest.NewUnstartedServer(openaitest.NewHandler())
	ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	defer ts.Close()
	c := openai.New(ts.Client(), ts.URL+"/v1", "")
	for range 3 {
		s, err := c.Stream(t.Context(), hello("m"))
		if err != nil {
			t.Fatal(err)
		}
		if got := drain(t, t.Context(), s); got.Err != io.EOF {
			t.Fatalf("stream ended with %v", got.Err)
		}
		s.Close()
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("3 streams opened %d connections, want 1", got)
	}
}

func TestComplete(t *testing.T) {
	tests := []struct {
		name   string
		script openaitest.Script
		req    func(*chat.Request)
		want   chat.Completion
	}{
		{
			name: "echo",
			want: chat.TextCompletion("Hello big world", "stop", &chat.Usage{InputTokens: 5, OutputTokens: 3}),
		},
		{
			name: "max tokens",
			req:  func(r *chat.Request) { r.MaxTokens = 1 },
			want: chat.TextCompletion("Hello", "length", &chat.Usage{InputTokens: 5, OutputTokens: 1}),
		},
		{
			name:   "no usage",
			script: openaitest.Script{Chunks: []string{"x"}, OmitUsage: true},
			want:   chat.TextCompletion("x", "stop", nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t, tt.script)
			req := hello("m")
			if tt.req != nil {
				tt.req(req)
			}
			got, err := newClient(srv).Complete(t.Context(), req)
			if err != nil {
				t.Fatalf("Complete error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Complete mismatch (-want +got):\n%s", diff)
			}
			b := body(t, srv, 0)
			if b["stream"] != false || b["stream_options"] != nil {
				t.Errorf("request body %v, want stream false and no stream_options", b)
			}
		})
	}
}

func TestCompleteFailures(t *testing.T) {
	tests := []struct {
		name    string
		script  openaitest.Script
		class   chat.ErrorClass
		message string
	}{
		{"cut", openaitest.Script{DropAfter: 1}, chat.ErrUnavailable, ""},
		{"truncated", openaitest.Script{Body: `{"choices":[`}, chat.ErrUnavailable, "completion cut short"},
		{"malformed", openaitest.Script{Body: `{"choices":[}`}, chat.ErrUnavailable, "malformed completion"},
		{"wrong types", openaitest.Script{Body: `{"choices":{}}`}, chat.ErrUnavailable, "malformed completion"},
		{"error in a 200", openaitest.Script{Body: `{"error":{"message":"overloaded","type":"server_error"}}`}, chat.ErrUnavailable, "overloaded"},
		{"rate limit in a 200", openaitest.Script{Body: `{"error":{"message":"wait","code":"rate_limit_exceeded"}}`}, chat.ErrRateLimited, "wait"},
		{"no choices", openaitest.Script{Body: `{"choices":[]}`}, chat.ErrUnavailable, "without choices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t, tt.script)
			_, err := newClient(srv).Complete(t.Context(), hello("m"))
			pe := providerError(t, err)
			if pe.Class != tt.class || !strings.Contains(pe.Message, tt.message) {
				t.Errorf("error = %v, want class %v and message containing %q", pe, tt.class, tt.message)
			}
		})
	}
	t.Run("deadline", func(t *testing.T) {
		srv := openaitest.NewServer(t, openaitest.Script{Hang: true})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		_, err := newClient(srv).Complete(ctx, hello("m"))
		if pe := providerError(t, err); pe.Class != chat.ErrTimeout {
			t.Errorf("error = %v, want a timeout", err)
		}
	})
	t.Run("bad request", func(t *testing.T) {
		srv := openaitest.NewServer(t)
		nan := 0.0
		nan /= nan
		req := hello("m")
		req.Temperature = &nan
		_, err := newClient(srv).Complete(t.Context(), req)
		if pe := providerError(t, err); pe.Class != chat.ErrBadRequest {
			t.Errorf("error = %v, want a bad request", err)
		}
		if n := len(srv.Requests()); n != 0 {
			t.Errorf("%d requests sent, want none", n)
		}
	})
}

// TestConcurrentStreams shares one Client among goroutines; run it with -race.
func TestConcurrentStreams(t *testing.T) {
	srv := openaitest.NewServer(t)
	c := newClient(srv)
	errc := make(chan error, 16)
	for range cap(errc) {
		go func() {
			s, err := c.Stream(t.Context(), hello("m"))
			if err != nil {
				errc <- err
				return
			}
			defer s.Close()
			for {
				if _, err := s.Next(t.Context()); err != nil {
					if err == io.EOF {
						err = nil
					}
					errc <- err
					return
				}
			}
		}()
	}
	for range cap(errc) {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}
