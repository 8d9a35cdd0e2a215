// Package bedrock serves chat completions from Amazon Bedrock through the Converse
// and ConverseStream APIs, translating between Tollgate's chat vocabulary and the
// Bedrock Runtime SDK, and classifying Bedrock's failures as chat.ProviderError.
//
// Every kind of part travels: text, inline images, tool calls (toolUse) and
// results (toolResult, in user turns), reasoning (reasoningContent) and cache
// points, with tools and tool choice in toolConfig. Structured output uses
// outputConfig where the model has it and a forced tool elsewhere; reasoning
// effort becomes the model family's additionalModelRequestFields (models.go).
// Client.Check reports, before any call, what Bedrock cannot do with a request.
package bedrock

import (
	"context"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tollgate/tollgate/shared/chat"
)

// Runtime is the part of the Bedrock Runtime API the Client uses.
// *bedrockruntime.Client implements it.
type Runtime interface {
	Converse(ctx context.Context, params *bedrockruntime.ConverseInput, optFns ...func(*bedrockruntime.Options)) (*bedrockruntime.ConverseOutput, error)
	ConverseStream(ctx context.Context, params *bedrockruntime.ConverseStreamInput, optFns ...func(*bedrockruntime.Options)) (*bedrockruntime.ConverseStreamOutput, error)
	InvokeModel(ctx context.Context, params *bedrockruntime.InvokeModelInput, optFns ...func(*bedrockruntime.Options)) (*bedrockruntime.InvokeModelOutput, error)
}

var _ Runtime = (*bedrockruntime.Client)(nil)

// Client completes chat requests on Bedrock. It is safe for concurrent use.
type Client struct {
	rt Runtime
}

// New returns a Client that calls rt.
func New(rt Runtime) *Client {
	return &Client{rt: rt}
}

// Complete asks Bedrock for a whole answer with Converse. The answer's message
// holds its reasoning first, then its text, then its tool calls. Errors are
// *chat.ProviderError, or wrap context.Canceled when ctx was cancelled.
func (c *Client) Complete(ctx context.Context, req *chat.Request) (chat.Completion, error) {
	in, err := convert(req)
	if err != nil {
		return chat.Completion{}, err
	}
	out, err := c.rt.Converse(ctx, in.converseInput(), forwardTrace)
	if err != nil {
		return chat.Completion{}, classify("converse", err)
	}
	var content []types.ContentBlock
	if msg, ok := out.Output.(*types.ConverseOutputMemberMessage); ok {
		content = msg.Value.Content
	}
	msg, calls, err := answer(content, in.answerTool)
	if err != nil {
		return chat.Completion{}, err
	}
	finish := finishReason(out.StopReason)
	if finish == chat.FinishToolCalls && calls == 0 {
		// Only the forced answer tool was called (or none at all): the client
		// sees an answer, not tool calls.
		finish = chat.FinishStop
	}
	return chat.Completion{
		Choices: []chat.Choice{{Message: msg, FinishReason: finish}},
		Usage:   usage(out.Usage),
	}, nil
}

// answer turns Converse's output blocks into an assistant message: reasoning
// parts, one text part (the text blocks joined, and the input of answerTool as
// JSON text), then the tool calls; it also returns how many tool calls there
// are. A message with nothing else holds one empty text part.
func answer(content []types.ContentBlock, answerTool string) (chat.Message, int, error) {
	var (
		reasoning, calls []chat.Part
		text             strings.Builder
	)
	for _, b := range content {
		switch b := b.(type) {
		case *types.ContentBlockMemberText:
			text.WriteString(b.Value)
		case *types.ContentBlockMemberReasoningContent:
			switch rc := b.Value.(type) {
			case *types.ReasoningContentBlockMemberReasoningText:
				reasoning = append(reasoning, chat.Part{
					Kind:      chat.PartReasoning,
					Text:      aws.ToString(rc.Value.Text),
					Signature: aws.ToString(rc.Value.Signature),
				})
			case *types.ReasoningContentBlockMemberRedactedContent:
				reasoning = append(reasoning, chat.Part{Kind: chat.PartReasoning, Redacted: rc.Value})
			}
		case *types.ContentBlockMemberToolUse:
			args, err := documentJSON(b.Value.Input)
			if err != nil {
				return chat.Message{}, 0, malformed("converse: tool input", err)
			}
			name := aws.ToString(b.Value.Name)
			if answerTool != "" && name == answerTool {
				text.WriteString(args)
				continue
			}
			calls = append(calls, chat.Part{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{
				ID:        aws.ToString(b.Value.ToolUseId),
				Name:      name,
				Arguments: args,
			}})
		}
	}
	parts := reasoning
	if text.Len() > 0 || len(reasoning)+len(calls) == 0 {
		parts = append(parts, chat.TextPart(text.String()))
	}
	parts = append(parts, calls...)
	return chat.Message{Role: chat.RoleAssistant, Parts: parts}, len(calls), nil
}

// documentJSON returns a tool input document as JSON text; no input is {}.
func documentJSON(d document.Interface) (string, error) {
	if d == nil {
		return "{}", nil
	}
	b, err := d.MarshalSmithyDocument()
	if err != nil {
		return "", err
	}
	if s := strings.TrimSpace(string(b)); s != "" && s != "null" {
		return s, nil
	}
	return "{}", nil
}

// finishReason maps a Bedrock stop reason onto OpenAI's finish reasons.
func finishReason(r types.StopReason) string {
	switch r {
	case types.StopReasonMaxTokens, types.StopReasonModelContextWindowExceeded:
		return chat.FinishLength
	case types.StopReasonGuardrailIntervened, types.StopReasonContentFiltered:
		return chat.FinishContentFilter
	case types.StopReasonToolUse:
		return chat.FinishToolCalls
	default: // end_turn, stop_sequence, malformed_*, and any new reason
		return chat.FinishStop
	}
}

// usage converts Bedrock's token usage; nil stays nil. Bedrock's inputTokens
// leave out the tokens read from or written to the prompt cache; chat's
// InputTokens count every prompt token, so they are added back.
func usage(u *types.TokenUsage) *chat.Usage {
	if u == nil {
		return nil
	}
	read, write := int(aws.ToInt32(u.CacheReadInputTokens)), int(aws.ToInt32(u.CacheWriteInputTokens))
	return &chat.Usage{
		InputTokens:      int(aws.ToInt32(u.InputTokens)) + read + write,
		OutputTokens:     int(aws.ToInt32(u.OutputTokens)),
		CacheReadTokens:  read,
		CacheWriteTokens: write,
	}
}

// quote quotes s for an error message, shortening it so a hostile value cannot
// flood logs.
func quote(s string) string {
	const limit = 32
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return strconv.Quote(s)
}

// forwardTrace sends the request's X-Ray trace header (chat.TraceID) with the
// call, so Bedrock's side of a request joins the gateway's trace. It runs after
// the SDK's own recursion-detection step, which only knows the process-wide
// _X_AMZN_TRACE_ID of the latest invocation.
func forwardTrace(o *bedrockruntime.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Build.Add(middleware.BuildMiddlewareFunc("TollgateTraceID",
			func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
				if id := chat.TraceID(ctx); id != "" {
					if req, ok := in.Request.(*smithyhttp.Request); ok {
						req.Header.Set("X-Amzn-Trace-Id", id)
					}
				}
				return next.HandleBuild(ctx, in)
			}), middleware.After)
	})
}
