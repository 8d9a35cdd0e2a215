package chat_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
)

// The models every capability test runs against: the built-in echo, an
// OpenAI-compatible upstream (the fake) and Bedrock (the fake, through
// ConverseStream and Converse).
var surfaceModels = []string{"echo/echo-1", "openai/gpt-a", bedrockModel}

const weatherSchema = `{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]}},"required":["city","unit"],"additionalProperties":false}`
const timeSchema = `{"type":"object","properties":{"zone":{"type":"string"}},"required":["zone"],"additionalProperties":false}`

// tinyPNG is a 1x1 PNG as a data URL.
const tinyPNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

func rawSchema(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// validator compiles a JSON Schema.
func validator(t *testing.T, s string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// validJSON checks that text is JSON valid for sch.
func validJSON(t *testing.T, sch *jsonschema.Schema, text string) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%q is not JSON: %v", text, err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("%s is not valid for its schema: %v", text, err)
	}
}

func weatherTools(t *testing.T) []openai.ChatCompletionToolUnionParam {
	return []openai.ChatCompletionToolUnionParam{
		openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "get_weather", Description: openai.String("The weather in a city"),
			Parameters: rawSchema(t, weatherSchema), Strict: openai.Bool(true)}),
		openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "get_time", Parameters: rawSchema(t, timeSchema)}),
	}
}

// complete runs one request, streamed (accumulated as SDK users do) or not, and
// returns the answer's first choice and usage.
func complete(t *testing.T, client openai.Client, p openai.ChatCompletionNewParams, stream bool, opts ...option.RequestOption) (openai.ChatCompletionChoice, openai.CompletionUsage) {
	t.Helper()
	ctx := t.Context()
	if !stream {
		resp, err := client.Chat.Completions.New(ctx, p, opts...)
		if err != nil {
			t.Fatalf("chat.completions.new: %v", err)
		}
		if len(resp.Choices) == 0 {
			t.Fatalf("no choices: %s", resp.RawJSON())
		}
		return resp.Choices[0], resp.Usage
	}
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	s := client.Chat.Completions.NewStreaming(ctx, p, opts...)
	var acc openai.ChatCompletionAccumulator
	for s.Next() {
		c := s.Current()
		for _, ch := range c.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				if tc.Index < 0 || int(tc.Index) > len(acc.Choices)+8 {
					t.Errorf("tool call delta index %d", tc.Index)
				}
			}
		}
		acc.AddChunk(c)
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if len(acc.Choices) == 0 {
		t.Fatal("the stream had no choices")
	}
	return acc.Choices[0], acc.Usage
}

// TestToolLoop is an agent's two rounds on every provider, streamed and not: the
// model calls tools (the fakes call both offered tools in parallel, echo the
// first), the client answers each call with a tool message, the model answers
// in text.
func TestToolLoop(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	client := g.sdk(g.tenant("tools", nil))
	for _, m := range surfaceModels {
		for _, stream := range []bool{false, true} {
			t.Run(strings.SplitN(m, "/", 2)[0]+map[bool]string{false: "/whole", true: "/stream"}[stream], func(t *testing.T) {
				toolLoop(t, client, m, stream)
			})
		}
	}
}

// toolLoop runs the two rounds of TestToolLoop on model m.
func toolLoop(t *testing.T, client openai.Client, m string, stream bool) {
	t.Helper()
	schemas := map[string]*jsonschema.Schema{"get_weather": validator(t, weatherSchema), "get_time": validator(t, timeSchema)}
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Paris")}
	p := openai.ChatCompletionNewParams{Model: m, Messages: msgs, Tools: weatherTools(t)}
	choice, usage := complete(t, client, p, stream)
	calls := choice.Message.ToolCalls
	wantCalls := 2
	if strings.HasPrefix(m, "echo/") {
		wantCalls = 1
	}
	if choice.FinishReason != "tool_calls" || len(calls) != wantCalls {
		t.Fatalf("round 1: finish %q with %d tool calls, want tool_calls with %d: %+v", choice.FinishReason, len(calls), wantCalls, choice.Message)
	}
	if usage.PromptTokens <= 0 || usage.CompletionTokens <= 0 {
		t.Errorf("round 1 usage %+v", usage)
	}
	ids := map[string]bool{}
	for _, c := range calls {
		sch, ok := schemas[c.Function.Name]
		if !ok || c.ID == "" || ids[c.ID] {
			t.Fatalf("tool call %+v: unknown tool, no id or a repeated id", c)
		}
		ids[c.ID] = true
		validJSON(t, sch, c.Function.Arguments)
	}
	msgs = append(msgs, choice.Message.ToParam())
	for i, c := range calls {
		msgs = append(msgs, openai.ToolMessage([]string{"18C and sunny", "noon"}[i%2], c.ID))
	}
	p.Messages = msgs
	choice, _ = complete(t, client, p, stream)
	if choice.FinishReason != "stop" || len(choice.Message.ToolCalls) != 0 || !strings.Contains(choice.Message.Content, "18C and sunny") {
		t.Errorf("round 2: finish %q, content %q, %d tool calls; want the results in text", choice.FinishReason, choice.Message.Content, len(choice.Message.ToolCalls))
	}
}

