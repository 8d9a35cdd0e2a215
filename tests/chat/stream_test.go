package chat_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/tollgate/tollgate/shared/provider/bedrock/bedrocktest"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
)

// rawStream reads a response body line by line, comments included, keeping all
// it read.
type rawStream struct {
	t   *testing.T
	br  *bufio.Reader
	all bytes.Buffer
}

func newRawStream(t *testing.T, r io.Reader) *rawStream {
	return &rawStream{t: t, br: bufio.NewReader(r)}
}

// until reads lines until one for which match is true, and returns it.
func (s *rawStream) until(what string, match func(line string) bool) string {
	s.t.Helper()
	for {
		line, err := s.br.ReadString('\n')
		s.all.WriteString(line)
		if err != nil {
			s.t.Fatalf("stream ended (%v) before %s; read:\n%s", err, what, s.all.String())
		}
		if line = strings.TrimSuffix(line, "\n"); match(line) {
			return line
		}
	}
}

// rest reads to the end and returns the whole stream.
func (s *rawStream) rest() []byte {
	s.t.Helper()
	if _, err := io.Copy(&s.all, s.br); err != nil {
		s.t.Fatalf("read stream: %v; read:\n%s", err, s.all.String())
	}
	return s.all.Bytes()
}

// nativeDelta decodes a delta event's text.
func nativeDelta(t *testing.T, ev event) string {
	t.Helper()
	var d struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal([]byte(ev.Data), &d); err != nil || d.Text == nil {
		t.Fatalf("delta event %q: %v", ev.Data, err)
	}
	return *d.Text
}

