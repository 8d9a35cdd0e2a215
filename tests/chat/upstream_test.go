package chat_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// upstream is an OpenAI-compatible chat completions server the test steers chunk
// by chunk, for processes (the Lambda function) the test cannot hand a provider
// of its own: with Gated, it writes each chunk after the first only when the test
// calls release, so the test can prove each chunk left the function before the
// next one existed.
type upstream struct {
	URL string // base URL, ending in /v1

	mu       sync.Mutex
	script   upstreamScript
	requests []upstreamRequest
	step     chan struct{}
	closing  chan struct{}
}

type upstreamScript struct {
	Chunks   []string
	Gated    bool // wait for release before every chunk but the first
	CutAfter int  // > 0: cut the connection after that many chunks
}

type upstreamRequest struct {
	Model  string `json:"model"`
	Stream bool   `json:"stream"`
	Auth   string `json:"-"`
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{step: make(chan struct{}), closing: make(chan struct{})}
	ts := httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(func() {
		close(u.closing)
		ts.Close()
	})
	u.URL = ts.URL + "/v1"
	return u
}

// set makes the next requests answer as s says.
func (u *upstream) set(s upstreamScript) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.script = s
}

func (u *upstream) Requests() []upstreamRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]upstreamRequest(nil), u.requests...)
}

// release lets a gated answer write its next chunk; it fails the test if no
// answer waits for it.
func (u *upstream) release(t *testing.T) {
	t.Helper()
	select {
	case u.step <- struct{}{}:
	case <-time.After(waitTimeout):
		t.Fatal("upstream: no gated answer waits for its next chunk")
	}
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	var req struct {
		upstreamRequest
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	req.Auth = r.Header.Get("Authorization")
	u.mu.Lock()
	u.requests = append(u.requests, req.upstreamRequest)
	s := u.script
	u.mu.Unlock()

	usage := map[string]int{"prompt_tokens": 5, "completion_tokens": len(s.Chunks), "total_tokens": 5 + len(s.Chunks)}
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-up", "object": "chat.completion", "created": 0, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": strings.Join(s.Chunks, "")}}},
			"usage": usage,
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		if _, err := w.Write([]byte("data: " + string(b) + "\n\n")); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 0, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	if !send(chunk(map[string]any{"role": "assistant", "content": ""}, nil)) {
		return
	}
	for i, c := range s.Chunks {
		if s.CutAfter > 0 && i >= s.CutAfter {
			panic(http.ErrAbortHandler)
		}
		if s.Gated && i > 0 {
			select {
			case <-u.step:
			case <-r.Context().Done():
				return
			case <-u.closing:
				return
			}
		}
		if !send(chunk(map[string]any{"content": c}, nil)) {
			return
		}
	}
	if s.CutAfter > 0 {
		panic(http.ErrAbortHandler)
	}
	send(chunk(map[string]any{}, "stop"))
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		send(map[string]any{"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 0, "model": req.Model,
			"choices": []any{}, "usage": usage})
	}
	_, _ = w.Write([]byte("data: [DONE]\n\n"))
}