// TestStructuredOutput asks every provider for JSON valid against a schema, and
// for a JSON object, streamed and not.
func TestStructuredOutput(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	client := g.sdk(g.tenant("structured", nil))
	for _, m := range surfaceModels {
		for _, stream := range []bool{false, true} {
			t.Run(strings.SplitN(m, "/", 2)[0]+map[bool]string{false: "/whole", true: "/stream"}[stream], func(t *testing.T) {
				structuredOutput(t, client, m, stream)
			})
		}
	}
}

const personSchema = `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0},"tags":{"type":"array","items":{"type":"string"}}},"required":["name","age","tags"],"additionalProperties":false}`

// structuredOutput asks model m for a json_schema and a json_object answer.
func structuredOutput(t *testing.T, client openai.Client, m string, stream bool) {
	t.Helper()
	sch := validator(t, personSchema)
	p := openai.ChatCompletionNewParams{Model: m, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Ada Lovelace")},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &openai.ResponseFormatJSONSchemaParam{
			JSONSchema: openai.ResponseFormatJSONSchemaJSONSchemaParam{Name: "person", Schema: rawSchema(t, personSchema), Strict: openai.Bool(true)}}}}
	choice, _ := complete(t, client, p, stream)
	if choice.FinishReason != "stop" || len(choice.Message.ToolCalls) != 0 {
		t.Errorf("finish %q with %d tool calls", choice.FinishReason, len(choice.Message.ToolCalls))
	}
	validJSON(t, sch, choice.Message.Content)

	p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &openai.ResponseFormatJSONObjectParam{}}
	choice, _ = complete(t, client, p, stream)
	var obj map[string]any
	if err := json.Unmarshal([]byte(choice.Message.Content), &obj); err != nil {
		t.Errorf("json_object answer %q: %v", choice.Message.Content, err)
	}
}

// TestImagePrompt sends a text and an inline image to every provider.
func TestImagePrompt(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	client := g.sdk(g.tenant("images", nil))
	for _, m := range surfaceModels {
		t.Run(strings.SplitN(m, "/", 2)[0], func(t *testing.T) {
			imagePrompt(t, client, m)
		})
	}
	// What the providers received: the image, whole.
	png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(tinyPNG, "data:image/png;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	br := g.Bedrock.Requests()
	if got := br[len(br)-1].Messages[0].Content; len(got) != 2 || got[1].Image == nil || got[1].Image.Format != "png" || !bytes.Equal(got[1].Image.Source.Bytes, png) {
		t.Errorf("Bedrock received %+v, want the text and the PNG", got)
	}
	oa := g.OpenAI.Requests()
	if got := oa[len(oa)-1].Body.Messages[0].Parts; len(got) != 2 || got[1].ImageURL == nil || *got[1].ImageURL != (openaitest.ImageURL{URL: tinyPNG, Detail: "low"}) {
		t.Errorf("the OpenAI-compatible provider received %+v, want the image URL and detail unchanged", got)
	}
}

// imagePrompt sends model m a text and an inline image, streamed.
func imagePrompt(t *testing.T, client openai.Client, m string) {
	t.Helper()
	p := openai.ChatCompletionNewParams{Model: m, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
		openai.TextContentPart("what is in this picture"),
		openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: tinyPNG, Detail: "low"}),
	})}}
	choice, usage := complete(t, client, p, true)
	if choice.Message.Content == "" || usage.PromptTokens <= 0 {
		t.Errorf("answer %q, usage %+v", choice.Message.Content, usage)
	}
}