// TestMidStreamFailure checks a failure after the first byte: no fallback, and an
// end no client can take for success.
func TestMidStreamFailure(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string]string{
		"MODELS":              "echo/echo-1,openai/drop,openai/spare,bedrock/cut:0,bedrock/stall:0",
		"STREAM_IDLE_TIMEOUT": "500ms",
	})
	key := g.tenant("midstream", map[string]any{"fallbacks": []string{"openai/spare"}})
	words := []string{"one", " two", " three", " four"}
	g.OpenAI.Set("drop", openaitest.Script{Chunks: words, DropAfter: 2})
	g.Bedrock.Set("cut:0", bedrocktest.Script{Chunks: words, CutAfter: 2})
	g.Bedrock.Set("stall:0", bedrocktest.Script{Chunks: words, Delay: time.Hour})

	tests := []struct {
		name, model, text, code string
	}{
		{"openai connection cut", "openai/drop", "one two", "upstream_error"},
		{"bedrock connection cut", "bedrock/cut:0", "one two", "upstream_error"},
		{"stall past STREAM_IDLE_TIMEOUT", "bedrock/stall:0", "one", "upstream_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantOut := (len(tt.text) + 3) / 4 // estimated: no provider usage came

			t.Run("openai", func(t *testing.T) {
				r := g.do("POST", "/v1/chat/completions", key, map[string]any{
					"model": tt.model, "messages": userMessage("Hello big world"), "stream": true,
					"stream_options": map[string]any{"include_usage": true},
				})
				if r.Status != 200 {
					t.Fatalf("status %d: %s", r.Status, r.Body)
				}
				wantHeaders(t, r.Header, tt.model, "request", "1")
				evs := parseEvents(t, r.Body)
				if slices.Contains(evs, event{Data: "[DONE]"}) {
					t.Errorf("a failed stream ends with [DONE]:\n%s", r.Body)
				}
				if len(evs) < 3 {
					t.Fatalf("events: %q", evs)
				}
				var text string
				for _, ev := range evs[:len(evs)-2] {
					c := decodeChunk(t, ev.Data)
					text += c.text()
					if len(c.Choices) > 0 && c.Choices[0].FinishReason != nil {
						t.Errorf("a failed stream has a finish reason: %s", ev.Data)
					}
				}
				if text != tt.text {
					t.Errorf("text before the failure = %q, want %q", text, tt.text)
				}
				u := decodeChunk(t, evs[len(evs)-2].Data)
				if u.Usage == nil || len(u.Choices) != 0 || !u.Usage.Estimated || u.Usage.PromptTokens < 1 ||
					u.Usage.CompletionTokens != wantOut || u.Usage.TotalTokens != u.Usage.PromptTokens+wantOut {
					t.Errorf("usage chunk before the error = %s, want estimated usage with %d output tokens", evs[len(evs)-2].Data, wantOut)
				}
				checkErrorBody(t, []byte(evs[len(evs)-1].Data), tt.code, "")
			})

			t.Run("openai without usage", func(t *testing.T) {
				r := g.do("POST", "/v1/chat/completions", key, map[string]any{
					"model": tt.model, "messages": userMessage("Hello big world"), "stream": true,
				})
				evs := parseEvents(t, r.Body)
				if len(evs) < 2 || decodeChunk(t, evs[len(evs)-2].Data).Usage != nil {
					t.Fatalf("events %q, want text chunks then the error, no usage", evs)
				}
				checkErrorBody(t, []byte(evs[len(evs)-1].Data), tt.code, "")
			})

			t.Run("sdk", func(t *testing.T) {
				client := g.sdk(key)
				ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
				defer cancel()
				stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
					Model:         tt.model,
					Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello big world")},
					StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
				})
				defer stream.Close()
				var text string
				var usage bool
				for stream.Next() {
					c := stream.Current()
					for _, ch := range c.Choices {
						text += ch.Delta.Content
					}
					usage = usage || c.JSON.Usage.Valid()
				}
				var se *ssestream.StreamError
				if err := stream.Err(); !errors.As(err, &se) || !strings.Contains(se.Message, tt.code) {
					t.Errorf("stream.Err() = %v, want the SDK's StreamError with %s", err, tt.code)
				}
				if text != tt.text || !usage {
					t.Errorf("SDK read %q (usage chunk: %v), want %q and a usage chunk", text, usage, tt.text)
				}
			})

			t.Run("native", func(t *testing.T) {
				r := g.do("POST", "/chat", key, map[string]any{
					"modelId": tt.model, "messages": userMessage("Hello big world"), "stream": true,
				})
				if r.Status != 200 {
					t.Fatalf("status %d: %s", r.Status, r.Body)
				}
				evs := parseEvents(t, r.Body)
				var names []string
				var text string
				for _, ev := range evs {
					names = append(names, ev.Name)
					if ev.Name == "delta" {
						text += nativeDelta(t, ev)
					}
				}
				n := len(names)
				if n < 3 || names[n-2] != "usage" || names[n-1] != "error" || slices.Contains(names, "done") {
					t.Fatalf("events = %q, want delta..., usage, error", names)
				}
				if text != tt.text {
					t.Errorf("text = %q, want %q", text, tt.text)
				}
				u := decodeUsageEvent(t, evs[n-2].Data)
				if u.FinishReason != "incomplete" || !u.Estimated || int(u.OutputTokens) != wantOut || u.Model != tt.model || u.Attempts != 1 {
					t.Errorf("usage event = %s, want finishReason incomplete, estimated, %d output tokens", evs[n-2].Data, wantOut)
				}
				checkErrorBody(t, []byte(evs[n-1].Data), tt.code, "")
			})
		})
	}
	t.Cleanup(func() {
		if n := g.OpenAI.Calls("spare"); n != 0 {
			t.Errorf("after the first byte the gateway switched to the fallback %d times", n)
		}
	})
}

