package sse_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/sse"
)

// event is sse.Event with Data as a string, so cmp.Diff prints it readably.
type event struct {
	Name, Data, ID string
}

// readAll reads events until an error, copying Data (the Reader reuses it).
func readAll(r *sse.Reader) ([]event, error) {
	var evs []event
	for {
		ev, err := r.Next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, event{Name: ev.Name, Data: string(ev.Data), ID: ev.ID})
	}
}

// chunked returns a reader that hands out at most n bytes per Read, so lines and
// line endings ("\r" then "\n") straddle buffer refills.
func chunked(s string, n int) io.Reader {
	return &pieces{s: s, n: n}
}

type pieces struct {
	s string
	n int
}

func (p *pieces) Read(b []byte) (int, error) {
	if p.s == "" {
		return 0, io.EOF
	}
	k := min(len(b), p.n, len(p.s))
	copy(b, p.s[:k])
	p.s = p.s[k:]
	return k, nil
}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []event
	}{
		{"empty stream", "", nil},
		{"one event", "data: hello\n\n", []event{{Data: "hello"}}},
		{"no space after colon", "data:hello\n\n", []event{{Data: "hello"}}},
		{"only one space is removed", "data:  hello\n\n", []event{{Data: " hello"}}},
		{"trailing space kept", "data: hello \n\n", []event{{Data: "hello "}}},
		{"tab is not a space", "data:\thello\n\n", []event{{Data: "\thello"}}},
		{"colon in value", "data: {\"a\":1}\n\n", []event{{Data: `{"a":1}`}}},
		{"done", "data: [DONE]\n\n", []event{{Data: "[DONE]"}}},
		{"two events", "data: a\n\ndata: b\n\n", []event{{Data: "a"}, {Data: "b"}}},
		{"data lines joined", "data: a\ndata: b\ndata:\n\n", []event{{Data: "a\nb\n"}}},
		{"empty data line", "data:\n\n", []event{{Data: ""}}},
		{"field without colon", "data\n\n", []event{{Data: ""}}},
		{"crlf", "data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n", []event{{Data: "a\nb"}, {Data: "c"}}},
		{"cr", "data: a\rdata: b\r\rdata: c\r\r", []event{{Data: "a\nb"}, {Data: "c"}}},
		{"mixed endings", "data: a\r\ndata: b\rdata: c\n\r\n", []event{{Data: "a\nb\nc"}}},
		{"cr cr lf is two lines", "data: a\r\r\ndata: b\n\n", []event{{Data: "a"}, {Data: "b"}}},
		{"comments ignored", ": ping\n\n: hi\ndata: a\n: mid\ndata: b\n\n", []event{{Data: "a\nb"}}},
		{"colon only line is a comment", ":\ndata: a\n\n", []event{{Data: "a"}}},
		{"event without data skipped", "event: x\n\nid: 1\n\n", nil},
		{"blank lines between events", "\n\n\ndata: a\n\n\n\n", []event{{Data: "a"}}},
		{"named event", "event: error\ndata: {}\n\n", []event{{Name: "error", Data: "{}"}}},
		{"name resets after dispatch", "event: x\ndata: 1\n\ndata: 2\n\n", []event{{Name: "x", Data: "1"}, {Data: "2"}}},
		{"name resets after empty event", "event: x\n\ndata: 2\n\n", []event{{Data: "2"}}},
		{"last name wins", "event: x\nevent: y\ndata: 1\n\n", []event{{Name: "y", Data: "1"}}},
		{"id persists", "id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", []event{{Data: "a", ID: "7"}, {Data: "b", ID: "7"}, {Data: "c"}}},
		{"id with NUL ignored", "id: 1\ndata: a\n\nid: 2\x00\ndata: b\n\n", []event{{Data: "a", ID: "1"}, {Data: "b", ID: "1"}}},
		{"retry and unknown fields ignored", "retry: 10\nfoo: bar\ndata: a\n\n", []event{{Data: "a"}}},
		{"field names are case-sensitive", "Data: a\ndata: b\n\n", []event{{Data: "b"}}},
		{"space before colon is part of the name", "data : a\ndata: b\n\n", []event{{Data: "b"}}},
		{"pending event dispatched at EOF", "data: a\n", []event{{Data: "a"}}},
		{"unterminated last line", "data: a\n\ndata: b", []event{{Data: "a"}, {Data: "b"}}},
		{"unterminated event without data", "data: a\n\nevent: x", []event{{Data: "a"}}},
		{"byte order mark stripped", "\xef\xbb\xbfdata: a\n\n", []event{{Data: "a"}}},
		{"only the first byte order mark", "\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n", []event{{Data: "b"}}},
		{"binary data kept", "data: \x00\xff\n\n", []event{{Data: "\x00\xff"}}},
		{
			"openai transcript",
			"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n" +
				"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\n" +
				"data: [DONE]\n\n",
			[]event{
				{Data: `{"choices":[{"delta":{"content":"Hi"}}]}`},
				{Data: `{"choices":[],"usage":{"prompt_tokens":1}}`},
				{Data: "[DONE]"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			readers := map[string]io.Reader{
				"whole":      strings.NewReader(tt.in),
				"one byte":   iotest.OneByteReader(strings.NewReader(tt.in)),
				"three byte": chunked(tt.in, 3),
				"data err":   iotest.DataErrReader(strings.NewReader(tt.in)),
			}
			for how, in := range readers {
				got, err := readAll(sse.NewReader(in, 0))
				if err != io.EOF {
					t.Errorf("%s: Next(%q) error = %v, want io.EOF", how, tt.in, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s: events of %q mismatch (-want +got):\n%s", how, tt.in, diff)
				}
			}
		})
	}
}

func TestReaderTooLarge(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want []event // before the error
	}{
		{"line over the bound", "data: 0123456789\n\n", 10, nil},
		{"lines add up over the bound", "data: 0\ndata: 1\n\n", 10, nil},
		{"comment over the bound", ": 0123456789\n\ndata: a\n\n", 10, nil},
		{"second event over the bound", "data: a\n\ndata: 0123456789\n\n", 10, []event{{Data: "a"}}},
		{"unterminated line over the bound", "data: a\n\ndata: 0123456789", 10, []event{{Data: "a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sse.NewReader(iotest.OneByteReader(strings.NewReader(tt.in)), tt.max)
			got, err := readAll(r)
			if !errors.Is(err, sse.ErrEventTooLarge) {
				t.Errorf("Next(%q) error = %v, want ErrEventTooLarge", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events mismatch (-want +got):\n%s", diff)
			}
			if _, err := r.Next(); !errors.Is(err, sse.ErrEventTooLarge) {
				t.Errorf("Next after ErrEventTooLarge = %v, want it again", err)
			}
		})
	}
}

func TestReaderAtBound(t *testing.T) {
	// Each event is exactly 10 bytes of lines, without line endings; the bound
	// resets between events.
	in := "data: 0123\r\n\r\ndata:\ndata:\n\n" + strings.Repeat("data: abcd\n\n", 3)
	got, err := readAll(sse.NewReader(strings.NewReader(in), 10))
	if err != io.EOF {
		t.Fatalf("Next error = %v, want io.EOF", err)
	}
	want := []event{{Data: "0123"}, {Data: "\n"}, {Data: "abcd"}, {Data: "abcd"}, {Data: "abcd"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

func TestReaderLongLines(t *testing.T) {
	// Lines far longer than bufio's buffer, with line endings at refill edges.
	long := strings.Repeat("x", 10_000)
	in := "data: " + long + "\r\n" + "data: " + long + "\r\r" + "data: b\n\n"
	got, err := readAll(sse.NewReader(chunked(in, 4096), 0))
	if err != io.EOF {
		t.Fatalf("Next error = %v, want io.EOF", err)
	}
	want := []event{{Data: long + "\n" + long}, {Data: "b"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	in := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom))
	r := sse.NewReader(in, 0)
	got, err := readAll(r)
	if !errors.Is(err, boom) {
		t.Errorf("Next error = %v, want %v", err, boom)
	}
	// The event cut by the error is not dispatched: only EOF completes an event.
	if diff := cmp.Diff([]event{{Data: "a"}}, got); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Errorf("Next after error = %v, want %v again", err, boom)
	}
}

func TestReaderEOFIsFinal(t *testing.T) {
	r := sse.NewReader(strings.NewReader("data: a"), 0)
	if _, err := r.Next(); err != nil {
		t.Fatalf("Next = %v, want the pending event", err)
	}
	for range 2 {
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("Next at end = %v, want io.EOF", err)
		}
	}
}

// TestReaderFollowsLiveStream checks that Next returns an event as soon as its
// blank line arrives, without waiting for more input, even when the event ends
// with a bare "\r".
func TestReaderFollowsLiveStream(t *testing.T) {
	for _, eol := range []string{"\n", "\r\n", "\r"} {
		pr, pw := io.Pipe()
		r := sse.NewReader(pr, 0)
		go func() {
			pw.Write([]byte("data: a" + eol + eol))
			// No more writes until the event has been read.
		}()
		ev, err := r.Next()
		if err != nil || string(ev.Data) != "a" {
			t.Fatalf("Next with %q = %q, %v; want \"a\", nil", eol, ev.Data, err)
		}
		go pw.Write([]byte("\ndata: b" + eol + eol)) // a leading "\n" after "\r" belongs to it
		ev, err = r.Next()
		if err != nil || string(ev.Data) != "b" {
			t.Fatalf("second Next with %q = %q, %v; want \"b\", nil", eol, ev.Data, err)
		}
		pw.Close()
	}
}

func TestReaderDataReused(t *testing.T) {
	// Documented behaviour: Data is valid only until the next call.
	r := sse.NewReader(strings.NewReader("data: aaaa\n\ndata: bb\n\n"), 0)
	first, _ := r.Next()
	kept := bytes.Clone(first.Data)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if string(kept) != "aaaa" {
		t.Errorf("cloned Data = %q, want %q", kept, "aaaa")
	}
}

// cycle repeats p forever.
type cycle struct {
	p   []byte
	off int
}

func (c *cycle) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k := copy(b[n:], c.p[c.off:])
		n += k
		c.off = (c.off + k) % len(c.p)
	}
	return n, nil
}

func BenchmarkReader(b *testing.B) {
	ev := []byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini",` +
		`"choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	r := sse.NewReader(&cycle{p: ev}, 0)
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
}
