package chat_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// answerCase is what each provider answers "Hello big world" with.
type answerCase struct {
	model     string
	maxTokens int64
	text      string
	finish    string
	in, out   int64
}

// answers: echo counts the prompt with tokens.PromptEstimate (3 + 4 + 15/4
// rounded up = 11); the fakes count one token per word.
var answers = []answerCase{
	{"echo/echo-1", 0, "Hello big world", "stop", 11, 3},
	{"echo/echo-1", 2, "Hello big ", "length", 11, 2},
	{"openai/gpt-a", 0, "Hello big world", "stop", 3, 3},
	{"openai/gpt-a", 2, "Hello big", "length", 3, 2},
	{bedrockModel, 0, "Hello big world", "stop", 3, 3},
	{bedrockModel, 2, "Hello big ", "length", 3, 2},
}

func (a answerCase) name() string {
	return strings.SplitN(a.model, "/", 2)[0] + "/max" + strconv.FormatInt(a.maxTokens, 10)
}

func (a answerCase) params() openai.ChatCompletionNewParams {
	p := openai.ChatCompletionNewParams{
		Model:    a.model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello big world")},
	}
	if a.maxTokens > 0 {
		p.MaxTokens = openai.Int(a.maxTokens)
	}
	return p
}

// wantHeaders checks the x-tollgate headers every successful answer carries.
func wantHeaders(t *testing.T, h http.Header, model, source, attempts string) {
	t.Helper()
	for name, want := range map[string]string{
		"x-tollgate-model": model, "x-tollgate-model-source": source, "x-tollgate-attempts": attempts,
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if h.Get("x-request-id") == "" {
		t.Error("no x-request-id header")
	}
}

func TestOpenAISDK(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	client := g.sdk(g.tenant("sdk", nil))
	t.Cleanup(func() {
		// Non-streaming requests use the providers' non-streaming calls.
		var oa, br [2]int // whole, streamed
		for _, r := range g.OpenAI.Requests() {
			oa[b2i(r.Body.Stream)]++
			if r.Body.Model != "gpt-a" || (r.Body.Stream && !r.Body.IncludeUsage()) {
				t.Errorf("openai upstream request %+v", r.Body)
			}
		}
		for _, r := range g.Bedrock.Requests() {
			br[b2i(r.Stream)]++
			if r.ModelID != bedrockID {
				t.Errorf("bedrock upstream model %q, want %q", r.ModelID, bedrockID)
			}
		}
		if oa != [2]int{2, 2} || br != [2]int{2, 2} {
			t.Errorf("upstream calls (whole, streamed): openai %v, bedrock %v; want 2 of each", oa, br)
		}
	})

	for _, tt := range answers {
		t.Run("whole/"+tt.name(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
			defer cancel()
			var raw *http.Response
			comp, err := client.Chat.Completions.New(ctx, tt.params(), option.WithResponseInto(&raw))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if comp.Model != tt.model {
				t.Errorf("model = %q, want %q", comp.Model, tt.model)
			}
			if comp.Object != "chat.completion" || !strings.HasPrefix(comp.ID, "chatcmpl-") {
				t.Errorf("object %q, id %q", comp.Object, comp.ID)
			}
			if len(comp.Choices) != 1 {
				t.Fatalf("%d choices, want 1", len(comp.Choices))
			}
			c := comp.Choices[0]
			if c.Message.Content != tt.text || c.Message.Role != "assistant" || c.FinishReason != tt.finish {
				t.Errorf("choice = %q %q %q, want assistant %q %q", c.Message.Role, c.Message.Content, c.FinishReason, tt.text, tt.finish)
			}
			u := comp.Usage
			if u.PromptTokens != tt.in || u.CompletionTokens != tt.out || u.TotalTokens != tt.in+tt.out {
				t.Errorf("usage = %d+%d=%d, want %d+%d", u.PromptTokens, u.CompletionTokens, u.TotalTokens, tt.in, tt.out)
			}
			wantHeaders(t, raw.Header, tt.model, "request", "1")
			for name, want := range map[string]int64{
				"x-usage-input-tokens": tt.in, "x-usage-output-tokens": tt.out, "x-usage-total-tokens": tt.in + tt.out,
			} {
				if got := raw.Header.Get(name); got != strconv.FormatInt(want, 10) {
					t.Errorf("%s = %q, want %d", name, got, want)
				}
			}
			if _, err := strconv.ParseFloat(raw.Header.Get("x-tollgate-latency-ms"), 64); err != nil {
				t.Errorf("x-tollgate-latency-ms = %q, want a number", raw.Header.Get("x-tollgate-latency-ms"))
			}
		})

		t.Run("stream/"+tt.name(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
			defer cancel()
			p := tt.params()
			p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			var raw *http.Response
			stream := client.Chat.Completions.NewStreaming(ctx, p, option.WithResponseInto(&raw))
			defer stream.Close()
			var (
				text, finish string
				usage        *openai.CompletionUsage
				chunks       int
			)
			for stream.Next() {
				c := stream.Current()
				chunks++
				if c.Model != tt.model {
					t.Errorf("chunk model = %q, want %q", c.Model, tt.model)
				}
				if c.Object != "chat.completion.chunk" {
					t.Errorf("chunk object = %q", c.Object)
				}
				for _, ch := range c.Choices {
					text += ch.Delta.Content
					if ch.FinishReason != "" {
						finish = ch.FinishReason
					}
				}
				if c.JSON.Usage.Valid() {
					u := c.Usage
					usage = &u
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream.Err() = %v", err)
			}
			if text != tt.text || finish != tt.finish {
				t.Errorf("streamed %q finish %q, want %q %q", text, finish, tt.text, tt.finish)
			}
			if usage == nil {
				t.Fatal("no usage chunk although include_usage was asked for")
			}
			if usage.PromptTokens != tt.in || usage.CompletionTokens != tt.out || usage.TotalTokens != tt.in+tt.out {
				t.Errorf("usage = %d+%d=%d, want %d+%d", usage.PromptTokens, usage.CompletionTokens, usage.TotalTokens, tt.in, tt.out)
			}
			if raw == nil {
				t.Fatal("no response recorded")
			}
			wantHeaders(t, raw.Header, tt.model, "request", "1")
			if ct := raw.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type = %q, want text/event-stream", ct)
			}
		})
	}
}

// TestOpenAISDKWithoutUsage checks a stream that did not ask for usage has no
// usage chunk, and still ends with [DONE].
func TestOpenAISDKWithoutUsage(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.tenant("nousage", nil)
	r := g.do("POST", "/v1/chat/completions", key, map[string]any{
		"model": "openai/gpt-a", "messages": userMessage("Hello big world"), "stream": true,
	})
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	evs := parseEvents(t, r.Body)
	if len(evs) == 0 || evs[len(evs)-1].Data != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]: %q", r.Body)
	}
	var text string
	for _, ev := range evs[:len(evs)-1] {
		c := decodeChunk(t, ev.Data)
		if c.Usage != nil {
			t.Errorf("usage in a stream that did not ask for it: %s", ev.Data)
		}
		text += c.text()
	}
	if text != "Hello big world" {
		t.Errorf("text = %q", text)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