// TestKeepAlive checks SSE comments go out while the provider is silent, and the
// answer still completes. The provider holds its second chunk until the client
// has seen a keep-alive, so no timing decides the outcome.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	held := heldModels{"ka-openai": newHeld("one", " two"), "ka-native": newHeld("one", " two")}
	release := map[string]chan struct{}{}
	for name, p := range held {
		release[name] = p.hold(1)
	}
	g := heldGateway(t, map[string]string{"KEEPALIVE_INTERVAL": "50ms"}, held)
	key := g.tenant("keepalive", nil)

	for _, api := range []struct{ path, model, modelField string }{
		{"/v1/chat/completions", "ka-openai", "model"},
		{"/chat", "ka-native", "modelId"},
	} {
		t.Run(api.path, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
			defer cancel()
			res := g.open(ctx, "POST", api.path, key, map[string]any{
				api.modelField: "echo/" + api.model, "messages": userMessage("hi"), "stream": true,
			})
			if res.StatusCode != 200 {
				b, _ := io.ReadAll(res.Body)
				t.Fatalf("status %d: %s", res.StatusCode, b)
			}
			s := newRawStream(t, res.Body)
			s.until("the first chunk", func(l string) bool { return strings.Contains(l, `"one"`) })
			s.until("a keep-alive comment", func(l string) bool { return l == ": keep-alive" })
			close(release[api.model])
			evs := parseEvents(t, s.rest())
			var text string
			for _, ev := range evs {
				switch {
				case ev.Name == "delta":
					text += nativeDelta(t, ev)
				case ev.Name == "" && ev.Data != "[DONE]":
					text += decodeChunk(t, ev.Data).text()
				}
			}
			if text != "one two" {
				t.Errorf("text = %q, want %q", text, "one two")
			}
			last := evs[len(evs)-1]
			if want := map[string]event{"/chat": {"done", `{"finishReason":"stop"}`}, "/v1/chat/completions": {"", "[DONE]"}}[api.path]; last != want {
				t.Errorf("last event = %+v, want %+v", last, want)
			}
		})
	}
}

// TestClientDisconnectCancelsUpstream checks a client that goes away mid-answer
// ends the provider call: the fake sees its request's context end.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.tenant("gone", nil)
	long := make([]string, 1000)
	for i := range long {
		long[i] = fmt.Sprintf(" w%d", i)
	}
	slow := openaitest.Script{Chunks: long, Delay: 50 * time.Millisecond} // 50 s in all
	g.OpenAI.Set("gpt-a", slow)
	g.OpenAI.Set("gpt-b", slow)

	for _, tt := range []struct {
		path  string
		model string
		body  map[string]any
	}{
		{"/v1/chat/completions", "gpt-a", map[string]any{"model": "openai/gpt-a", "stream": true}},
		{"/chat", "gpt-b", map[string]any{"modelId": "openai/gpt-b", "stream": true}},
	} {
		t.Run(tt.path, func(t *testing.T) {
			tt.body["messages"] = userMessage("go on and on")
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			res := g.open(ctx, "POST", tt.path, key, tt.body)
			if res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			evs := newLiveEvents(t, res.Body)
			for ev := evs.next(); !strings.Contains(ev.Data, "w0"); ev = evs.next() {
			}
			cancel() // the client goes away after the first chunk

			var up *openaitest.Recorded
			for _, r := range g.OpenAI.Requests() {
				if r.Body.Model == tt.model {
					up = &r
				}
			}
			if up == nil {
				t.Fatalf("the fake never saw a request for %s", tt.model)
			}
			select {
			case <-up.Done:
			case <-time.After(waitTimeout):
				t.Fatalf("the upstream request for %s still runs %s after the client left", tt.model, waitTimeout)
			}
			t.Run("logged as client_gone", func(t *testing.T) {
				line := g.Logs.WaitLines(t, 1, waitTimeout, func(m map[string]any) bool { return chatLine(m) && m["model"] == "openai/"+tt.model })[0]
				var problems []string
				if got := line["outcome"]; got != "client_gone" {
					problems = append(problems, fmt.Sprintf("the request line has outcome %v, not client_gone", got))
				}
				for _, m := range g.Logs.Lines(t) {
					if m["msg"] == "stream failed" && m["requestId"] == line["requestId"] {
						problems = append(problems, fmt.Sprintf("a WARN \"stream failed\" line blames the provider (reason %v)", m["reason"]))
					}
					if _, emf := m["_aws"]; emf && m["requestId"] == line["requestId"] && m["ProviderErrors"] != 0.0 {
						problems = append(problems, fmt.Sprintf("the EMF record counts ProviderErrors %v", m["ProviderErrors"]))
					}
				}
				if len(problems) > 0 {
					t.Errorf("a client that disconnects while the gateway waits for the provider is treated as a provider failure: %s",
						strings.Join(problems, "; "))
				}
			})
		})
	}
	if got := g.OpenAI.Cancelled(); got != 2 {
		t.Errorf("the fake saw %d requests cancelled, want 2", got)
	}
}

