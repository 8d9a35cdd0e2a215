package openaitest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/schema"
	"github.com/tollgate/tollgate/shared/sse"
)

// reply is what the fake will say, for each of its n choices.
type reply struct {
	n         int
	reasoning []string   // reasoning_content pieces
	chunks    []string   // content pieces
	refusal   []string   // refusal pieces
	calls     []ToolCall // choice 0's; choice c > 0 has IDs suffixed "_c"
	finish    string
	usage     usageJSON
	omitUsage bool
	// logprobs: whether to send them, and how many top_logprobs each has.
	logprobs    bool
	topLogprobs int
}

// plan decides the answer to req. seq numbers the request, for tool call ids.
func plan(req *Request, s Script, seq int) (reply, *apiError) {
	a := reply{n: max(req.N, 1), reasoning: s.Reasoning, finish: s.FinishReason, omitUsage: s.OmitUsage, logprobs: req.Logprobs}
	if req.TopLogprobs != nil {
		a.topLogprobs = *req.TopLogprobs
	}
	if s.Auto || s.Chunks == nil && len(s.ToolCalls) == 0 && s.Refusal == "" {
		if err := a.auto(req, seq); err != nil {
			return a, err
		}
	} else {
		a.chunks = s.Chunks
		a.calls = make([]ToolCall, len(s.ToolCalls))
		for k, c := range s.ToolCalls {
			if c.ID == "" {
				c.ID = callID(seq, k)
			}
			a.calls[k] = c
		}
		a.refusal = Words(s.Refusal)
	}
	if a.finish == "" {
		a.finish = chat.FinishStop
		if len(a.calls) > 0 {
			a.finish = chat.FinishToolCalls
		}
	}
	limit := req.MaxCompletionTokens
	if limit == 0 {
		limit = req.MaxTokens
	}
	if limit > 0 && len(a.chunks) > limit {
		a.chunks = a.chunks[:limit]
		a.finish = chat.FinishLength
	}

	if s.Usage != nil {
		a.usage = usageJSON{PromptTokens: s.Usage.InputTokens, CompletionTokens: s.Usage.OutputTokens}
		a.usage.PromptTokensDetails.CachedTokens = s.Usage.CacheReadTokens
		a.usage.CompletionTokensDetails.ReasoningTokens = s.Usage.ReasoningTokens
	} else {
		for _, m := range req.Messages {
			a.usage.PromptTokens += Tokens(m.Content)
		}
		perChoice := len(a.reasoning) + len(a.chunks) + len(a.refusal)
		for _, c := range a.calls {
			perChoice += 1 + len(fragments(c.Arguments))
		}
		a.usage.CompletionTokens = perChoice * a.n
		a.usage.CompletionTokensDetails.ReasoningTokens = len(a.reasoning) * a.n
	}
	a.usage.TotalTokens = a.usage.PromptTokens + a.usage.CompletionTokens
	return a, nil
}

func callID(seq, k int) string { return fmt.Sprintf("call_%d_%d", seq, k) }

// auto answers as a model in an agent loop would. With tools offered (and
// tool_choice not "none") and a last message that is not a tool message, it
// calls tools: the first two, when parallel calls are allowed, there are two
// and tool_choice names none, else the named or the first one, with arguments
// made by schema.Example from the tool's parameters and the last user text.
// Otherwise it answers text: "results: " and the contents of the last tool
// messages joined with "; ", or else the last user text; a json_schema
// response format makes that schema.Example(schema, text), json_object
// {"answer": text}.
func (a *reply) auto(req *Request, seq int) *apiError {
	last := &req.Messages[len(req.Messages)-1]
	user := req.lastText(chat.RoleUser)
	tc := req.ToolChoice
	if len(req.Tools) > 0 && (tc == nil || tc.Mode != "none") && last.Role != chat.RoleTool {
		var tools []*Tool
		switch {
		case tc != nil && tc.Mode == "function":
			tools = append(tools, req.tool(tc.Name))
		case (req.ParallelToolCalls == nil || *req.ParallelToolCalls) && len(req.Tools) >= 2:
			tools = append(tools, &req.Tools[0], &req.Tools[1])
		default:
			tools = append(tools, &req.Tools[0])
		}
		for k, t := range tools {
			args, err := schema.Example(t.Parameters, user)
			if err != nil {
				return invalid(fmt.Sprintf("tools[%d].function.parameters", k), "invalid_function_parameters",
					fmt.Sprintf("Invalid schema for function '%s': %v", t.Name, err))
			}
			a.calls = append(a.calls, ToolCall{ID: callID(seq, k), Name: t.Name, Arguments: string(args)})
		}
		return nil
	}
	text := user
	if last.Role == chat.RoleTool {
		first := len(req.Messages) - 1
		for first > 0 && req.Messages[first-1].Role == chat.RoleTool {
			first--
		}
		results := make([]string, 0, len(req.Messages)-first)
		for _, m := range req.Messages[first:] {
			results = append(results, m.Content)
		}
		text = "results: " + strings.Join(results, "; ")
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_schema":
			var sch []byte
			if rf.JSONSchema != nil {
				sch = rf.JSONSchema.Schema
			}
			b, err := schema.Example(sch, text)
			if err != nil {
				return invalid("response_format", "invalid_json_schema", fmt.Sprintf("Invalid schema for response_format: %v", err))
			}
			text = string(b)
		case "json_object":
			b, _ := json.Marshal(map[string]string{"answer": text})
			text = string(b)
		}
	}
	a.chunks = Words(text)
	return nil
}

