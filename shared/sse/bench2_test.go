package sse_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/shared/sse"
)

// More micro-benchmarks of the encoder and decoder, in the shapes the gateway
// writes and the providers send (make bench runs them; docs/benchmarks.md
// reports them).

// b2Sink is a flushable ResponseWriter that keeps nothing.
type b2Sink struct{ h http.Header }

func (d *b2Sink) Header() http.Header         { return d.h }
func (d *b2Sink) WriteHeader(int)             {}
func (d *b2Sink) Write(b []byte) (int, error) { return len(b), nil }
func (d *b2Sink) Flush()                      {}

// The gateway's chat.completion.chunk, field for field (shared/gateway/wire.go):
// pointers for content and finish_reason, a null logprobs, one reused value.
type b2Delta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type b2Choice struct {
	Index        int       `json:"index"`
	Delta        *b2Delta  `json:"delta,omitempty"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type b2Chunk struct {
	ID      string     `json:"id"`
	Object  string     `json:"object"`
	Created int64      `json:"created"`
	Model   string     `json:"model"`
	Choices []b2Choice `json:"choices"`
}

// BenchmarkWriterChunk encodes the gateway's streamed delta, reusing one value
// as the gateway does, for a word and for a 4 KiB piece of text that needs
// escaping.
func BenchmarkWriterChunk(b *testing.B) {
	for _, tc := range []struct{ name, text string }{
		{"word", " world"},
		{"4KiB-escaped", strings.Repeat("a \"quoted\" <b>line</b>\n", 4096/24)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			w := sse.NewWriter(&b2Sink{h: http.Header{}})
			var (
				choice [1]b2Choice
				d      b2Delta
				text   string
			)
			c := b2Chunk{ID: "chatcmpl-0123456789abcdef", Object: "chat.completion.chunk", Created: 1753000000, Model: "openai/gpt-4o-mini"}
			b.SetBytes(int64(len(tc.text)))
			b.ReportAllocs()
			for b.Loop() {
				text = tc.text
				d = b2Delta{Content: &text}
				choice[0] = b2Choice{Delta: &d}
				c.Choices = choice[:]
				if err := w.Data(&c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriterEvent encodes the native API's delta event.
func BenchmarkWriterEvent(b *testing.B) {
	w := sse.NewWriter(&b2Sink{h: http.Header{}})
	var d struct {
		Text string `json:"text"`
	}
	b.ReportAllocs()
	for b.Loop() {
		d.Text = " world"
		if err := w.Event("delta", &d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriterComment writes the keep-alive comment.
func BenchmarkWriterComment(b *testing.B) {
	w := sse.NewWriter(&b2Sink{h: http.Header{}})
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Comment("keep-alive"); err != nil {
			b.Fatal(err)
		}
	}
}

// b2Pieces is an endless stream of p, delivered at most n bytes per Read, so
// events span reads as they do on a real connection.
type b2Pieces struct {
	p   []byte
	n   int
	off int
}

func (c *b2Pieces) Read(b []byte) (int, error) {
	if len(b) > c.n {
		b = b[:c.n]
	}
	k := 0
	for k < len(b) {
		m := copy(b[k:], c.p[c.off:])
		k += m
		c.off = (c.off + m) % len(c.p)
	}
	return k, nil
}

// BenchmarkReaderEvents decodes events in the shapes upstreams send: an OpenAI
// chunk read whole or in 64-byte b2Pieces, a Bedrock-sized multi-line event with a
// name and CRLF line endings, and a 64 KiB event.
func BenchmarkReaderEvents(b *testing.B) {
	chunk := `data: {"id":"chatcmpl-BxYz","object":"chat.completion.chunk","created":1753000000,"model":"gpt-4o-mini",` +
		`"choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n"
	for _, tc := range []struct {
		name  string
		event string
		piece int
	}{
		{"openai-chunk", chunk, 1 << 20},
		{"openai-chunk-64B-reads", chunk, 64},
		{"named-multiline-crlf", "event: delta\r\nid: 42\r\ndata: {\"text\":\r\ndata: \" world\"}\r\n: comment\r\n\r\n", 1 << 20},
		{"64KiB", "data: " + strings.Repeat("x", 64<<10) + "\n\n", 1 << 20},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := sse.NewReader(&b2Pieces{p: []byte(tc.event), n: tc.piece}, 0)
			b.SetBytes(int64(len(tc.event)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