// TestIncrementalStreaming proves the local server forwards each chunk as it
// arrives: the provider produces chunk i+1 only after the client has received
// chunk i, so a gateway that buffered anything would deadlock here.
func TestIncrementalStreaming(t *testing.T) {
	t.Parallel()
	chunks := []string{"one", " two", " three"}
	held := heldModels{"inc-openai": newHeld(chunks...), "inc-native": newHeld(chunks...)}
	gates := map[string][]chan struct{}{}
	for name, p := range held {
		gates[name] = []chan struct{}{nil, p.hold(1), p.hold(2)}
	}
	g := heldGateway(t, nil, held)
	key := g.tenant("incremental", nil)

	// seen checks, when the client has chunk i, that the provider has produced
	// chunks 0..i and no more, then lets it produce chunk i+1.
	seen := func(t *testing.T, model string, i int, got string) {
		t.Helper()
		if got != chunks[i] {
			t.Fatalf("chunk %d = %q, want %q", i, got, chunks[i])
		}
		want := []int{}
		for j := 0; j <= i; j++ {
			want = append(want, j)
		}
		if diff := cmp.Diff(want, held[model].Produced()); diff != "" {
			t.Fatalf("when the client had chunk %d, the provider had produced (-want +got):\n%s", i, diff)
		}
		if i+1 < len(chunks) {
			close(gates[model][i+1])
		}
	}

	t.Run("openai sdk", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		client := g.sdk(key)
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:    "echo/inc-openai",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		defer stream.Close()
		i := 0
		for stream.Next() {
			c := stream.Current()
			if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
				seen(t, "inc-openai", i, c.Choices[0].Delta.Content)
				i++
			}
		}
		if err := stream.Err(); err != nil || i != len(chunks) {
			t.Fatalf("stream ended after %d chunks: %v", i, err)
		}
	})

	t.Run("native", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		res := g.open(ctx, "POST", "/chat", key, map[string]any{
			"modelId": "echo/inc-native", "messages": userMessage("hi"), "stream": true,
		})
		evs := newLiveEvents(t, res.Body)
		for i := range chunks {
			ev := evs.next()
			if ev.Name != "delta" {
				t.Fatalf("event %d = %+v, want a delta", i, ev)
			}
			seen(t, "inc-native", i, nativeDelta(t, ev))
		}
		if ev := evs.next(); ev.Name != "usage" {
			t.Errorf("after the deltas: %+v, want usage", ev)
		}
		if ev := evs.next(); ev.Name != "done" {
			t.Errorf("after usage: %+v, want done", ev)
		}
	})
}

