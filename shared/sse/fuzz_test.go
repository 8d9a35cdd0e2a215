package sse_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/sse"
)

// FuzzReader checks that the Reader never panics, respects its bound and parses
// the same events however the input is split; and that whatever the Writer writes
// reads back as written.
func FuzzReader(f *testing.F) {
	seeds := []struct {
		in, name, payload string
	}{
		{"data: hello\n\n", "error", "hello"},
		{"data:a\r\ndata:b\r\n\r\n", "", ""},
		{"data: a\rdata: b\r\r", "x y", " lead"},
		{": ping\n\nevent: x\nid: 1\ndata: {}\n\n", "message", "{\"a\":1}"},
		{"\xef\xbb\xbfdata: [DONE]\n\n", "ünïcode", "\u2028\u2029"},
		{"data: " + strings.Repeat("x", 70) + "\n\n", ":colon", "\x00\xff"},
		{"id: a\x00b\ndata\n\ndata: tail", " ", "a\nb\r\n"},
		{"\r\n\r\r\n\n", "data: x", ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.in), s.name, s.payload)
	}
	f.Fuzz(func(t *testing.T, in []byte, name, payload string) {
		const max = 64
		whole, errWhole := readAll(sse.NewReader(strings.NewReader(string(in)), max))
		for _, ev := range whole {
			if len(ev.Data) > max {
				t.Fatalf("event data of %d bytes, bound %d", len(ev.Data), max)
			}
		}
		split, errSplit := readAll(sse.NewReader(iotest.OneByteReader(strings.NewReader(string(in))), max))
		if diff := cmp.Diff(whole, split); diff != "" || errWhole != errSplit {
			t.Fatalf("split read differs from whole read (%v vs %v) (-whole +split):\n%s", errWhole, errSplit, diff)
		}

		// Round trip through the Writer.
		rec := httptest.NewRecorder()
		w := sse.NewWriter(rec)
		var want []event
		if err := w.Comment(name); err == nil != !strings.ContainsAny(name, "\r\n") {
			t.Fatalf("Comment(%q) = %v", name, err)
		}
		if err := w.Data(payload); err != nil {
			t.Fatalf("Data(%q) = %v", payload, err)
		}
		enc, _ := json.Marshal(payload)
		want = append(want, event{Data: string(enc)})
		if err := w.Event(name, payload); err == nil {
			want = append(want, event{Name: name, Data: string(enc)})
		} else if !strings.ContainsAny(name, "\r\n") {
			t.Fatalf("Event(%q) = %v", name, err)
		}
		if err := w.Raw(in); err == nil {
			want = append(want, event{Data: string(in)})
		} else if !strings.ContainsAny(string(in), "\r\n") {
			t.Fatalf("Raw(%q) = %v", in, err)
		}
		if err := w.Done(); err != nil {
			t.Fatal(err)
		}
		want = append(want, event{Data: "[DONE]"})

		got, err := readAll(sse.NewReader(rec.Body, 0))
		if err != io.EOF {
			t.Fatalf("reading Writer output: %v", err)
		}
		// Compare JSON by value: the Writer does not escape HTML, json.Marshal does.
		if len(got) != len(want) {
			t.Fatalf("read %d events, want %d:\n%q\n%s", len(got), len(want), rec.Body.String(), cmp.Diff(want, got))
		}
		for i := range want {
			if want[i].Name != got[i].Name || !sameData(want[i].Data, got[i].Data) {
				t.Fatalf("event %d mismatch (-want +got):\n%s", i, cmp.Diff(want[i], got[i]))
			}
		}
	})
}

// sameData reports whether a and b are equal, or are equal JSON values.
func sameData(a, b string) bool {
	if a == b {
		return true
	}
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	return cmp.Equal(va, vb)
}