// id returns call k's id in choice c.
func (a *reply) id(k, c int) string {
	if c == 0 {
		return a.calls[k].ID
	}
	return fmt.Sprintf("%s_%d", a.calls[k].ID, c)
}

// contentNull reports whether the answer has no content at all, which the API
// sends as null: a refusal or only tool calls.
func (a *reply) contentNull() bool {
	return len(a.chunks) == 0 && (len(a.calls) > 0 || len(a.refusal) > 0)
}

// maxFragment is the most bytes of arguments a streamed fragment carries.
const maxFragment = 6

// fragments splits tool call arguments into the pieces a stream sends, on rune
// boundaries.
func fragments(args string) []string {
	var out []string
	for len(args) > 0 {
		n := min(maxFragment, len(args))
		for n < len(args) && !utf8.RuneStart(args[n]) {
			n++
		}
		out = append(out, args[:n])
		args = args[n:]
	}
	return out
}

// Wire format. Field order and nulls follow what api.openai.com sends.
type (
	chunkJSON struct {
		ID      string       `json:"id"`
		Object  string       `json:"object"`
		Created int64        `json:"created"`
		Model   string       `json:"model"`
		Choices []choiceJSON `json:"choices"`
		// Usage is null on every chunk but the last when the request asked for
		// usage, and absent otherwise.
		Usage any `json:"usage,omitempty"`
	}
	choiceJSON struct {
		Index        int       `json:"index"`
		Delta        deltaJSON `json:"delta"`
		Logprobs     any       `json:"logprobs"` // nil or *logprobsJSON
		FinishReason *string   `json:"finish_reason"`
	}
	deltaJSON struct {
		Role             string          `json:"role,omitempty"`
		Content          any             `json:"content,omitempty"` // *string, or null
		ReasoningContent *string         `json:"reasoning_content,omitempty"`
		ToolCalls        []toolDeltaJSON `json:"tool_calls,omitempty"`
		Refusal          any             `json:"refusal,omitempty"` // *string, or null
	}
	toolDeltaJSON struct {
		Index    int          `json:"index"`
		ID       string       `json:"id,omitempty"`
		Type     string       `json:"type,omitempty"`
		Function functionJSON `json:"function"`
	}
	logprobsJSON struct {
		Content []tokenJSON `json:"content"`
		Refusal []tokenJSON `json:"refusal"`
	}
	tokenJSON struct {
		Token       string    `json:"token"`
		Logprob     float64   `json:"logprob"`
		Bytes       []int     `json:"bytes"`
		TopLogprobs []topJSON `json:"top_logprobs"`
	}
	topJSON struct {
		Token   string  `json:"token"`
		Logprob float64 `json:"logprob"`
		Bytes   []int   `json:"bytes"`
	}
	usageJSON struct {
		PromptTokens            int                   `json:"prompt_tokens"`
		CompletionTokens        int                   `json:"completion_tokens"`
		TotalTokens             int                   `json:"total_tokens"`
		PromptTokensDetails     promptDetailsJSON     `json:"prompt_tokens_details"`
		CompletionTokensDetails completionDetailsJSON `json:"completion_tokens_details"`
	}
	promptDetailsJSON struct {
		CachedTokens int `json:"cached_tokens"`
		AudioTokens  int `json:"audio_tokens"`
	}
	completionDetailsJSON struct {
		ReasoningTokens          int `json:"reasoning_tokens"`
		AudioTokens              int `json:"audio_tokens"`
		AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
		RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
	}
	completionJSON struct {
		ID      string           `json:"id"`
		Object  string           `json:"object"`
		Created int64            `json:"created"`
		Model   string           `json:"model"`
		Choices []completeChoice `json:"choices"`
		Usage   *usageJSON       `json:"usage,omitempty"`
	}
	completeChoice struct {
		Index        int           `json:"index"`
		Message      messageJSON   `json:"message"`
		Logprobs     *logprobsJSON `json:"logprobs"`
		FinishReason string        `json:"finish_reason"`
	}
	messageJSON struct {
		Role             string     `json:"role"`
		Content          *string    `json:"content"`
		Refusal          *string    `json:"refusal"`
		ReasoningContent string     `json:"reasoning_content,omitempty"`
		ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
	}
	errorJSON struct {
		Error errorBody `json:"error"`
	}
	errorBody struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
)