// TestRequestTimeout checks REQUEST_TIMEOUT ends a stalled answer: in-band once
// streaming, a 504 otherwise.
func TestRequestTimeout(t *testing.T) {
	t.Parallel()
	stalled := newHeld("one")
	stalled.Stall = true
	g := heldGateway(t, map[string]string{"REQUEST_TIMEOUT": "1s"}, heldModels{"stalled": stalled})
	key := g.tenant("timeout", nil)

	r := g.do("POST", "/v1/chat/completions", key, map[string]any{"messages": userMessage("hi"), "stream": true})
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	evs := parseEvents(t, r.Body)
	if n := len(evs); n != 3 || decodeChunk(t, evs[1].Data).text() != "one" {
		t.Fatalf("events %q, want the role chunk, one, then the error", evs)
	}
	checkErrorBody(t, []byte(evs[2].Data), "upstream_timeout", "")
	if !strings.Contains(evs[2].Data, "the request timed out") {
		t.Errorf("error %s, want the request timeout's message", evs[2].Data)
	}

	wantError(t, g.do("POST", "/chat", key, map[string]any{"messages": userMessage("hi")}), 504, "upstream_timeout", "")
}

// TestKeepAliveDoesNotResetIdle checks a provider that stalls is cut off after
// STREAM_IDLE_TIMEOUT even though keep-alives keep the client's connection busy.
// If keep-alives reset the idle timer, the stream would never end and the test
// would fail at its guard.
func TestKeepAliveDoesNotResetIdle(t *testing.T) {
	t.Parallel()
	stalled := newHeld("one")
	stalled.Stall = true
	g := heldGateway(t, map[string]string{"KEEPALIVE_INTERVAL": "50ms", "STREAM_IDLE_TIMEOUT": "500ms"}, heldModels{"stalled": stalled})
	key := g.tenant("idle", nil)
	r := g.do("POST", "/chat", key, map[string]any{"messages": userMessage("hi"), "stream": true})
	evs := parseEvents(t, r.Body)
	if n := len(evs); n != 3 || evs[0].Name != "delta" || evs[1].Name != "usage" || evs[2].Name != "error" {
		t.Fatalf("events %q, want delta, usage, error", evs)
	}
	checkErrorBody(t, []byte(evs[2].Data), "upstream_timeout", "")
	if !strings.Contains(string(r.Body), ": keep-alive") {
		t.Log("no keep-alive was sent during the stall (a slow machine); the idle timeout held anyway")
	}
	select {
	case <-stalled.Ended:
	case <-time.After(waitTimeout):
		t.Error("the stalled provider call was not cancelled")
	}
}

// TestEmptyAnswer checks an answer without any text still ends properly.
func TestEmptyAnswer(t *testing.T) {
	t.Parallel()
	g := heldGateway(t, nil, heldModels{"empty": newHeld()})
	key := g.tenant("empty", nil)

	r := g.do("POST", "/v1/chat/completions", key, map[string]any{"messages": userMessage("hi"), "stream": true})
	evs := parseEvents(t, r.Body)
	if r.Status != 200 || len(evs) != 3 || evs[2].Data != "[DONE]" {
		t.Fatalf("status %d, events %q: want the role chunk, the finish chunk, [DONE]", r.Status, evs)
	}
	if c := decodeChunk(t, evs[1].Data); len(c.Choices) != 1 || c.Choices[0].FinishReason == nil || *c.Choices[0].FinishReason != "stop" {
		t.Errorf("finish chunk %s", evs[1].Data)
	}

	r = g.do("POST", "/chat", key, map[string]any{"messages": userMessage("hi"), "stream": true})
	evs = parseEvents(t, r.Body)
	if r.Status != 200 || len(evs) != 2 || evs[0].Name != "usage" || evs[1].Name != "done" {
		t.Fatalf("status %d, events %q: want usage, done", r.Status, evs)
	}

	r = g.do("POST", "/v1/chat/completions", key, map[string]any{"messages": userMessage("hi")})
	var comp struct {
		Choices []struct {
			Message struct {
				Content *string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(r.Body, &comp); r.Status != 200 || err != nil || len(comp.Choices) != 1 ||
		comp.Choices[0].Message.Content == nil || *comp.Choices[0].Message.Content != "" || comp.Choices[0].FinishReason != "stop" {
		t.Errorf("non-streamed empty answer: %d %s", r.Status, r.Body)
	}
}
