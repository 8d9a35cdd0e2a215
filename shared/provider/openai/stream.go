package openai

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/sse"
)

// stream is a chat.Stream over a Chat Completions event stream.
type stream struct {
	body   io.ReadCloser
	events *sse.Reader
	apiKey string // to keep it out of error messages

	choices []choiceState // by choice index
	usage   *chat.Usage   // the last usage seen
	queue   []chat.Chunk  // chunks decoded and not yet returned, from next on
	next    int
	chunk   wireChunk     // decoded into, again and again
	src     bytes.Reader  // the data being decoded
	dec     *json.Decoder // reads from src
	done    bool          // "data: [DONE]" was read
	err     error         // returned by every call after a failure, or io.EOF
	closed  bool

	// Next's ctx, when it is not the request's, closes the body when it ends, so a
	// blocked read returns.
	reqDone <-chan struct{} // the request's ctx.Done()
	watched <-chan struct{} // the ctx.Done() being watched
	unwatch func() bool
	abort   func() // s.body.Close, made once
}

// Bounds on what an upstream may make the stream remember: OpenAI allows at
// most 128 choices, and no model makes thousands of tool calls in one answer.
const (
	maxChoices   = 128
	maxToolCalls = 1024
)

// choiceState is what the stream remembers of one choice.
type choiceState struct {
	finish string
	calls  []callState // by dense index, in order of first appearance
}

// callState is one tool call of a choice.
type callState struct {
	upstream int // the upstream's index, -1 when it gave none
	id, name string
}