var null = json.RawMessage("null")

// token returns the logprobs entry of a piece of text: logprob -0.125, and
// top alternatives (the piece itself, then "alt1", "alt2", ... less likely).
func token(piece string, top int) tokenJSON {
	t := tokenJSON{Token: piece, Logprob: -0.125, Bytes: bytesOf(piece), TopLogprobs: []topJSON{}}
	if top > 0 {
		t.TopLogprobs = append(t.TopLogprobs, topJSON{Token: piece, Logprob: t.Logprob, Bytes: t.Bytes})
		for k := 1; k < top; k++ {
			alt := fmt.Sprintf("alt%d", k)
			t.TopLogprobs = append(t.TopLogprobs, topJSON{Token: alt, Logprob: -float64(k + 1), Bytes: bytesOf(alt)})
		}
	}
	return t
}

func bytesOf(s string) []int {
	out := make([]int, len(s))
	for i := range len(s) {
		out[i] = int(s[i])
	}
	return out
}

// step is one chunk of a choice's stream after the first.
type step struct {
	delta    deltaJSON
	logprobs any
}

// steps returns the deltas of choice c after its first chunk (the role), and
// whether that first chunk is steps[0] (the first tool call's, when the answer
// is only tool calls) rather than a chunk of its own.
func (a *reply) steps(c int) ([]step, bool) {
	n := len(a.reasoning) + len(a.chunks) + len(a.refusal)
	for _, call := range a.calls {
		n += 1 + len(fragments(call.Arguments))
	}
	out := make([]step, 0, n)
	for i := range a.reasoning {
		out = append(out, step{delta: deltaJSON{ReasoningContent: &a.reasoning[i]}})
	}
	for i := range a.chunks {
		s := step{delta: deltaJSON{Content: &a.chunks[i]}}
		if a.logprobs {
			s.logprobs = &logprobsJSON{Content: []tokenJSON{token(a.chunks[i], a.topLogprobs)}}
		}
		out = append(out, s)
	}
	for i := range a.refusal {
		s := step{delta: deltaJSON{Refusal: &a.refusal[i]}}
		if a.logprobs {
			s.logprobs = &logprobsJSON{Refusal: []tokenJSON{token(a.refusal[i], a.topLogprobs)}}
		}
		out = append(out, s)
	}
	for k, call := range a.calls {
		out = append(out, step{delta: deltaJSON{ToolCalls: []toolDeltaJSON{{
			Index: k, ID: a.id(k, c), Type: "function", Function: functionJSON{Name: call.Name},
		}}}})
		for _, f := range fragments(call.Arguments) {
			out = append(out, step{delta: deltaJSON{ToolCalls: []toolDeltaJSON{{Index: k, Function: functionJSON{Arguments: f}}}}})
		}
	}
	merged := len(a.reasoning)+len(a.chunks)+len(a.refusal) == 0 && len(a.calls) > 0
	return out, merged
}

