package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/provider/openai"
	"github.com/tollgate/tollgate/shared/route"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/web"
)

// Micro-benchmarks of the request path without network or DynamoDB (make bench
// runs them; docs/benchmarks.md reports them).

var benchBodies = map[string]string{
	"small": `{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are a terse assistant."},` +
		`{"role":"user","content":"Benchmark prompt: please echo these fourteen words back, one streamed chunk per word."}],` +
		`"stream":true,"stream_options":{"include_usage":true}}`,
	"parts": `{"model":"openai/gpt-4o-mini","messages":[{"role":"developer","content":"Be brief."},` +
		`{"role":"user","content":[{"type":"text","text":"Describe "},{"type":"text","text":"this in one line."}]}],` +
		`"max_completion_tokens":256,"temperature":0.2,"top_p":0.9,"stop":["\n\n","END"],"user":"u-42"}`,
	"conversation-20": conversation(20, 400),
}

// conversation is a request with n alternating messages of size bytes each.
func conversation(n, size int) string {
	var b strings.Builder
	b.WriteString(`{"model":"openai/gpt-4o-mini","messages":[`)
	text := strings.Repeat("lorem ipsum ", size/12+1)[:size]
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		fmt.Fprintf(&b, `{"role":%q,"content":%q}`, role, text)
	}
	b.WriteString(`],"stream":true}`)
	return b.String()
}

