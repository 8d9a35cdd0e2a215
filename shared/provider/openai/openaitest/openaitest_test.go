package openaitest_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
	"github.com/tollgate/tollgate/shared/sse"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// post sends body to the server's chat completions endpoint.
func post(t *testing.T, ctx context.Context, srv *openaitest.Server, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer test-key")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

var created = regexp.MustCompile(`"created":\d+`)

// golden compares got, with its timestamps zeroed, with testdata/name; go test
// -update rewrites the file.
func golden(t *testing.T, name, got string) {
	t.Helper()
	got = created.ReplaceAllString(got, `"created":0`)
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("mismatch with %s (-want +got):\n%s", path, diff)
	}
}

const helloStream = `{"model":"gpt-test","messages":[{"role":"system","content":"Be brief."},` +
	`{"role":"user","content":"Hello big world"}],"stream":true,"stream_options":{"include_usage":true}}`

func TestStreamWireFormat(t *testing.T) {
	srv := openaitest.NewServer(t)
	resp := post(t, t.Context(), srv, helloStream)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	golden(t, "stream.sse", readBody(t, resp))
}

func TestCompletionWireFormat(t *testing.T) {
	srv := openaitest.NewServer(t)
	resp := post(t, t.Context(), srv, `{"model":"gpt-test","messages":[{"role":"user","content":"Hello big world"}]}`)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	golden(t, "completion.json", readBody(t, resp))
}

func TestErrorWireFormat(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Script{Status: 429, ErrorMessage: "Rate limit reached", ErrorCode: "rate_limit_exceeded", RetryAfter: 1500 * time.Millisecond})
	resp := post(t, t.Context(), srv, helloStream)
	if resp.StatusCode != 429 {
		t.Errorf("status = %d, want 429", resp.StatusCode)
	}
	if got := resp.Header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2 (rounded up)", got)
	}
	golden(t, "error.json", readBody(t, resp))
}

// events reads a stream's events as strings.
func events(t *testing.T, resp *http.Response) ([]string, error) {
	t.Helper()
	r := sse.NewReader(resp.Body, 0)
	var out []string
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, string(ev.Data))
	}
}