// stream writes a streamed answer and reports whether it wrote all of it. With
// several choices, every step goes out once per choice, in order of index, one
// choice per chunk.
func stream(ctx context.Context, w http.ResponseWriter, req *Request, s Script, id string, a reply) bool {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	sw := sse.NewWriter(w)

	c := chunkJSON{ID: id, Object: "chat.completion.chunk", Created: time.Now().Unix(), Model: req.Model}
	if req.IncludeUsage() {
		c.Usage = null
	}
	c.Choices = make([]choiceJSON, 1)
	steps := make([][]step, a.n)
	merged := false
	for i := range steps {
		steps[i], merged = a.steps(i)
	}
	empty := ""
	for i := range a.n {
		first := deltaJSON{Role: chat.RoleAssistant, Content: &empty}
		switch {
		case merged:
			first = steps[i][0].delta
			first.Role, first.Content = chat.RoleAssistant, null
		case a.contentNull(): // a refusal
			first.Content, first.Refusal = null, &empty
		}
		c.Choices[0] = choiceJSON{Index: i, Delta: first}
		if sw.Data(&c) != nil {
			return false
		}
	}
	start := 0
	if merged {
		start = 1
	}
	for j := range len(steps[0]) - start {
		if s.DropAfter > 0 && j >= s.DropAfter {
			panic(http.ErrAbortHandler)
		}
		if s.ErrorAfter > 0 && j >= s.ErrorAfter {
			return writeStreamError(sw, s)
		}
		if !sleep(ctx, s.Delay) {
			return false
		}
		for i := range a.n {
			st := &steps[i][start+j]
			c.Choices[0] = choiceJSON{Index: i, Delta: st.delta, Logprobs: st.logprobs}
			if sw.Data(&c) != nil {
				return false
			}
		}
	}
	if s.DropAfter > 0 {
		panic(http.ErrAbortHandler)
	}
	if s.ErrorAfter > 0 {
		return writeStreamError(sw, s)
	}
	for i := range a.n {
		c.Choices[0] = choiceJSON{Index: i, FinishReason: &a.finish}
		if sw.Data(&c) != nil {
			return false
		}
	}
	if req.IncludeUsage() && !a.omitUsage {
		c.Choices = []choiceJSON{}
		c.Usage = &a.usage
		if sw.Data(&c) != nil {
			return false
		}
	}
	return sw.Done() == nil
}

func writeStreamError(sw *sse.Writer, s Script) bool {
	body := errorBody{Message: s.ErrorMessage, Type: s.ErrorType}
	if body.Message == "" {
		body.Message = "The server had an error while processing your request. Sorry about that!"
	}
	if body.Type == "" {
		body.Type = "server_error"
	}
	if s.ErrorCode != "" {
		body.Code = &s.ErrorCode
	}
	return sw.Data(errorJSON{Error: body}) == nil
}

// writeCompletion writes a whole answer: the same content as a stream's, in
// message form.
func writeCompletion(w http.ResponseWriter, req *Request, id string, a reply) {
	resp := completionJSON{
		ID:      id,
		Object:  "chat.completion",
		Created: time.Now().Unix(),
		Model:   req.Model,
		Choices: make([]completeChoice, a.n),
	}
	text := strings.Join(a.chunks, "")
	refusal := strings.Join(a.refusal, "")
	for i := range a.n {
		m := messageJSON{Role: chat.RoleAssistant, ReasoningContent: strings.Join(a.reasoning, "")}
		if !a.contentNull() {
			m.Content = &text
		}
		if len(a.refusal) > 0 {
			m.Refusal = &refusal
		}
		for k, call := range a.calls {
			call.ID = a.id(k, i)
			m.ToolCalls = append(m.ToolCalls, call)
		}
		ch := completeChoice{Index: i, Message: m, FinishReason: a.finish}
		if a.logprobs {
			ch.Logprobs = &logprobsJSON{Content: []tokenJSON{}}
			for _, p := range a.chunks {
				ch.Logprobs.Content = append(ch.Logprobs.Content, token(p, a.topLogprobs))
			}
			for _, p := range a.refusal {
				ch.Logprobs.Refusal = append(ch.Logprobs.Refusal, token(p, a.topLogprobs))
			}
		}
		resp.Choices[i] = ch
	}
	if !a.omitUsage {
		resp.Usage = &a.usage
	}
	writeJSON(w, http.StatusOK, resp)
}
