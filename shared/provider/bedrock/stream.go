package bedrock

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"

	"github.com/tollgate/tollgate/shared/chat"
)

// Stream asks Bedrock for an answer with ConverseStream. ctx governs the whole
// answer, not only the call: the SDK reads the event stream under it, so cancel it
// only once the stream is done. Errors are *chat.ProviderError, or wrap
// context.Canceled when ctx was cancelled; the stream's Next reports the same.
func (c *Client) Stream(ctx context.Context, req *chat.Request) (chat.Stream, error) {
	in, err := convert(req)
	if err != nil {
		return nil, err
	}
	out, err := c.rt.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{
		ModelId:         in.modelID,
		Messages:        in.messages,
		System:          in.system,
		InferenceConfig: in.config,
	}, ownProtocol, forwardTrace)
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
	return &stream{es: es, events: es.Events()}, nil
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

	// Set by Next only.
	stopped bool        // messageStop arrived
	meta    bool        // metadata arrived
	finish  string      // from messageStop
	usage   *chat.Usage // from metadata
	err     error       // io.EOF or the error that ended the stream
}

var _ chat.Stream = (*stream)(nil)

// Next returns the next text chunk, then a chunk with FinishReason and Usage, then
// io.EOF. A stream that ends without messageStop or metadata was cut off and
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
			case *types.ConverseStreamOutputMemberContentBlockDelta:
				// Tool use, reasoning and citation deltas carry no answer text.
				if t, ok := e.Value.Delta.(*types.ContentBlockDeltaMemberText); ok && t.Value != "" {
					return chat.Chunk{Text: t.Value}, nil
				}
			case *types.ConverseStreamOutputMemberMessageStop:
				s.stopped = true
				s.finish = finishReason(e.Value.StopReason)
			case *types.ConverseStreamOutputMemberMetadata:
				s.meta = true
				s.usage = usage(e.Value.Usage)
			}
		}
	}
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
