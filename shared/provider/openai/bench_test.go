package openai_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/provider/openai"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
)

// endless is a response body that repeats one chunk event forever.
type endless struct {
	event []byte
	off   int
}

func (e *endless) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k := copy(b[n:], e.event[e.off:])
		n += k
		e.off = (e.off + k) % len(e.event)
	}
	return n, nil
}

func (e *endless) Close() error { return nil }

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// BenchmarkStreamChunk measures Next on one typical chunk from api.openai.com,
// without the network: the cost the client adds per chunk.
func BenchmarkStreamChunk(b *testing.B) {
	event := []byte(`data: {"id":"chatcmpl-BxYz","object":"chat.completion.chunk","created":1753000000,` +
		`"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_34a54ae93c",` +
		`"choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}],` +
		`"usage":null,"obfuscation":"a1b2"}` + "\n\n")
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		return &http.Response{
			StatusCode: http.StatusOK,
			Header:     http.Header{"Content-Type": {"text/event-stream"}},
			Body:       &endless{event: event},
			Request:    r,
		}, nil
	})}
	ctx := b.Context()
	s, err := openai.New(hc, "http://upstream.invalid/v1", "").Stream(ctx, hello("m"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetBytes(int64(len(event)))
	b.ReportAllocs()
	for b.Loop() {
		c, err := s.Next(ctx)
		if err != nil || c.Text != " world" {
			b.Fatalf("Next = %+v, %v", c, err)
		}
	}
}

// BenchmarkStream measures a whole 20-chunk stream from the fake server over
// loopback HTTP: request, headers, chunks, usage, [DONE].
func BenchmarkStream(b *testing.B) {
	srv := openaitest.NewServer(b)
	srv.SetRecording(false)
	chunks := make([]string, 20)
	for i := range chunks {
		chunks[i] = " word"
	}
	srv.SetDefault(openaitest.Script{Chunks: chunks})
	c := openai.New(srv.Client(), srv.URL, "sk-bench")
	ctx := b.Context()
	req := hello("m")
	b.ReportAllocs()
	for b.Loop() {
		s, err := c.Stream(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		var last chat.Chunk
		for {
			ch, err := s.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			last = ch
		}
		s.Close()
		if last.Usage == nil {
			b.Fatal("no usage")
		}
	}
}