// texts decodes the content and finish reason of stream events.
func texts(t *testing.T, evs []string) (text []string, finish string, usage map[string]int) {
	t.Helper()
	for _, e := range evs {
		if e == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Delta struct {
					Content *string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage map[string]any `json:"usage"`
		}
		if err := json.Unmarshal([]byte(e), &c); err != nil {
			t.Fatalf("event %q: %v", e, err)
		}
		if c.Usage != nil {
			// The counts; the details objects are checked elsewhere.
			usage = map[string]int{}
			for k, v := range c.Usage {
				if n, ok := v.(float64); ok {
					usage[k] = int(n)
				}
			}
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil && *ch.Delta.Content != "" {
				text = append(text, *ch.Delta.Content)
			}
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
	}
	return text, finish, usage
}

func TestScripts(t *testing.T) {
	tests := []struct {
		name   string
		script openaitest.Script
		body   string
		text   []string
		finish string
		usage  map[string]int
	}{
		{
			name: "echo", body: helloStream,
			text: []string{"Hello", " big", " world"}, finish: "stop",
			usage: map[string]int{"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
		},
		{
			name: "chunks and finish", script: openaitest.Script{Chunks: []string{"a", "b"}, FinishReason: "content_filter"},
			body: helloStream, text: []string{"a", "b"}, finish: "content_filter",
			usage: map[string]int{"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
		},
		{
			name: "usage given", script: openaitest.Script{Usage: &chat.Usage{InputTokens: 10, OutputTokens: 20}},
			body: helloStream, text: []string{"Hello", " big", " world"}, finish: "stop",
			usage: map[string]int{"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
		},
		{
			name: "usage omitted", script: openaitest.Script{OmitUsage: true},
			body: helloStream, text: []string{"Hello", " big", " world"}, finish: "stop",
		},
		{
			name: "usage not asked",
			body: `{"model":"m","messages":[{"role":"user","content":"Hello big world"}],"stream":true}`,
			text: []string{"Hello", " big", " world"}, finish: "stop",
		},
		{
			name: "max_tokens",
			body: `{"model":"m","messages":[{"role":"user","content":"a b c d"}],"max_tokens":2,"stream":true,"stream_options":{"include_usage":true}}`,
			text: []string{"a", " b"}, finish: "length",
			usage: map[string]int{"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
		},
		{
			name: "max_completion_tokens",
			body: `{"model":"m","messages":[{"role":"user","content":"a b c d"}],"max_completion_tokens":3,"stream":true}`,
			text: []string{"a", " b", " c"}, finish: "length",
		},
		{
			name: "max_tokens not reached",
			body: `{"model":"m","messages":[{"role":"user","content":"a b"}],"max_tokens":2,"stream":true}`,
			text: []string{"a", " b"}, finish: "stop",
		},
		{
			name: "echoes the last user message, content parts too",
			body: `{"model":"m","messages":[{"role":"user","content":"first"},{"role":"assistant","content":"x"},` +
				`{"role":"user","content":[{"type":"text","text":"second "},{"type":"image_url","image_url":{"url":"u"}},{"type":"text","text":"part"}]}],"stream":true}`,
			text: []string{"second", " part"}, finish: "stop",
		},
		{
			name: "delays", script: openaitest.Script{Chunks: []string{"x"}, FirstDelay: time.Millisecond, Delay: time.Millisecond},
			body: helloStream, text: []string{"x"}, finish: "stop",
			usage: map[string]int{"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t, tt.script)
			evs, err := events(t, post(t, t.Context(), srv, tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 || evs[len(evs)-1] != "[DONE]" {
				t.Fatalf("stream does not end with [DONE]: %q", evs)
			}
			text, finish, usage := texts(t, evs)
			if diff := cmp.Diff(tt.text, text); diff != "" {
				t.Errorf("text mismatch (-want +got):\n%s", diff)
			}
			if finish != tt.finish {
				t.Errorf("finish_reason = %q, want %q", finish, tt.finish)
			}
			if diff := cmp.Diff(tt.usage, usage); diff != "" {
				t.Errorf("usage mismatch (-want +got):\n%s", diff)
			}
			if strings.Contains(tt.body, "include_usage") != strings.Contains(evs[0], `"usage":null`) {
				t.Errorf(`first chunk %s: "usage":null present when and only when usage is asked for`, evs[0])
			}
		})
	}
}

func TestRawBody(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Script{Body: "data: {oops\n\n"})
	resp := post(t, t.Context(), srv, helloStream)
	if got := readBody(t, resp); got != "data: {oops\n\n" {
		t.Errorf("body = %q", got)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
}

func TestErrorAfter(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Script{Chunks: []string{"a", "b", "c"}, ErrorAfter: 2, ErrorMessage: "overloaded"})
	evs, err := events(t, post(t, t.Context(), srv, helloStream))
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if want := `{"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}`; last != want {
		t.Errorf("last event = %s, want %s", last, want)
	}
	if text, _, _ := texts(t, evs[:len(evs)-1]); len(text) != 2 {
		t.Errorf("text before the error = %q, want 2 chunks", text)
	}
}

func TestDropAfter(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Script{Chunks: []string{"a", "b", "c"}, DropAfter: 2})
	evs, err := events(t, post(t, t.Context(), srv, helloStream))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read error = %v, want unexpected EOF", err)
	}
	if text, _, _ := texts(t, evs); len(text) != 2 {
		t.Errorf("text before the cut = %q, want 2 chunks", text)
	}

	// A non-streamed request is cut before any answer.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	if resp, err := srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("non-streamed request answered %s, want a cut connection", resp.Status)
	}
}

func TestRequestsAndCalls(t *testing.T) {
	srv := openaitest.NewServer(t)
	post(t, t.Context(), srv, `{"model":"a","messages":[{"role":"user","content":"x"}],"stop":"END","temperature":0.5,"top_p":1,"user":"u1","max_tokens":9}`)
	post(t, t.Context(), srv, `{"model":"b","messages":[{"role":"user","content":null}],"stop":["x","y"],"stream":true}`)
	post(t, t.Context(), srv, `{"model":"a","messages":[{"role":"user","content":"x"}]}`)
	post(t, t.Context(), srv, `{not json`)

	if got := srv.Calls("a"); got != 2 {
		t.Errorf("Calls(a) = %d, want 2", got)
	}
	if got := srv.Calls("b"); got != 1 {
		t.Errorf("Calls(b) = %d, want 1", got)
	}
	reqs := srv.Requests()
	if len(reqs) != 4 {
		t.Fatalf("len(Requests()) = %d, want 4", len(reqs))
	}
	temp, topP := 0.5, 1.0
	want := []openaitest.Request{
		{Model: "a", Messages: []openaitest.Message{{Role: "user", Content: "x"}}, Stop: openaitest.Stop{"END"}, Temperature: &temp, TopP: &topP, User: "u1", MaxTokens: 9},
		{Model: "b", Messages: []openaitest.Message{{Role: "user"}}, Stop: openaitest.Stop{"x", "y"}, Stream: true},
		{Model: "a", Messages: []openaitest.Message{{Role: "user", Content: "x"}}},
		{},
	}
	for i, r := range reqs {
		if diff := cmp.Diff(want[i], r.Body); diff != "" {
			t.Errorf("request %d body mismatch (-want +got):\n%s", i, diff)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer test-key" {
			t.Errorf("request %d Authorization = %q", i, got)
		}
		select {
		case <-r.Done:
		case <-time.After(10 * time.Second):
			t.Errorf("request %d: Done not closed after the answer", i)
		}
	}
	if string(reqs[3].Raw) != "{not json" {
		t.Errorf("Raw = %q, want the body as sent", reqs[3].Raw)
	}
	if srv.Cancelled() != 0 {
		t.Errorf("Cancelled() = %d, want 0", srv.Cancelled())
	}

	srv.SetRecording(false)
	post(t, t.Context(), srv, `{"model":"a","messages":[{"role":"user","content":"x"}]}`)
	if got := len(srv.Requests()); got != 4 {
		t.Errorf("len(Requests()) with recording off = %d, want 4", got)
	}
	if got := srv.Calls("a"); got != 3 {
		t.Errorf("Calls(a) with recording off = %d, want 3", got)
	}
}

func TestBadRequests(t *testing.T) {
	srv := openaitest.NewServer(t)
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"malformed JSON", "POST", "/chat/completions", "{", 400},
		{"no model", "POST", "/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, 400},
		{"no messages", "POST", "/chat/completions", `{"model":"m","messages":[]}`, 400},
		{"wrong method", "GET", "/chat/completions", "", 405},
		{"unknown path", "POST", "/models", "{}", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			var body struct {
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error.Message == "" || body.Error.Type == "" {
				t.Errorf("body is not an OpenAI error: %+v, %v", body, err)
			}
		})
	}
}

func TestClientGoneIsCancelled(t *testing.T) {
	for _, s := range []openaitest.Script{
		{Hang: true},
		{FirstDelay: time.Hour},
		{Chunks: []string{"a", "b"}, Delay: time.Hour},
	} {
		srv := openaitest.NewServer(t, s)
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			// Cancel once the fake has the request.
			for len(srv.Requests()) == 0 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/chat/completions", strings.NewReader(helloStream))
		if resp, err := srv.Client().Do(req); err == nil {
			io.Copy(io.Discard, resp.Body) // the delayed stream has begun; reading fails at cancel
			resp.Body.Close()
		}
		select {
		case <-srv.Requests()[0].Done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%+v: the fake did not see the client go away", s)
		}
		if got := srv.Cancelled(); got != 1 {
			t.Errorf("%+v: Cancelled() = %d, want 1", s, got)
		}
	}
}

func TestCloseEndsHungRequests(t *testing.T) {
	srv := openaitest.NewServer(t)
	srv.SetDefault(openaitest.Script{Hang: true})
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/chat/completions", strings.NewReader(helloStream))
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	for len(srv.Requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	srv.Close()
	if err := <-errc; err == nil {
		t.Error("hung request answered after Close, want a cut connection")
	}
	if got := srv.Cancelled(); got != 0 {
		t.Errorf("Cancelled() = %d, want 0: the client did not go away", got)
	}
	resp := post(t, t.Context(), srv, helloStream)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status after Close = %d, want 503", resp.StatusCode)
	}
}

func TestConcurrentRequests(t *testing.T) {
	srv := openaitest.NewServer(t)
	srv.Set("slow", openaitest.Script{Delay: time.Millisecond})
	var wg sync.WaitGroup
	for i := range 20 {
		model := "fast"
		if i%2 == 0 {
			model = "slow"
		}
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/chat/completions",
				strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"a b c"}],"stream":true}`))
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if !strings.HasSuffix(string(b), "data: [DONE]\n\n") {
				t.Errorf("stream %q does not end with [DONE]", b)
			}
		})
	}
	wg.Wait()
	if got := srv.Calls("slow") + srv.Calls("fast"); got != 20 {
		t.Errorf("Calls = %d, want 20", got)
	}
}

func TestWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"one", []string{"one"}},
		{"Hello big world", []string{"Hello", " big", " world"}},
		{"  a  b\n\tc  ", []string{"a", "  b", "\n\tc"}},
		{"héllo\u00a0wörld", []string{"héllo", "\u00a0wörld"}},
	}
	for _, tt := range tests {
		got := openaitest.Words(tt.in)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Words(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
		if n := openaitest.Tokens(tt.in); n != len(got) {
			t.Errorf("Tokens(%q) = %d, want len(Words) = %d", tt.in, n, len(got))
		}
	}
}
