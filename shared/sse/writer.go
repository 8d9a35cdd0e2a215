// Package sse writes and reads Server-Sent Events in the framing used by
// OpenAI-compatible streaming APIs.
//
// Writer is the server side: the gateway streams chunks to its clients with it.
// Reader is the client side: provider clients parse an upstream event stream with
// it, within a bound on the size of one event.
package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Writer writes Server-Sent Events to an http.ResponseWriter and flushes after
// every event, so each one reaches the client as soon as it is written. Every
// event is one Write call.
//
// A Writer sets no headers; the caller sets Content-Type (text/event-stream) and
// the status before the first event. A Writer is not safe for concurrent use.
type Writer struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	buf     bytes.Buffer // reused for every event
	enc     *json.Encoder
	noFlush bool // the ResponseWriter cannot flush; stop asking
}

// NewWriter returns a Writer that writes events to w.
func NewWriter(w http.ResponseWriter) *Writer {
	s := &Writer{w: w, rc: http.NewResponseController(w)}
	s.enc = json.NewEncoder(&s.buf)
	// The payload is not HTML: "<" and "&" stay as they are, as OpenAI sends them.
	s.enc.SetEscapeHTML(false)
	return s
}

// Data writes v, encoded as JSON, as one "data:" event. encoding/json never emits
// a raw line break (it compacts the output of MarshalJSON methods too), so the
// payload cannot break the framing.
func (s *Writer) Data(v any) error {
	s.buf.Reset()
	s.buf.WriteString("data: ")
	return s.encodeAndWrite(v)
}

// Event writes v, encoded as JSON, as one event named name. The name must not
// contain a line break.
func (s *Writer) Event(name string, v any) error {
	if hasLineBreak(name) {
		return errors.New("sse: event name contains a line break")
	}
	s.buf.Reset()
	s.buf.WriteString("event: ")
	s.buf.WriteString(name)
	s.buf.WriteString("\ndata: ")
	return s.encodeAndWrite(v)
}

// Raw writes data as it is as one "data:" event; Done uses it for "[DONE]". The
// data must not contain a line break.
func (s *Writer) Raw(data []byte) error {
	if bytes.ContainsAny(data, "\r\n") {
		return errors.New("sse: raw data contains a line break")
	}
	s.buf.Reset()
	s.buf.WriteString("data: ")
	s.buf.Write(data)
	s.buf.WriteString("\n\n")
	return s.write()
}

// Comment writes a comment line, which readers ignore; use it as a keep-alive.
// The text must not contain a line break.
func (s *Writer) Comment(text string) error {
	if hasLineBreak(text) {
		return errors.New("sse: comment contains a line break")
	}
	s.buf.Reset()
	s.buf.WriteString(": ")
	s.buf.WriteString(text)
	s.buf.WriteString("\n\n")
	return s.write()
}

// Done writes "data: [DONE]", the end of an OpenAI-compatible stream.
func (s *Writer) Done() error {
	s.buf.Reset()
	s.buf.WriteString("data: [DONE]\n\n")
	return s.write()
}

// encodeAndWrite appends v as JSON to the prefix already in the buffer, ends the
// event and writes it. Nothing is written when v cannot be encoded.
func (s *Writer) encodeAndWrite(v any) error {
	// Encode appends v and one '\n'; a second '\n' ends the event.
	if err := s.enc.Encode(v); err != nil {
		return fmt.Errorf("sse: encode: %w", err)
	}
	s.buf.WriteByte('\n')
	return s.write()
}

func (s *Writer) write() error {
	if _, err := s.w.Write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("sse: write: %w", err)
	}
	return s.flush()
}

func (s *Writer) flush() error {
	if s.noFlush {
		return nil
	}
	// Writers without Flush, such as lambdaurl's, report ErrNotSupported, which is
	// fine: they do not buffer.
	if err := s.rc.Flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			s.noFlush = true
			return nil
		}
		return fmt.Errorf("sse: flush: %w", err)
	}
	return nil
}

func hasLineBreak(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\r' {
			return true
		}
	}
	return false
}
