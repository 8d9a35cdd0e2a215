package sse_test

import (
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/sse"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

type payload struct {
	Text  string `json:"text"`
	Count int    `json:"count,omitempty"`
}

func TestWriter(t *testing.T) {
	tests := []struct {
		name  string
		write func(*sse.Writer) error
		want  string
	}{
		{"data", func(w *sse.Writer) error { return w.Data(payload{Text: "hi", Count: 2}) }, "data: {\"text\":\"hi\",\"count\":2}\n\n"},
		{"data keeps html", func(w *sse.Writer) error { return w.Data("<a&b>") }, "data: \"<a&b>\"\n\n"},
		{"data escapes line breaks", func(w *sse.Writer) error { return w.Data("a\nb\r") }, "data: \"a\\nb\\r\"\n\n"},
		{"data compacts raw json", func(w *sse.Writer) error { return w.Data(json.RawMessage("{\n  \"a\": 1\n}")) }, "data: {\"a\":1}\n\n"},
		{"event", func(w *sse.Writer) error { return w.Event("error", map[string]int{"a": 1}) }, "event: error\ndata: {\"a\":1}\n\n"},
		{"raw", func(w *sse.Writer) error { return w.Raw([]byte("[DONE]")) }, "data: [DONE]\n\n"},
		{"comment", func(w *sse.Writer) error { return w.Comment("keep-alive") }, ": keep-alive\n\n"},
		{"done", func(w *sse.Writer) error { return w.Done() }, "data: [DONE]\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := tt.write(sse.NewWriter(rec)); err != nil {
				t.Fatalf("write error = %v", err)
			}
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("body = %q, want %q", got, tt.want)
			}
			if !rec.Flushed {
				t.Error("not flushed")
			}
		})
	}
}

func TestWriterRejects(t *testing.T) {
	tests := []struct {
		name  string
		write func(*sse.Writer) error
	}{
		{"event name with newline", func(w *sse.Writer) error { return w.Event("a\nb", 1) }},
		{"event name with cr", func(w *sse.Writer) error { return w.Event("a\rb", 1) }},
		{"raw with newline", func(w *sse.Writer) error { return w.Raw([]byte("a\nb")) }},
		{"comment with cr", func(w *sse.Writer) error { return w.Comment("a\r") }},
		{"data that cannot be encoded", func(w *sse.Writer) error { return w.Data(make(chan int)) }},
		{"event that cannot be encoded", func(w *sse.Writer) error { return w.Event("x", func() {}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := sse.NewWriter(rec)
			err := tt.write(w)
			if err == nil || !strings.HasPrefix(err.Error(), "sse: ") {
				t.Errorf("error = %v, want an sse: error", err)
			}
			if rec.Body.Len() != 0 {
				t.Errorf("wrote %q, want nothing", rec.Body)
			}
			// The Writer stays usable.
			if err := w.Done(); err != nil || rec.Body.String() != "data: [DONE]\n\n" {
				t.Errorf("Done after error = %v, body %q", err, rec.Body)
			}
		})
	}
}

// plainWriter is an http.ResponseWriter without Flush, like lambdaurl's.
type plainWriter struct {
	h      http.Header
	writes []string
	err    error
}

func (p *plainWriter) Header() http.Header { return p.h }
func (p *plainWriter) WriteHeader(int)     {}
func (p *plainWriter) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	p.writes = append(p.writes, string(b))
	return len(b), nil
}

func TestWriterWithoutFlush(t *testing.T) {
	p := &plainWriter{h: http.Header{}}
	w := sse.NewWriter(p)
	for range 2 {
		if err := w.Data(1); err != nil {
			t.Fatalf("Data on a writer without Flush = %v, want nil", err)
		}
	}
	// One Write per event.
	if diff := cmp.Diff([]string{"data: 1\n\n", "data: 1\n\n"}, p.writes); diff != "" {
		t.Errorf("writes mismatch (-want +got):\n%s", diff)
	}
}

func TestWriterWriteError(t *testing.T) {
	p := &plainWriter{h: http.Header{}, err: io.ErrClosedPipe}
	if err := sse.NewWriter(p).Data(1); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Data error = %v, want %v", err, io.ErrClosedPipe)
	}
}

// failFlusher fails to flush, as a connection the client has closed may.
type failFlusher struct{ plainWriter }

func (f *failFlusher) FlushError() error { return io.ErrClosedPipe }

func TestWriterFlushError(t *testing.T) {
	f := &failFlusher{plainWriter{h: http.Header{}}}
	if err := sse.NewWriter(f).Done(); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Done error = %v, want %v", err, io.ErrClosedPipe)
	}
}

// TestRoundTrip writes a stream with every Writer method, compares it with the
// golden file testdata/roundtrip.sse (go test -update rewrites it) and reads it
// back.
func TestRoundTrip(t *testing.T) {
	rec := httptest.NewRecorder()
	w := sse.NewWriter(rec)
	steps := []error{
		w.Comment("ok"),
		w.Data(payload{Text: "Hello"}),
		w.Data(payload{Text: " wörld\n<&>\u2028", Count: 3}),
		w.Event("error", payload{Text: "boom"}),
		w.Comment(""),
		w.Raw([]byte(" leading space")),
		w.Data(""),
		w.Done(),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}

	golden := filepath.Join("testdata", "roundtrip.sse")
	if *update {
		if err := os.WriteFile(golden, rec.Body.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), rec.Body.String()); diff != "" {
		t.Errorf("stream mismatch with %s (-want +got):\n%s", golden, diff)
	}

	got, err := readAll(sse.NewReader(rec.Body, 0))
	if err != io.EOF {
		t.Fatalf("Next error = %v, want io.EOF", err)
	}
	wantEvents := []event{
		{Data: `{"text":"Hello"}`},
		{Data: `{"text":" wörld\n<&>\u2028","count":3}`},
		{Name: "error", Data: `{"text":"boom"}`},
		{Data: " leading space"},
		{Data: `""`},
		{Data: "[DONE]"},
	}
	if diff := cmp.Diff(wantEvents, got); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

// discard is a flushing http.ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) Flush()                      {}

type benchChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
}

func BenchmarkWriterData(b *testing.B) {
	c := &benchChunk{ID: "chatcmpl-1", Object: "chat.completion.chunk", Created: 1700000000, Model: "gpt-4o-mini"}
	c.Choices = make([]struct {
		Index int `json:"index"`
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	}, 1)
	c.Choices[0].Delta.Content = " world"
	w := sse.NewWriter(&discard{h: http.Header{}})
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Data(c); err != nil {
			b.Fatal(err)
		}
	}
}
