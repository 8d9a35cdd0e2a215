// Package bedrock serves chat completions from Amazon Bedrock through the Converse
// and ConverseStream APIs, translating between Tollgate's chat vocabulary and the
// Bedrock Runtime SDK, and classifying Bedrock's failures as chat.ProviderError.
package bedrock

import (
	"context"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
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

// Complete asks Bedrock for a whole answer with Converse. Errors are
// *chat.ProviderError, or wrap context.Canceled when ctx was cancelled.
func (c *Client) Complete(ctx context.Context, req *chat.Request) (chat.Completion, error) {
	in, err := convert(req)
	if err != nil {
		return chat.Completion{}, err
	}
	out, err := c.rt.Converse(ctx, &bedrockruntime.ConverseInput{
		ModelId:         in.modelID,
		Messages:        in.messages,
		System:          in.system,
		InferenceConfig: in.config,
	}, forwardTrace)
	if err != nil {
		return chat.Completion{}, classify("converse", err)
	}
	var sb strings.Builder
	if msg, ok := out.Output.(*types.ConverseOutputMemberMessage); ok {
		for _, b := range msg.Value.Content {
			if t, ok := b.(*types.ContentBlockMemberText); ok {
				sb.WriteString(t.Value)
			}
		}
	}
	return chat.TextCompletion(sb.String(), finishReason(out.StopReason), usage(out.Usage)), nil
}

// request is a chat.Request in Bedrock's terms.
type request struct {
	modelID  *string
	messages []types.Message
	system   []types.SystemContentBlock
	config   *types.InferenceConfiguration
}

// convert maps req onto Bedrock's Converse input. System messages become system
// blocks, in order. Bedrock wants the conversation to start with a user message
// and roles to alternate, so consecutive messages of one role are joined with a
// blank line; a conversation starting with an assistant message is a bad request.
func convert(req *chat.Request) (request, error) {
	if req == nil {
		return request{}, badRequest("no request")
	}
	if req.Model == "" {
		return request{}, badRequest("no model")
	}
	var (
		r     request
		roles []types.ConversationRole
		texts []string
	)
	for i := range req.Messages {
		m := &req.Messages[i]
		var role types.ConversationRole
		switch m.Role {
		case chat.RoleSystem:
			r.system = append(r.system, &types.SystemContentBlockMemberText{Value: m.Text()})
			continue
		case chat.RoleUser:
			role = types.ConversationRoleUser
		case chat.RoleAssistant:
			role = types.ConversationRoleAssistant
		default:
			return request{}, badRequest("unsupported message role " + quote(m.Role))
		}
		if n := len(roles); n > 0 && roles[n-1] == role {
			texts[n-1] += "\n\n" + m.Text()
			continue
		}
		if len(roles) == 0 && role != types.ConversationRoleUser {
			return request{}, badRequest("the conversation must start with a user message")
		}
		roles = append(roles, role)
		texts = append(texts, m.Text())
	}
	if len(roles) == 0 {
		return request{}, badRequest("the conversation has no user message")
	}
	r.messages = make([]types.Message, len(roles))
	for i := range roles {
		r.messages[i] = types.Message{
			Role:    roles[i],
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: texts[i]}},
		}
	}
	r.modelID = aws.String(req.Model)
	r.config = inferenceConfig(req)
	return r, nil
}

// inferenceConfig returns req's sampling settings, or nil when it sets none.
func inferenceConfig(req *chat.Request) *types.InferenceConfiguration {
	var cfg types.InferenceConfiguration
	set := false
	if req.MaxTokens > 0 {
		cfg.MaxTokens = aws.Int32(int32(min(req.MaxTokens, 1<<31-1)))
		set = true
	}
	if req.Temperature != nil {
		cfg.Temperature = aws.Float32(float32(*req.Temperature))
		set = true
	}
	if req.TopP != nil {
		cfg.TopP = aws.Float32(float32(*req.TopP))
		set = true
	}
	if len(req.Stop) > 0 {
		cfg.StopSequences = req.Stop
		set = true
	}
	if !set {
		return nil
	}
	return &cfg
}

// finishReason maps a Bedrock stop reason onto OpenAI's finish reasons.
func finishReason(r types.StopReason) string {
	switch r {
	case types.StopReasonMaxTokens, types.StopReasonModelContextWindowExceeded:
		return chat.FinishLength
	case types.StopReasonGuardrailIntervened, types.StopReasonContentFiltered:
		return chat.FinishContentFilter
	default: // end_turn, stop_sequence, tool_use, malformed_*, and any new reason
		return chat.FinishStop
	}
}

// usage converts Bedrock's token usage; nil stays nil.
func usage(u *types.TokenUsage) *chat.Usage {
	if u == nil {
		return nil
	}
	return &chat.Usage{
		InputTokens:  int(aws.ToInt32(u.InputTokens)),
		OutputTokens: int(aws.ToInt32(u.OutputTokens)),
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