// wireChunk holds the fields of a chat.completion.chunk the gateway needs.
type wireChunk struct {
	Choices []wireChoice    `json:"choices"`
	Usage   *wireUsage      `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

type wireChoice struct {
	Index int       `json:"index"`
	Delta wireDelta `json:"delta"`
	// Logprobs is a pointer so that the usual null costs no allocation.
	Logprobs     *json.RawMessage `json:"logprobs"`
	FinishReason string           `json:"finish_reason"`
}

type wireDelta struct {
	Content string `json:"content"`
	Refusal string `json:"refusal"`
	// ReasoningContent is DeepSeek's and vLLM's field for reasoning text,
	// Reasoning OpenRouter's and Ollama's.
	ReasoningContent string          `json:"reasoning_content"`
	Reasoning        string          `json:"reasoning"`
	ToolCalls        []wireToolDelta `json:"tool_calls"`
}

// wireToolDelta is a fragment of a streamed tool call. OpenAI sends index, id,
// type and function.name with the first fragment of a call, then only index and
// more function.arguments.
type wireToolDelta struct {
	Index    wireIndex    `json:"index"`
	ID       string       `json:"id"`
	Function wireFunction `json:"function"`
}

// wireIndex is an optional index, decoded without the allocation an *int costs.
type wireIndex struct {
	n   int
	set bool
}

func (x *wireIndex) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*x = wireIndex{}
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return fmt.Errorf("openai: tool call index %s: %w", b, errBadIndex)
	}
	*x = wireIndex{n: n, set: true}
	return nil
}

var errBadIndex = errors.New("not an integer")

func newStream(body io.ReadCloser, reqDone <-chan struct{}, apiKey string) *stream {
	s := &stream{body: body, events: sse.NewReader(body, 0), apiKey: apiKey, reqDone: reqDone}
	s.abort = func() { _ = s.body.Close() }
	return s
}

// Next returns the next delta (text, reasoning, refusal, a tool-call fragment or
// logprobs, one per chunk, in the order the upstream sent them), then the last
// chunks: after "data: [DONE]", one per choice with its finish reason, the last
// of them with the usage. Then it returns io.EOF.
func (s *stream) Next(ctx context.Context) (chat.Chunk, error) {
	if s.err != nil {
		return chat.Chunk{}, s.err
	}
	if s.next < len(s.queue) {
		c := s.queue[s.next]
		s.queue[s.next] = chat.Chunk{} // let go of what it points to
		s.next++
		return c, nil
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
			s.finish()
			return s.Next(ctx)
		}
		if len(bytes.TrimSpace(ev.Data)) == 0 {
			continue // an empty keep-alive
		}
		if ev.Name == "error" {
			return chat.Chunk{}, s.fail(inBandError(ev.Data, s.apiKey))
		}
		if err := s.decode(ev.Data); err != nil {
			return chat.Chunk{}, s.fail(malformed(err))
		}
		c := &s.chunk
		if isSet(c.Error) {
			return chat.Chunk{}, s.fail(inBandError(c.Error, s.apiKey))
		}
		if c.Usage != nil {
			if s.usage == nil {
				s.usage = new(chat.Usage)
			}
			*s.usage = c.Usage.chat()
		}
		// No choices: the usage chunk, or Azure's prompt filter results.
		s.queue, s.next = s.queue[:0], 0
		for i := range c.Choices {
			if err := s.deltas(&c.Choices[i]); err != nil {
				return chat.Chunk{}, s.fail(malformed(err))
			}
		}
		if len(s.queue) > 0 {
			return s.Next(ctx)
		}
	}
}

func malformed(err error) error {
	return &chat.ProviderError{
		Class:   chat.ErrUnavailable,
		Message: "malformed chunk",
		Err:     fmt.Errorf("openai: decode chunk: %w", err),
	}
}

// deltas queues a chunk for each delta of wc: reasoning, text, refusal and the
// tool-call fragments, in that order, and its logprobs with the text (or the
// refusal, or on their own). It remembers wc's finish reason for the end.
func (s *stream) deltas(wc *wireChoice) error {
	if wc.Index < 0 || wc.Index >= maxChoices {
		return fmt.Errorf("choice index %d out of range", wc.Index)
	}
	if wc.Index >= len(s.choices) {
		s.choices = append(s.choices, make([]choiceState, wc.Index+1-len(s.choices))...)
	}
	st := &s.choices[wc.Index]
	if wc.FinishReason != "" {
		st.finish = finishReason(wc.FinishReason)
	}
	d := &wc.Delta
	var logprobs string
	if wc.Logprobs != nil && isSet(*wc.Logprobs) {
		logprobs = string(*wc.Logprobs)
	}
	if r := cmp.Or(d.ReasoningContent, d.Reasoning); r != "" {
		s.queue = append(s.queue, chat.Chunk{Choice: wc.Index, Reasoning: r})
	}
	if d.Content != "" {
		s.queue = append(s.queue, chat.Chunk{Choice: wc.Index, Text: d.Content, Logprobs: logprobs})
		logprobs = ""
	}
	if d.Refusal != "" {
		s.queue = append(s.queue, chat.Chunk{Choice: wc.Index, Refusal: d.Refusal, Logprobs: logprobs})
		logprobs = ""
	}
	for i := range d.ToolCalls {
		td, err := st.toolCall(&d.ToolCalls[i])
		if err != nil {
			return err
		}
		if td != nil {
			s.queue = append(s.queue, chat.Chunk{Choice: wc.Index, ToolCall: td})
		}
	}
	if logprobs != "" {
		s.queue = append(s.queue, chat.Chunk{Choice: wc.Index, Logprobs: logprobs})
	}
	return nil
}

// toolCall returns the chat delta for the fragment w, or nil when it adds
// nothing. Calls are numbered densely from 0 in order of first appearance,
// whatever indexes the upstream uses (some start at 1, or leave gaps); a
// fragment without an index belongs to the call with its id, or else to the
// latest call. Only a call's first fragment carries its ID and Name, as chat
// wants, even from upstreams that repeat them.
func (st *choiceState) toolCall(w *wireToolDelta) (*chat.ToolCallDelta, error) {
	k := -1
	if w.Index.set {
		for j := len(st.calls) - 1; j >= 0; j-- {
			if st.calls[j].upstream == w.Index.n {
				k = j
				break
			}
		}
		// An upstream that numbers every call 0 still gives each its own id.
		if k >= 0 && w.ID != "" && st.calls[k].id != "" && w.ID != st.calls[k].id {
			k = -1
		}
	} else {
		for j := len(st.calls) - 1; j >= 0; j-- {
			if w.ID == "" || st.calls[j].id == w.ID {
				k = j
				break
			}
		}
	}
	if k < 0 {
		if len(st.calls) >= maxToolCalls {
			return nil, fmt.Errorf("more than %d tool calls", maxToolCalls)
		}
		up := -1
		if w.Index.set {
			up = w.Index.n
		}
		st.calls = append(st.calls, callState{upstream: up, id: w.ID, name: w.Function.Name})
		return &chat.ToolCallDelta{
			Index:     len(st.calls) - 1,
			ID:        w.ID,
			Name:      w.Function.Name,
			Arguments: w.Function.Arguments,
		}, nil
	}
	c := &st.calls[k]
	td := chat.ToolCallDelta{Index: k, Arguments: w.Function.Arguments}
	if c.id == "" && w.ID != "" {
		c.id, td.ID = w.ID, w.ID
	}
	if c.name == "" && w.Function.Name != "" {
		c.name, td.Name = w.Function.Name, w.Function.Name
	}
	if td == (chat.ToolCallDelta{Index: k}) {
		return nil, nil
	}
	return &td, nil
}

// finish queues the last chunks: each choice's finish reason, in order of
// index, with the usage on the last one.
func (s *stream) finish() {
	s.queue, s.next = s.queue[:0], 0
	for i := range s.choices {
		s.queue = append(s.queue, chat.Chunk{Choice: i, FinishReason: s.choices[i].finish})
	}
	if len(s.queue) == 0 {
		s.queue = append(s.queue, chat.Chunk{})
	}
	s.queue[len(s.queue)-1].Usage = s.usage
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
