package lambda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/tests/lambdatest"
)

// upstreamKey is the OpenAI-compatible provider key the chat function is given.
const upstreamKey = "sk-upstream-test-key"

// TestChatFunctionURL runs the chat function's bootstrap against the fake Lambda
// Runtime API with the function URL events (events/chat-url-*.json), which the
// optional function URL delivers (template.yaml, EnableFunctionUrl): the function
// must answer them with the function URL prelude and stream chunk by chunk, and
// the same process must still answer REST API events with the REST prelude.
// tests/chat covers the REST API events in depth.
func TestChatFunctionURL(t *testing.T) {
	t.Parallel()
	env, table := functionEnv(t, nil)
	st := dynamo.New(dynamotest.Require(t, ddb).Client(), table)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	now := time.Now()
	cfg, _, err := st.PutTenant(ctx, tenant.Config{ID: "acme", TokenBudget: tenant.Budget{Daily: 1_000_000}}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateKey(ctx, tenant.Key{ID: "key_0123456789abcdef", TenantID: "acme", CreatedAt: now, Incarnation: cfg.Incarnation}, tenant.HashKey(eventKey)); err != nil {
		t.Fatal(err)
	}
	chunks := []string{"Hello", " from", " the URL"}
	up := newGatedUpstream(t, chunks)
	env["MODELS"] = "openai/gpt-url"
	env["OPENAI_BASE_URL"] = up.URL
	env["OPENAI_API_KEY"] = upstreamKey
	rt := lambdatest.StartRuntime(t, lambdatest.Build(t, "chat"), env)

	invoke := func(t *testing.T, event string) *lambdatest.StreamedResponse {
		t.Helper()
		ev, err := os.ReadFile("../../events/" + event)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := rt.Invoke(ctx, ev)
		if err != nil {
			t.Fatalf("invoke %s: %v", event, err)
		}
		if resp.ContentType != lambdatest.StreamingContentType {
			t.Errorf("%s: response Content-Type %q, want %q (streamed)", event, resp.ContentType, lambdatest.StreamingContentType)
		}
		if resp.Prelude.StatusCode != http.StatusOK {
			b, _ := resp.Body(ctx)
			t.Fatalf("%s: prelude %s, body %s", event, resp.PreludeBytes, b)
		}
		return resp
	}
	// urlPrelude checks the function URL prelude's shape: single-valued headers,
	// no multiValueHeaders (which only the REST API prelude has).
	// x-request-id is the function URL's request id.
	urlPrelude := func(t *testing.T, resp *lambdatest.StreamedResponse, requestID, contentType string) {
		t.Helper()
		p := resp.Prelude
		if len(p.MultiValueHeaders) != 0 || len(p.Headers) == 0 {
			t.Errorf("prelude %s: want the function URL shape (headers, no multiValueHeaders)", resp.PreludeBytes)
		}
		if got := header(p.Headers, nil, "x-request-id"); got != requestID {
			t.Errorf("x-request-id = %q, want the function URL request id %q", got, requestID)
		}
		if got := header(p.Headers, nil, "Content-Type"); !strings.HasPrefix(got, contentType) {
			t.Errorf("Content-Type = %q, want %s", got, contentType)
		}
	}
	ended := func(t *testing.T, resp *lambdatest.StreamedResponse) []byte {
		t.Helper()
		body, err := resp.Body(ctx)
		if err != nil {
			t.Fatalf("body ended with %v:\n%s", err, body)
		}
		if tr := resp.Trailer(); tr.Get(lambdatest.TrailerErrorType) != "" {
			t.Errorf("error trailers %v", tr)
		}
		return body
	}

	t.Run("models", func(t *testing.T) {
		resp := invoke(t, "chat-url-models.json")
		urlPrelude(t, resp, "8f5e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "application/json")
		if body := ended(t, resp); !bytes.Contains(body, []byte(`"openai/gpt-url"`)) {
			t.Errorf("body %s, want the catalog", body)
		}
	})

	t.Run("completions stream", func(t *testing.T) {
		resp := invoke(t, "chat-url-completions-stream.json") // returns once the prelude is in
		urlPrelude(t, resp, "1b2c3d4e-5f60-4718-9a0b-c1d2e3f40516", "text/event-stream")
		sse := &sseReader{ctx: ctx, resp: resp}
		for i, want := range chunks {
			// The upstream has not written chunk i+1 yet: it waits for release.
			if got := sse.nextText(t); got != want {
				t.Fatalf("chunk %d = %q, want %q", i, got, want)
			}
			if i+1 < len(chunks) {
				up.releaseNext(ctx, t)
			}
		}
		body := ended(t, resp)
		if !bytes.HasSuffix(bytes.TrimSpace(body), []byte("data: [DONE]")) {
			t.Errorf("body does not end with [DONE]:\n%s", body)
		}
		if got := up.auth(); got != "Bearer "+upstreamKey {
			t.Errorf("upstream Authorization = %q, want the configured key", got)
		}
	})

	t.Run("REST API event on the same process", func(t *testing.T) {
		resp := invoke(t, "chat-models.json")
		if len(resp.Prelude.MultiValueHeaders) == 0 {
			t.Errorf("prelude %s: want the REST API shape (multiValueHeaders)", resp.PreludeBytes)
		}
		ended(t, resp)
	})

	t.Run("unknown event", func(t *testing.T) {
		_, err := rt.Invoke(ctx, []byte(`{"source":"aws.events"}`))
		var fe *lambdatest.FunctionError
		if !errors.As(err, &fe) || !strings.Contains(fe.Message, "neither") {
			t.Errorf("invoke with an unknown event: %v, want the function's error naming both front doors", err)
		}
	})
}

// sseReader reads the data events of a streamed SSE body as they arrive.
type sseReader struct {
	ctx  context.Context
	resp *lambdatest.StreamedResponse
	buf  []byte
}

// nextText returns the text of the next chat.completion.chunk that carries some,
// skipping comments (keep-alives) and chunks without text.
func (r *sseReader) nextText(t *testing.T) string {
	t.Helper()
	for {
		for {
			i := bytes.Index(r.buf, []byte("\n\n"))
			if i < 0 {
				break
			}
			ev := r.buf[:i]
			r.buf = r.buf[i+2:]
			data, ok := bytes.CutPrefix(ev, []byte("data: "))
			if !ok || string(data) == "[DONE]" {
				continue
			}
			var c struct {
				Choices []struct {
					Delta struct {
						Content string `json:"content"`
					} `json:"delta"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(data, &c); err != nil {
				t.Fatalf("event %q: %v", data, err)
			}
			if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
				return c.Choices[0].Delta.Content
			}
		}
		c, err := r.resp.Next(r.ctx)
		if err != nil {
			t.Fatalf("waiting for a chunk: %v (unread %q)", err, r.buf)
		}
		r.buf = append(r.buf, c.Data...)
	}
}

// gatedUpstream is an OpenAI-compatible Chat Completions server that streams its
// chunks one at a time: before each chunk after the first it waits until the
// test calls releaseNext, so a chunk the test reads left the function before the
// next one existed. Streaming is proven by order, not by timing.
type gatedUpstream struct {
	URL     string
	chunks  []string
	release chan struct{}

	mu       sync.Mutex
	lastAuth string
}

func newGatedUpstream(t *testing.T, chunks []string) *gatedUpstream {
	u := &gatedUpstream{chunks: chunks, release: make(chan struct{})}
	closing := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { u.serve(w, r, closing) }))
	t.Cleanup(func() {
		close(closing) // release handlers still waiting, so Close does not hang
		srv.Close()
	})
	u.URL = srv.URL + "/v1"
	return u
}

func (u *gatedUpstream) auth() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lastAuth
}

// releaseNext lets the waiting stream write its next chunk.
func (u *gatedUpstream) releaseNext(ctx context.Context, t *testing.T) {
	t.Helper()
	select {
	case u.release <- struct{}{}:
	case <-ctx.Done():
		t.Fatalf("the upstream stream is not waiting for a release: %v", ctx.Err())
	}
}

func (u *gatedUpstream) serve(w http.ResponseWriter, r *http.Request, closing <-chan struct{}) {
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	if r.URL.Path != "/v1/chat/completions" || json.NewDecoder(r.Body).Decode(&req) != nil || !req.Stream {
		http.Error(w, `{"error":{"message":"this fake only streams chat completions","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	u.mu.Lock()
	u.lastAuth = r.Header.Get("Authorization")
	u.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		_ = rc.Flush()
	}
	chunk := func(delta map[string]string, finish any) map[string]any {
		return map[string]any{"id": "chatcmpl-url", "object": "chat.completion.chunk", "created": 1795600800, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	for i, text := range u.chunks {
		if i > 0 {
			select {
			case <-u.release:
			case <-r.Context().Done():
				return
			case <-closing:
				return
			}
		}
		send(chunk(map[string]string{"content": text}, nil))
	}
	send(chunk(map[string]string{}, "stop"))
	send(map[string]any{"id": "chatcmpl-url", "object": "chat.completion.chunk", "created": 1795600800, "model": req.Model,
		"choices": []any{}, "usage": map[string]int{"prompt_tokens": 6, "completion_tokens": len(u.chunks), "total_tokens": 6 + len(u.chunks)}})
	fmt.Fprint(w, "data: [DONE]\n\n")
}