// BenchmarkDecodeOpenAI measures request validation: the strict decoding of a
// /v1/chat/completions body into a call.
func BenchmarkDecodeOpenAI(b *testing.B) {
	for _, name := range []string{"small", "parts", "conversation-20"} {
		body := []byte(benchBodies[name])
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeOpenAI(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeOpenAIInvalid measures the refusal of an invalid parameter.
func BenchmarkDecodeOpenAIInvalid(b *testing.B) {
	body := []byte(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"n":0}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeOpenAI(body); err == nil {
			b.Fatal("no error")
		}
	}
}

// BenchmarkDecodeNative measures the validation of a POST /chat body.
func BenchmarkDecodeNative(b *testing.B) {
	body := []byte(`{"modelId":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Benchmark prompt: please echo these words."}],` +
		`"stream":true,"maxTokens":256,"sessionId":"s-123"}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeNative(body); err != nil {
			b.Fatal(err)
		}
	}
}

// benchAuth authenticates every request as one tenant, without a store.
type benchAuth struct{ cfg tenant.Config }

func (a benchAuth) Authenticate(*http.Request) (tenant.Config, error) { return a.cfg, nil }

// scriptedProvider answers every request with n chunks of " word" from memory.
type scriptedProvider struct{ n int }

var benchUsage = chat.Usage{InputTokens: 20, OutputTokens: 10}

func (p scriptedProvider) Stream(context.Context, *chat.Request) (chat.Stream, error) {
	return &scriptedStream{n: p.n}, nil
}

type scriptedStream struct{ i, n int }

func (s *scriptedStream) Next(context.Context) (chat.Chunk, error) {
	switch {
	case s.i < s.n:
		s.i++
		return chat.Chunk{Text: " word"}, nil
	case s.i == s.n:
		s.i++
		return chat.Chunk{FinishReason: chat.FinishStop, Usage: &benchUsage}, nil
	}
	return chat.Chunk{}, io.EOF
}

func (s *scriptedStream) Close() error { return nil }

// sseBody renders the event stream an OpenAI-compatible server sends for an
// answer of n chunks, with a usage chunk.
func sseBody(n int) []byte {
	var b bytes.Buffer
	head := `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1753000000,"model":"gpt-4o-mini",`
	b.WriteString("data: " + head + `"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	for range n {
		b.WriteString("data: " + head + `"choices":[{"index":0,"delta":{"content":" word"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	}
	b.WriteString("data: " + head + `"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n")
	b.WriteString("data: " + head + `"choices":[],"usage":{"prompt_tokens":20,"completion_tokens":` + fmt.Sprint(n) + `,"total_tokens":` + fmt.Sprint(20+n) + `}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// memoryOpenAI is the real OpenAI-compatible client reading a pre-rendered
// answer from memory instead of the network.
func memoryOpenAI(n int) Provider {
	body := sseBody(n)
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		_, _ = io.Copy(io.Discard, r.Body)
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/event-stream"}},
			Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
	})}
	return openai.New(hc, "http://upstream.invalid/v1", "")
}

// discardWriter is a ResponseWriter that can flush and keeps only the start of
// what it is sent (for error messages).
type discardWriter struct {
	h      http.Header
	status int
	n      int
	head   []byte
}

func (w *discardWriter) Header() http.Header  { return w.h }
func (w *discardWriter) WriteHeader(code int) { w.status = code }
func (w *discardWriter) Flush()               {}

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.n < 512 {
		w.head = append(w.head, p[:min(len(p), 512-w.n)]...)
	}
	w.n += len(p)
	return len(p), nil
}

// benchHandler is the chat handler with its production middleware (web.Wrap,
// one JSON log line per request to io.Discard), no Ledger, and p as the
// provider of model openai/m.
func benchHandler(p Provider) http.Handler {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	m := model.Name{Provider: model.OpenAI, Model: "m"}
	h := New(Deps{
		Log:       log,
		Tenants:   benchAuth{tenant.Config{ID: "bench"}},
		Providers: map[string]Provider{model.OpenAI: p},
		Deployment: route.Deployment{
			Catalog: model.Of(m), Default: m,
		},
		DefaultMaxOutputTokens: 1024, MaxRequestBytes: 8 << 20,
		FirstTokenTimeout: time.Minute, IdleTimeout: time.Minute, KeepAlive: time.Minute,
		AttemptTimeout: time.Minute, RequestTimeout: time.Minute,
		Now: time.Now,
	})
	mux := http.NewServeMux()
	h.Register(mux)
	return web.Wrap(web.Routes(mux), log, "bench")
}

// serveOnce sends body through h and checks the status.
func serveOnce(b *testing.B, h http.Handler, path string, body []byte) *discardWriter {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, r)
	if w.status != http.StatusOK {
		b.Fatalf("status %d: %s", w.status, w.head)
	}
	return w
}

// BenchmarkServeStream streams answers of N chunks through the whole chat handler
// (decoding, routing, the provider pump, the SSE writer, the log line). The
// allocs/op at different N give the allocations per streamed chunk: constant
// when allocs/op grows linearly with N. "scripted" is a provider double yielding
// chunks from memory (the gateway's own cost); "openai" is the real
// OpenAI-compatible client parsing a pre-rendered event stream (what a real
// stream costs end to end, minus the network).
func BenchmarkServeStream(b *testing.B) {
	for _, variant := range []string{"scripted", "openai"} {
		for _, n := range []int{10, 100, 1000} {
			var p Provider = scriptedProvider{n}
			if variant == "openai" {
				p = memoryOpenAI(n)
			}
			for _, api := range []struct{ name, path, body string }{
				{"v1", "/v1/chat/completions", `{"model":"openai/m","messages":[{"role":"user","content":"hello there"}],"stream":true,"stream_options":{"include_usage":true}}`},
				{"native", "/chat", `{"modelId":"openai/m","messages":[{"role":"user","content":"hello there"}],"stream":true}`},
				{"responses", "/v1/responses", `{"model":"openai/m","input":"hello there","stream":true}`},
			} {
				if api.name != "v1" && variant == "openai" {
					continue // the client's cost does not depend on the API
				}
				name := fmt.Sprintf("%s/%s/chunks=%d", variant, api.name, n)
				if api.name == "v1" {
					name = fmt.Sprintf("%s/chunks=%d", variant, n)
				}
				h, body := benchHandler(p), []byte(api.body)
				b.Run(name, func(b *testing.B) {
					b.ReportAllocs()
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					before := ms.Mallocs
					bytesOut := 0
					for b.Loop() {
						bytesOut = serveOnce(b, h, api.path, body).n
					}
					runtime.ReadMemStats(&ms)
					b.ReportMetric(float64(ms.Mallocs-before)/float64(b.N)/float64(n), "allocs/chunk")
					b.ReportMetric(float64(bytesOut)/float64(n), "bytes/chunk")
				})
			}
		}
	}
}

// BenchmarkServeWhole answers a non-streaming request through the whole chat
// handler, with the real OpenAI-compatible client reading a completion from
// memory.
func BenchmarkServeWhole(b *testing.B) {
	completion := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1753000000,"model":"gpt-4o-mini",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Benchmark prompt: please echo these fourteen words back, one streamed chunk per word.","refusal":null},` +
		`"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":14,"total_tokens":34}}`)
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		_, _ = io.Copy(io.Discard, r.Body)
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(completion)), Request: r}, nil
	})}
	h := benchHandler(openai.New(hc, "http://upstream.invalid/v1", ""))
	body := []byte(`{"model":"openai/m","messages":[{"role":"system","content":"You are a terse assistant."},` +
		`{"role":"user","content":"Benchmark prompt: please echo these fourteen words back, one streamed chunk per word."}]}`)
	b.ReportAllocs()
	for b.Loop() {
		serveOnce(b, h, "/v1/chat/completions", body)
	}
}

// BenchmarkServeLargeBody sends a 6 MiB prompt (one user message) through the
// whole chat handler: B/op is the memory a large request costs, which should
// stay a small multiple of the body (it is read once, decoded once, encoded once
// for the provider).
func BenchmarkServeLargeBody(b *testing.B) {
	text := strings.Repeat("lorem ipsum dolor sit amet ", 6<<20/27)
	body, err := json.Marshal(map[string]any{"model": "openai/m", "max_tokens": 16,
		"messages": []any{map[string]any{"role": "user", "content": text}}})
	if err != nil {
		b.Fatal(err)
	}
	h := benchHandler(scriptedProvider{1})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		serveOnce(b, h, "/v1/chat/completions", body)
	}
}
