package bedrock

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"

	"github.com/tollgate/tollgate/shared/chat"
)

// Stream asks Bedrock for an answer with ConverseStream. Text, reasoning and
// tool calls stream as deltas; tool calls are counted densely from 0 whatever
// blocks come between them. When Tollgate forced a tool for structured output,
// that tool's input streams as text. ctx governs the whole
// answer, not only the call: the SDK reads the event stream under it, so cancel it
// only once the stream is done. Errors are *chat.ProviderError, or wrap
// context.Canceled when ctx was cancelled; the stream's Next reports the same.
func (c *Client) Stream(ctx context.Context, req *chat.Request) (chat.Stream, error) {
	in, err := convert(req)
	if err != nil {
		return nil, err
	}
	out, err := c.rt.ConverseStream(ctx, in.converseStreamInput(), ownProtocol, forwardTrace)
	if err != nil {
		return nil, classify("converse stream", err)
	}
	if out == nil || out.GetStream() == nil {
		return nil, &chat.ProviderError{
			Class:   chat.ErrUnavailable,
			Message: "no event stream",
			Err:     errors.New("bedrock: converse stream: no event stream"),
		}
	}
	es := out.GetStream()
	return &stream{es: es, events: es.Events(), answerTool: in.answerTool}, nil
}

// ownProtocol gives one ConverseStream call a protocol of its own. A
// bedrockruntime.Client shares one restJson1 protocol, and with it one event-stream
// codec, between all calls; the codec keeps unsynchronised scratch state, so two
// streams read at once are a data race (aws/smithy-go#714: benign for known
// events today, but it fails -race, and re-encoding unknown events shares
// buffers). A protocol is a few small allocations.
func ownProtocol(o *bedrockruntime.Options) {
	o.Protocol = restjson1.New(schemas.AmazonBedrockFrontendService)
}

// eventStream is what a stream uses of *bedrockruntime.ConverseStreamEventStream.
type eventStream interface {
	Err() error
	Close() error
}

// errClosed is returned by Next after Close.
var errClosed = errors.New("bedrock: next on closed stream")

// stream is a ConverseStream answer as a chat.Stream. Next is not safe for
// concurrent use; Close may be called from any goroutine.
type stream struct {
	es     eventStream
	events <-chan types.ConverseStreamOutput

	closeOnce sync.Once
	closed    atomic.Bool

	// answerTool is the forced tool whose input is the answer's text, or "".
	answerTool string

	// Set by Next only.
	tools   map[int32]int  // contentBlockIndex of a tool call → its dense index
	answers map[int32]bool // contentBlockIndexes of answerTool's calls
	calls   int            // tool calls so far, answerTool's left out
	stopped bool           // messageStop arrived
	meta    bool           // metadata arrived
	finish  string         // from messageStop
	usage   *chat.Usage    // from metadata
	err     error          // io.EOF or the error that ended the stream
}

var _ chat.Stream = (*stream)(nil)

// Next returns the next delta (text, reasoning or a tool-call fragment), then a
// chunk with FinishReason and Usage, then io.EOF. A stream that ends without messageStop or metadata was cut off and
// yields an ErrUnavailable *chat.ProviderError.
func (s *stream) Next(ctx context.Context) (chat.Chunk, error) {
	if s.err != nil {
		return chat.Chunk{}, s.err
	}
	if s.closed.Load() {
		return chat.Chunk{}, errClosed
	}
	for {
		if err := ctx.Err(); err != nil {
			return chat.Chunk{}, classify("converse stream", err)
		}
		select {
		case <-ctx.Done():
			return chat.Chunk{}, classify("converse stream", ctx.Err())
		case ev, ok := <-s.events:
			if !ok {
				return s.end()
			}
			switch e := ev.(type) {
			case *types.ConverseStreamOutputMemberContentBlockStart:
				if c, ok := s.start(&e.Value); ok {
					return c, nil
				}
			case *types.ConverseStreamOutputMemberContentBlockDelta:
				if c, ok := s.delta(&e.Value); ok {
					return c, nil
				}
			case *types.ConverseStreamOutputMemberMessageStop:
				s.stopped = true
				s.finish = finishReason(e.Value.StopReason)
				if s.finish == chat.FinishToolCalls && s.calls == 0 {
					// Only the forced answer tool was called (or none at all):
					// the client sees an answer, not tool calls.
					s.finish = chat.FinishStop
				}
			case *types.ConverseStreamOutputMemberMetadata:
				s.meta = true
				s.usage = usage(e.Value.Usage)
			}
		}
	}
}

