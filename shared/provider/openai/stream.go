package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/sse"
)

// stream is a chat.Stream over a Chat Completions event stream.
type stream struct {
	body   io.ReadCloser
	events *sse.Reader
	apiKey string // to keep it out of error messages

	finish string        // the last finish_reason seen
	usage  *chat.Usage   // the last usage seen
	chunk  wireChunk     // decoded into, again and again
	src    bytes.Reader  // the data being decoded
	dec    *json.Decoder // reads from src
	done   bool          // "data: [DONE]" was read
	err    error         // returned by every call after a failure, or io.EOF
	closed bool

	// Next's ctx, when it is not the request's, closes the body when it ends, so a
	// blocked read returns.
	reqDone <-chan struct{} // the request's ctx.Done()
	watched <-chan struct{} // the ctx.Done() being watched
	unwatch func() bool
	abort   func() // s.body.Close, made once
}

// wireChunk holds the fields of a chat.completion.chunk the gateway needs.
type wireChunk struct {
	Choices []wireChoice    `json:"choices"`
	Usage   *wireUsage      `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

type wireChoice struct {
	Delta struct {
		Content string `json:"content"`
	} `json:"delta"`
	FinishReason string `json:"finish_reason"`
}

func newStream(body io.ReadCloser, reqDone <-chan struct{}, apiKey string) *stream {
	s := &stream{body: body, events: sse.NewReader(body, 0), apiKey: apiKey, reqDone: reqDone}
	s.abort = func() { _ = s.body.Close() }
	return s
}

// Next returns the next chunk of text, then the last chunk (finish reason and
// usage), then io.EOF.
func (s *stream) Next(ctx context.Context) (chat.Chunk, error) {
	if s.err != nil {
		return chat.Chunk{}, s.err
	}
	if s.done {
		s.err = io.EOF
		return chat.Chunk{}, io.EOF
	}
	if err := contextError(ctx, ctx.Err()); err != nil {
		return chat.Chunk{}, s.fail(err)
	}
	s.watch(ctx)
	for {
		ev, err := s.events.Next()
		if err != nil {
			return chat.Chunk{}, s.fail(s.readError(ctx, err))
		}
		if string(ev.Data) == "[DONE]" {
			s.done = true
			s.stopWatching()
			return chat.Chunk{FinishReason: s.finish, Usage: s.usage}, nil
		}
		if len(bytes.TrimSpace(ev.Data)) == 0 {
			continue // an empty keep-alive
		}
		if ev.Name == "error" {
			return chat.Chunk{}, s.fail(inBandError(ev.Data, s.apiKey))
		}
		if err := s.decode(ev.Data); err != nil {
			return chat.Chunk{}, s.fail(&chat.ProviderError{
				Class:   chat.ErrUnavailable,
				Message: "malformed chunk",
				Err:     fmt.Errorf("openai: decode chunk: %w", err),
			})
		}
		c := &s.chunk
		if isSet(c.Error) {
			return chat.Chunk{}, s.fail(inBandError(c.Error, s.apiKey))
		}
		if c.Usage != nil {
			if s.usage == nil {
				s.usage = new(chat.Usage)
			}
			*s.usage = chat.Usage{InputTokens: c.Usage.PromptTokens, OutputTokens: c.Usage.CompletionTokens}
		}
		if len(c.Choices) == 0 {
			continue // the usage chunk, or Azure's prompt filter results
		}
		if fr := c.Choices[0].FinishReason; fr != "" {
			s.finish = fr
		}
		if text := c.Choices[0].Delta.Content; text != "" {
			return chat.Chunk{Text: text}, nil
		}
	}
}

// decode decodes data, one JSON value, into s.chunk, reusing its memory. A
// json.Decoder kept for the whole stream, unlike json.Unmarshal, keeps its parser
// state from one chunk to the next: that saves most allocations per chunk.
func (s *stream) decode(data []byte) error {
	// Decoding keeps what it finds no value for (and for null) in place, so
	// everything from the previous chunk must go first.
	choices := s.chunk.Choices[:cap(s.chunk.Choices)]
	clear(choices)
	s.chunk = wireChunk{Choices: choices[:0]}

	s.src.Reset(data)
	if s.dec == nil {
		s.dec = json.NewDecoder(&s.src)
	}
	if err := s.dec.Decode(&s.chunk); err != nil {
		return err
	}
	// Only white space may follow the value.
	if _, err := s.dec.Token(); err != io.EOF {
		return errTrailingData
	}
	return nil
}

var errTrailingData = errors.New("openai: data after the JSON value")

// readError classifies err, which ended the event stream before [DONE].
func (s *stream) readError(ctx context.Context, err error) error {
	if ctxErr := contextError(ctx, err); ctxErr != nil {
		return ctxErr
	}
	switch {
	case errors.Is(err, context.Canceled): // the request's ctx
		return fmt.Errorf("openai: read stream: %w", err)
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return &chat.ProviderError{Class: chat.ErrTimeout, Err: fmt.Errorf("openai: read stream: %w", err)}
	case errors.Is(err, sse.ErrEventTooLarge):
		return &chat.ProviderError{
			Class:   chat.ErrUnavailable,
			Message: "stream event too large",
			Err:     fmt.Errorf("openai: read stream: %w", err),
		}
	case err == io.EOF:
		err = io.ErrUnexpectedEOF
	}
	return &chat.ProviderError{
		Class:   chat.ErrUnavailable,
		Message: "stream ended before [DONE]",
		Err:     fmt.Errorf("openai: read stream: %w", err),
	}
}

// fail makes err final and lets the connection go.
func (s *stream) fail(err error) error {
	s.err = err
	s.stopWatching()
	_ = s.body.Close() // the error that matters is err
	return err
}

// watch closes the body when ctx ends, unless the request's own ctx is ctx, in
// which case net/http does that already. Registering once per ctx keeps Next
// free of allocations when it is always called with the same ctx.
func (s *stream) watch(ctx context.Context) {
	done := ctx.Done()
	if done == nil || done == s.reqDone || done == s.watched {
		return
	}
	s.stopWatching()
	s.watched = done
	s.unwatch = context.AfterFunc(ctx, s.abort)
}

func (s *stream) stopWatching() {
	if s.unwatch != nil {
		s.unwatch()
		s.unwatch, s.watched = nil, nil
	}
}

// Drain bounds: what Close reads after [DONE] so that net/http can reuse the
// connection, and how long it waits for the end of the body.
const (
	maxDrain     = 4 << 10
	drainTimeout = 50 * time.Millisecond
)

// Close releases the connection. After [DONE] it first reads the little that is
// left of the body, so the connection can serve the next request. It is safe to
// call more than once.
func (s *stream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.stopWatching()
	if s.done {
		// A server that keeps the response open after [DONE] costs at most
		// drainTimeout.
		t := time.AfterFunc(drainTimeout, s.abort)
		_, _ = io.CopyN(io.Discard, s.body, maxDrain)
		t.Stop()
	}
	return s.body.Close()
}
