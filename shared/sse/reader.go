package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxEvent is the bound on one event's size that NewReader uses when given
// none: 1 MiB.
const DefaultMaxEvent = 1 << 20

// ErrEventTooLarge is returned by Reader.Next for an event (or a line) larger than
// the Reader's bound.
var ErrEventTooLarge = errors.New("sse: event too large")

// Event is one dispatched Server-Sent Event.
type Event struct {
	// Name is the value of the event's "event:" field, or "" when it had none
	// (which the SSE specification calls "message").
	Name string
	// Data is the event's "data:" lines joined with '\n'. It may be empty, and it
	// is only valid until the next call to Next, which may reuse it.
	Data []byte
	// ID is the last event ID of the stream: as the specification says, an "id:"
	// field sets it for this and every later event until another "id:" changes it.
	ID string
}

// Reader reads Server-Sent Events from a stream, following the parsing rules of
// the HTML specification: lines end with "\n", "\r\n" or "\r"; a field's value
// loses one leading space; several "data:" lines are joined with '\n'; lines that
// start with ':' are comments; a blank line dispatches the event, and an event
// without "data:" lines is skipped; "retry:" and unknown fields are ignored.
//
// Unlike a browser, a Reader dispatches an event still pending when the stream
// ends, so a last "data:" line without its blank line is not lost.
//
// A Reader reads only as far as it needs to, so it can follow a live stream. It
// is not safe for concurrent use.
type Reader struct {
	br      *bufio.Reader
	max     int
	line    []byte // a line that spans buffer refills
	data    []byte // the current event's data; reused by every event
	id      string // the last event ID
	skipLF  bool   // the previous line ended with '\r', so a '\n' now belongs to it
	started bool   // the byte order mark, if any, is gone
	err     error  // sticky: io.EOF, ErrEventTooLarge or a read error
}

// NewReader returns a Reader that reads events from r. maxEvent bounds the size of
// one event, counted as the bytes of its lines without their line endings (so it
// bounds every line too); it is DefaultMaxEvent when maxEvent <= 0.
func NewReader(r io.Reader, maxEvent int) *Reader {
	if maxEvent <= 0 {
		maxEvent = DefaultMaxEvent
	}
	return &Reader{br: bufio.NewReader(r), max: maxEvent}
}

var bom = []byte("\xef\xbb\xbf")

// Next returns the next event. At the end of the stream it returns io.EOF. An
// event larger than the bound returns ErrEventTooLarge. Errors are final: every
// later call returns the same error.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	r.data = r.data[:0]
	var (
		name    string
		hasData bool
		size    int // bytes of this event's lines so far
	)
	for {
		line, err := r.readLine(r.max - size)
		if err != nil {
			r.err = err
			if err == io.EOF && hasData {
				return Event{Name: name, Data: r.data, ID: r.id}, nil
			}
			return Event{}, err
		}
		size += len(line)
		if !r.started {
			r.started = true
			line = bytes.TrimPrefix(line, bom)
		}

		if len(line) == 0 { // blank line: dispatch
			if hasData {
				return Event{Name: name, Data: r.data, ID: r.id}, nil
			}
			name, size = "", 0
			continue
		}
		if line[0] == ':' { // comment
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			hasData = true
		case "event":
			name = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 && string(value) != r.id {
				r.id = string(value)
			}
		}
	}
}

// readLine returns the next line without its line ending. The line is valid until
// the next read. A line longer than limit returns ErrEventTooLarge. A last line
// without a line ending is returned as a line; then readLine returns io.EOF.
func (r *Reader) readLine(limit int) ([]byte, error) {
	r.line = r.line[:0]
	spanning := false // part of the line is in r.line
	for {
		if _, err := r.br.Peek(1); err != nil {
			if err == io.EOF {
				if spanning {
					return r.line, nil
				}
				return nil, io.EOF
			}
			return nil, fmt.Errorf("sse: read: %w", err)
		}
		b, _ := r.br.Peek(r.br.Buffered())
		if r.skipLF {
			r.skipLF = false
			if b[0] == '\n' {
				r.br.Discard(1)
				continue
			}
		}

		i := bytes.IndexByte(b, '\n')
		end := b
		if i >= 0 {
			end = b[:i]
		}
		if j := bytes.IndexByte(end, '\r'); j >= 0 {
			i = j
		}
		if i < 0 { // no line ending yet: keep the piece and read on
			if len(r.line)+len(b) > limit {
				return nil, ErrEventTooLarge
			}
			r.line = append(r.line, b...)
			r.br.Discard(len(b))
			spanning = true
			continue
		}
		if len(r.line)+i > limit {
			return nil, ErrEventTooLarge
		}
		r.skipLF = b[i] == '\r'
		line := b[:i]
		if spanning {
			r.line = append(r.line, line...)
			line = r.line
		}
		// Discard only moves the read position, so line stays valid until the
		// next Peek.
		r.br.Discard(i + 1)
		return line, nil
	}
}