// start handles the start of a content block: a tool call's first chunk,
// with its ID and name. The answer tool's start yields no chunk.
func (s *stream) start(e *types.ContentBlockStartEvent) (chat.Chunk, bool) {
	tu, ok := e.Start.(*types.ContentBlockStartMemberToolUse)
	if !ok {
		return chat.Chunk{}, false
	}
	block := aws.ToInt32(e.ContentBlockIndex)
	name := aws.ToString(tu.Value.Name)
	if s.answerTool != "" && name == s.answerTool {
		if s.answers == nil {
			s.answers = make(map[int32]bool)
		}
		s.answers[block] = true
		return chat.Chunk{}, false
	}
	return chat.Chunk{ToolCall: &chat.ToolCallDelta{
		Index: s.toolIndex(block),
		ID:    aws.ToString(tu.Value.ToolUseId),
		Name:  name,
	}}, true
}

// toolIndex returns the dense index of the tool call in content block block,
// giving it the next one when it is new. Bedrock's contentBlockIndex counts text
// and reasoning blocks too, so it cannot serve as the index itself.
func (s *stream) toolIndex(block int32) int {
	if i, ok := s.tools[block]; ok {
		return i
	}
	if s.tools == nil {
		s.tools = make(map[int32]int)
	}
	i := s.calls
	s.tools[block] = i
	s.calls++
	return i
}

// delta turns a content block delta into a chunk; empty deltas and kinds
// Tollgate does not carry (citations, images) yield none.
func (s *stream) delta(e *types.ContentBlockDeltaEvent) (chat.Chunk, bool) {
	block := aws.ToInt32(e.ContentBlockIndex)
	var c chat.Chunk
	switch d := e.Delta.(type) {
	case *types.ContentBlockDeltaMemberText:
		c.Text = d.Value
	case *types.ContentBlockDeltaMemberToolUse:
		in := aws.ToString(d.Value.Input)
		if s.answers[block] {
			c.Text = in
			break
		}
		if in == "" {
			if _, ok := s.tools[block]; ok {
				return chat.Chunk{}, false
			}
		}
		c.ToolCall = &chat.ToolCallDelta{Index: s.toolIndex(block), Arguments: in}
		return c, true
	case *types.ContentBlockDeltaMemberReasoningContent:
		switch r := d.Value.(type) {
		case *types.ReasoningContentBlockDeltaMemberText:
			c.Reasoning = r.Value
		case *types.ReasoningContentBlockDeltaMemberSignature:
			c.ReasoningSignature = r.Value
		case *types.ReasoningContentBlockDeltaMemberRedactedContent:
			c.RedactedReasoning = string(r.Value)
		}
	}
	if c == (chat.Chunk{}) {
		return chat.Chunk{}, false
	}
	return c, true
}

// end settles the stream once the SDK closed the event channel.
func (s *stream) end() (chat.Chunk, error) {
	if s.closed.Load() {
		return chat.Chunk{}, errClosed
	}
	if err := s.es.Err(); err != nil {
		s.err = classify("converse stream", err)
		return chat.Chunk{}, s.err
	}
	if !s.stopped || !s.meta {
		s.err = cut()
		return chat.Chunk{}, s.err
	}
	s.err = io.EOF
	return chat.Chunk{FinishReason: s.finish, Usage: s.usage}, nil
}

// Close releases the connection. Failures of the answer are Next's to report, so
// Close returns nil; it is safe to call more than once.
func (s *stream) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		_ = s.es.Close() // returns the stream's error, already reported by Next
	})
	return nil
}