// TestUnsupportedParams: a parameter the provider cannot honour is a 400 naming
// it and the model, unless the tenant or the deployment drops such parameters,
// and then the answer says which it dropped.
func TestUnsupportedParams(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.tenant("strict", nil)
	dropKey := g.tenant("lenient", map[string]any{"unsupportedParams": "drop"})
	body := func(model string) map[string]any {
		return map[string]any{"model": model, "messages": userMessage("hi"), "logprobs": true, "seed": 7}
	}
	r := g.do("POST", "/v1/chat/completions", key, body("echo/echo-1"))
	wantError(t, r, http.StatusBadRequest, "unsupported_parameter", "logprobs")
	if !bytes.Contains(r.Body, []byte("echo/echo-1")) {
		t.Errorf("the error does not name the model: %s", r.Body)
	}
	r = g.do("POST", "/v1/chat/completions", key, body(bedrockModel))
	wantError(t, r, http.StatusBadRequest, "unsupported_parameter", "seed")
	r = g.do("POST", "/v1/chat/completions", key, body("openai/gpt-a"))
	if r.Status != http.StatusOK || r.Header.Get("x-tollgate-dropped-params") != "" {
		t.Errorf("openai with logprobs and seed: %d %q %s", r.Status, r.Header.Get("x-tollgate-dropped-params"), r.Body)
	}

	r = g.do("POST", "/v1/chat/completions", dropKey, body("echo/echo-1"))
	if r.Status != http.StatusOK || r.Header.Get("x-tollgate-dropped-params") != "logprobs" {
		t.Errorf("dropping tenant, echo: %d dropped %q %s", r.Status, r.Header.Get("x-tollgate-dropped-params"), r.Body)
	}
	r = g.do("POST", "/v1/chat/completions", dropKey, body(bedrockModel))
	if d := r.Header.Get("x-tollgate-dropped-params"); r.Status != http.StatusOK || !strings.Contains(d, "seed") || !strings.Contains(d, "logprobs") {
		t.Errorf("dropping tenant, bedrock: %d dropped %q %s", r.Status, d, r.Body)
	}

	// The deployment's setting, and a tenant that insists on refusals.
	gd := newGateway(t, map[string]string{"UNSUPPORTED_PARAMS": "drop"})
	r = gd.do("POST", "/v1/chat/completions", gd.tenant("any", nil), body("echo/echo-1"))
	if r.Status != http.StatusOK || r.Header.Get("x-tollgate-dropped-params") != "logprobs" {
		t.Errorf("dropping deployment: %d dropped %q", r.Status, r.Header.Get("x-tollgate-dropped-params"))
	}
	r = gd.do("POST", "/v1/chat/completions", gd.tenant("picky", map[string]any{"unsupportedParams": "refuse"}), body("echo/echo-1"))
	wantError(t, r, http.StatusBadRequest, "unsupported_parameter", "logprobs")
}

// TestChoices: n > 1 answers every choice, streamed and not, and reserves and
// charges every choice's output.
func TestChoices(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	client := g.sdk(g.tenant("choices", nil))
	for _, m := range []string{"echo/echo-1", "openai/gpt-a"} {
		t.Run(strings.SplitN(m, "/", 2)[0], func(t *testing.T) {
			p := openai.ChatCompletionNewParams{Model: m, N: openai.Int(2), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello big world")}}
			resp, err := client.Chat.Completions.New(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Choices) != 2 || resp.Choices[1].Index != 1 || resp.Choices[1].Message.Content != resp.Choices[0].Message.Content ||
				resp.Usage.CompletionTokens != 6 {
				t.Errorf("n=2 whole: %s", resp.RawJSON())
			}
			p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			s := client.Chat.Completions.NewStreaming(t.Context(), p)
			var acc openai.ChatCompletionAccumulator
			for s.Next() {
				acc.AddChunk(s.Current())
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if len(acc.Choices) != 2 || acc.Choices[1].Message.Content != "Hello big world" || acc.Choices[1].FinishReason != "stop" || acc.Usage.CompletionTokens != 6 {
				t.Errorf("n=2 streamed: %+v usage %+v", acc.Choices, acc.Usage)
			}
		})
	}
}

// TestReasoning: a reasoning effort makes the model's reasoning stream as
// delta.reasoning_content and stay in the whole answer's message.
func TestReasoning(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.tenant("reasoning", nil)
	body := map[string]any{"model": "echo/echo-1", "messages": userMessage("why is the sky blue"), "reasoning_effort": "low"}
	r := g.do("POST", "/v1/chat/completions", key, body)
	var whole struct {
		Choices []struct {
			Message struct {
				Content          string `json:"content"`
				ReasoningContent string `json:"reasoning_content"`
			} `json:"message"`
		} `json:"choices"`
		Usage struct {
			Details struct {
				Reasoning int `json:"reasoning_tokens"`
			} `json:"completion_tokens_details"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(r.Body, &whole); err != nil || len(whole.Choices) != 1 || whole.Choices[0].Message.ReasoningContent == "" ||
		whole.Choices[0].Message.Content != "why is the sky blue" || whole.Usage.Details.Reasoning == 0 {
		t.Errorf("whole answer with reasoning: %d %s", r.Status, r.Body)
	}
	body["stream"] = true
	r = g.do("POST", "/v1/chat/completions", key, body)
	if !bytes.Contains(r.Body, []byte(`"reasoning_content":"The echo provider`)) {
		t.Errorf("no reasoning delta in the stream:\n%s", r.Body)
	}
}
