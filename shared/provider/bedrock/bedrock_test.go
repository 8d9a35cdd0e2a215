package bedrock_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/provider/bedrock"
	"github.com/tollgate/tollgate/shared/provider/bedrock/bedrocktest"
)

const model = "anthropic.claude-3-haiku-20240307-v1:0"

// newClient starts a fake Bedrock and returns it with a Client that reaches it
// through the real bedrockruntime client.
func newClient(t *testing.T) (*bedrocktest.Server, *bedrock.Client) {
	t.Helper()
	srv := bedrocktest.NewServer(t)
	return srv, bedrock.New(srv.Client())
}

func userRequest(text string) *chat.Request {
	return &chat.Request{Model: model, Messages: []chat.Message{chat.TextMessage(chat.RoleUser, text)}}
}

// drain reads s to its end and returns the chunks and the error that ended it,
// nil for io.EOF.
func drain(t *testing.T, s chat.Stream) ([]chat.Chunk, error) {
	t.Helper()
	var chunks []chat.Chunk
	for range 1000 {
		c, err := s.Next(t.Context())
		if errors.Is(err, io.EOF) {
			return chunks, nil
		}
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, c)
	}
	t.Fatal("stream did not end after 1000 chunks")
	return nil, nil
}

// providerError returns err as a *chat.ProviderError or fails the test.
func providerError(t *testing.T, err error) *chat.ProviderError {
	t.Helper()
	var pe *chat.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v (%T), want *chat.ProviderError", err, err)
	}
	return pe
}

func TestStream(t *testing.T) {
	srv, c := newClient(t)
	srv.Set(model, bedrocktest.Script{
		Chunks: []string{"Hel", "lo", ", world"},
		Usage:  &bedrocktest.Usage{In: 12, Out: 3},
	})

	s, err := c.Stream(t.Context(), userRequest("hi"))
	if err != nil {
		t.Fatalf("Stream() error = %v", err)
	}
	defer s.Close()
	got, err := drain(t, s)
	if err != nil {
		t.Fatalf("Next() error = %v", err)
	}
	want := []chat.Chunk{
		{Text: "Hel"}, {Text: "lo"}, {Text: ", world"},
		{FinishReason: chat.FinishStop, Usage: &chat.Usage{InputTokens: 12, OutputTokens: 3}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks mismatch (-want +got):\n%s", diff)
	}
	if _, err := s.Next(t.Context()); !errors.Is(err, io.EOF) {
		t.Errorf("Next() after the end = %v, want io.EOF", err)
	}
	if reqs := srv.Requests(); len(reqs) != 1 || !reqs[0].Stream {
		t.Errorf("Requests() = %+v, want one streaming request", reqs)
	}
}

func TestStreamEcho(t *testing.T) {
	_, c := newClient(t)
	req := userRequest("how are you")
	req.Messages = append([]chat.Message{chat.TextMessage(chat.RoleSystem, "be brief")}, req.Messages...)

	s, err := c.Stream(t.Context(), req)
	if err != nil {
		t.Fatalf("Stream() error = %v", err)
	}
	defer s.Close()
	got, err := drain(t, s)
	if err != nil {
		t.Fatalf("Next() error = %v", err)
	}
	want := []chat.Chunk{
		{Text: "how "}, {Text: "are "}, {Text: "you"},
		{FinishReason: chat.FinishStop, Usage: &chat.Usage{InputTokens: 5, OutputTokens: 3}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks mismatch (-want +got):\n%s", diff)
	}
}

func TestFinishReason(t *testing.T) {
	tests := []struct {
		stopReason string
		want       string
	}{
		{"end_turn", chat.FinishStop},
		{"stop_sequence", chat.FinishStop},
		{"tool_use", chat.FinishStop}, // without tool calls: TestStreamToolCalls has them
		{"malformed_model_output", chat.FinishStop},
		{"some_future_reason", chat.FinishStop},
		{"max_tokens", chat.FinishLength},
		{"model_context_window_exceeded", chat.FinishLength},
		{"guardrail_intervened", chat.FinishContentFilter},
		{"content_filtered", chat.FinishContentFilter},
	}
	srv, c := newClient(t)
	for _, tt := range tests {
		t.Run(tt.stopReason, func(t *testing.T) {
			srv.Set(model, bedrocktest.Script{Chunks: []string{"x"}, StopReason: tt.stopReason})

			s, err := c.Stream(t.Context(), userRequest("hi"))
			if err != nil {
				t.Fatalf("Stream() error = %v", err)
			}
			defer s.Close()
			chunks, err := drain(t, s)
			if err != nil {
				t.Fatalf("Next() error = %v", err)
			}
			if got := chunks[len(chunks)-1].FinishReason; got != tt.want {
				t.Errorf("stream FinishReason = %q, want %q", got, tt.want)
			}

			comp, err := c.Complete(t.Context(), userRequest("hi"))
			if err != nil {
				t.Fatalf("Complete() error = %v", err)
			}
			if comp.Choices[0].FinishReason != tt.want {
				t.Errorf("Complete().FinishReason = %q, want %q", comp.Choices[0].FinishReason, tt.want)
			}
		})
	}
}

func TestStreamMaxTokens(t *testing.T) {
	_, c := newClient(t)
	req := userRequest("one two three four")
	req.MaxTokens = 2

	s, err := c.Stream(t.Context(), req)
	if err != nil {
		t.Fatalf("Stream() error = %v", err)
	}
	defer s.Close()
	got, err := drain(t, s)
	if err != nil {
		t.Fatalf("Next() error = %v", err)
	}
	want := []chat.Chunk{
		{Text: "one "}, {Text: "two "},
		{FinishReason: chat.FinishLength, Usage: &chat.Usage{InputTokens: 4, OutputTokens: 2}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks mismatch (-want +got):\n%s", diff)
	}
}

func TestComplete(t *testing.T) {
	tests := []struct {
		name   string
		script bedrocktest.Script
		want   chat.Completion
	}{
		{
			name:   "scripted",
			script: bedrocktest.Script{Chunks: []string{"Hello", ", world"}, Usage: &bedrocktest.Usage{In: 7, Out: 2}},
			want:   chat.TextCompletion("Hello, world", chat.FinishStop, &chat.Usage{InputTokens: 7, OutputTokens: 2}),
		},
		{
			name:   "echo",
			script: bedrocktest.Script{},
			want:   chat.TextCompletion("say it back", chat.FinishStop, &chat.Usage{InputTokens: 3, OutputTokens: 3}),
		},
		{
			name:   "no usage",
			script: bedrocktest.Script{Chunks: []string{"x"}, OmitMetadata: true, StopReason: "content_filtered"},
			want:   chat.TextCompletion("x", chat.FinishContentFilter, nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := newClient(t)
			srv.Set(model, tt.script)

			got, err := c.Complete(t.Context(), userRequest("say it back"))
			if err != nil {
				t.Fatalf("Complete() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Complete() mismatch (-want +got):\n%s", diff)
			}
			if reqs := srv.Requests(); len(reqs) != 1 || reqs[0].Stream {
				t.Errorf("Requests() = %+v, want one non-streaming request", reqs)
			}
		})
	}
}

// TestRequestMapping checks what arrives at Bedrock: system messages as system
// blocks, consecutive same-role messages merged, and the inference config.
func TestRequestMapping(t *testing.T) {
	temp, topP := 0.7, 0.9
	req := &chat.Request{
		Model: model,
		Messages: []chat.Message{
			chat.TextMessage(chat.RoleSystem, "You are terse."),
			chat.TextMessage(chat.RoleUser, "Hi."),
			chat.TextMessage(chat.RoleUser, "Are you there?"),
			chat.TextMessage(chat.RoleAssistant, "Yes."),
			chat.TextMessage(chat.RoleSystem, "Answer in French."),
			chat.TextMessage(chat.RoleUser, "Say hello."),
		},
		MaxTokens:   64,
		Temperature: &temp,
		TopP:        &topP,
		Stop:        []string{"END", "\n\n"},
		User:        "u-1",
	}
	maxTokens := 64
	want := bedrocktest.Request{
		ModelID: model,
		System:  []bedrocktest.Block{{Text: "You are terse."}, {Text: "Answer in French."}},
		Messages: []bedrocktest.Message{
			{Role: "user", Content: []bedrocktest.Block{{Text: "Hi.\n\nAre you there?"}}},
			{Role: "assistant", Content: []bedrocktest.Block{{Text: "Yes."}}},
			{Role: "user", Content: []bedrocktest.Block{{Text: "Say hello."}}},
		},
		InferenceConfig: &bedrocktest.InferenceConfig{
			MaxTokens:     &maxTokens,
			Temperature:   &temp, // float32(0.7) travels as 0.7
			TopP:          &topP,
			StopSequences: []string{"END", "\n\n"},
		},
	}
	ignoreBody := cmpopts.IgnoreFields(bedrocktest.Request{}, "Body")

	t.Run("stream", func(t *testing.T) {
		srv, c := newClient(t)
		s, err := c.Stream(t.Context(), req)
		if err != nil {
			t.Fatalf("Stream() error = %v", err)
		}
		defer s.Close()
		if _, err := drain(t, s); err != nil {
			t.Fatalf("Next() error = %v", err)
		}
		want := want
		want.Stream = true
		if diff := cmp.Diff([]bedrocktest.Request{want}, srv.Requests(), ignoreBody); diff != "" {
			t.Errorf("recorded request mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("complete", func(t *testing.T) {
		srv, c := newClient(t)
		if _, err := c.Complete(t.Context(), req); err != nil {
			t.Fatalf("Complete() error = %v", err)
		}
		if diff := cmp.Diff([]bedrocktest.Request{want}, srv.Requests(), ignoreBody); diff != "" {
			t.Errorf("recorded request mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("no inference config", func(t *testing.T) {
		srv, c := newClient(t)
		if _, err := c.Complete(t.Context(), userRequest("hi")); err != nil {
			t.Fatalf("Complete() error = %v", err)
		}
		if got := srv.Requests()[0].InferenceConfig; got != nil {
			t.Errorf("InferenceConfig = %+v, want none", got)
		}
	})
}

func TestBadRequest(t *testing.T) {
	tests := []struct {
		name string
		req  *chat.Request
	}{
		{"nil request", nil},
		{"no model", &chat.Request{Messages: []chat.Message{chat.TextMessage(chat.RoleUser, "hi")}}},
		{"no messages", &chat.Request{Model: model}},
		{"only system", &chat.Request{Model: model, Messages: []chat.Message{chat.TextMessage(chat.RoleSystem, "be nice")}}},
		{"assistant first", &chat.Request{Model: model, Messages: []chat.Message{
			chat.TextMessage(chat.RoleSystem, "be nice"),
			chat.TextMessage(chat.RoleAssistant, "Hello!"),
			chat.TextMessage(chat.RoleUser, "hi"),
		}}},
		{"unknown role", &chat.Request{Model: model, Messages: []chat.Message{
			chat.TextMessage(chat.RoleUser, "hi"),
			chat.TextMessage("function", "42"),
		}}},
		{"tool message without results", &chat.Request{Model: model, Messages: []chat.Message{
			chat.TextMessage(chat.RoleUser, "hi"),
			chat.TextMessage(chat.RoleTool, "42"),
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := newClient(t)

			s, err := c.Stream(t.Context(), tt.req)
			if s != nil {
				t.Errorf("Stream() stream = %v, want nil", s)
			}
			if pe := providerError(t, err); pe.Class != chat.ErrBadRequest {
				t.Errorf("Stream() class = %v, want %v", pe.Class, chat.ErrBadRequest)
			}
			_, err = c.Complete(t.Context(), tt.req)
			if pe := providerError(t, err); pe.Class != chat.ErrBadRequest {
				t.Errorf("Complete() class = %v, want %v", pe.Class, chat.ErrBadRequest)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("Bedrock got %d requests, want 0", n)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		errorType string
		status    int
		want      chat.ErrorClass
	}{
		{"ThrottlingException", 429, chat.ErrRateLimited},
		{"ModelNotReadyException", 429, chat.ErrRateLimited},
		{"ServiceQuotaExceededException", 400, chat.ErrRateLimited},
		{"ModelTimeoutException", 408, chat.ErrTimeout},
		{"ServiceUnavailableException", 503, chat.ErrUnavailable},
		{"InternalServerException", 500, chat.ErrUnavailable},
		{"ModelErrorException", 424, chat.ErrUnavailable},
		{"ModelStreamErrorException", 424, chat.ErrUnavailable},
		{"ValidationException", 400, chat.ErrBadRequest},
		{"ConflictException", 400, chat.ErrBadRequest},
		{"AccessDeniedException", 403, chat.ErrAuth},
		{"UnrecognizedClientException", 403, chat.ErrAuth},
		{"ExpiredTokenException", 400, chat.ErrAuth},
		{"InvalidSignatureException", 403, chat.ErrAuth},
		{"ResourceNotFoundException", 404, chat.ErrNotFound},
		{"SomethingNewException", 500, chat.ErrUnavailable},
		{"SomethingNewException", 429, chat.ErrRateLimited},
		{"SomethingNewException", 401, chat.ErrAuth},
		{"", 502, chat.ErrUnavailable},
	}
	srv, c := newClient(t)
	for _, tt := range tests {
		t.Run(tt.errorType+"_"+http.StatusText(tt.status), func(t *testing.T) {
			msg := "scripted " + tt.errorType
			srv.Set(model, bedrocktest.Script{ErrorType: tt.errorType, Status: tt.status, Message: msg})
			wantMsg := msg
			if tt.errorType == "" {
				wantMsg = "" // not an API error the SDK can parse a message from
			}
			check := func(op string, err error) {
				t.Helper()
				pe := providerError(t, err)
				if pe.Class != tt.want || pe.Status != tt.status {
					t.Errorf("%s: class, status = %v, %d; want %v, %d (err: %v)", op, pe.Class, pe.Status, tt.want, tt.status, err)
				}
				if wantMsg != "" && pe.Message != wantMsg {
					t.Errorf("%s: Message = %q, want %q", op, pe.Message, wantMsg)
				}
			}

			s, err := c.Stream(t.Context(), userRequest("hi"))
			if err == nil {
				s.Close()
				t.Fatal("Stream() error = nil, want an error")
			}
			check("Stream", err)
			_, err = c.Complete(t.Context(), userRequest("hi"))
			check("Complete", err)
		})
	}
}

// TestStreamException checks exceptions Bedrock sends inside a 200 event stream.
func TestStreamException(t *testing.T) {
	tests := []struct {
		exception string
		want      chat.ErrorClass
	}{
		{"throttlingException", chat.ErrRateLimited},
		{"modelStreamErrorException", chat.ErrUnavailable},
		{"internalServerException", chat.ErrUnavailable},
		{"serviceUnavailableException", chat.ErrUnavailable},
		{"validationException", chat.ErrBadRequest},
	}
	srv, c := newClient(t)
	for _, tt := range tests {
		t.Run(tt.exception, func(t *testing.T) {
			srv.Set(model, bedrocktest.Script{
				Chunks:          []string{"a", "b", "c"},
				StreamException: tt.exception,
				ExceptionAfter:  2,
				Message:         "it broke",
			})

			s, err := c.Stream(t.Context(), userRequest("hi"))
			if err != nil {
				t.Fatalf("Stream() error = %v", err)
			}
			defer s.Close()
			chunks, err := drain(t, s)
			if diff := cmp.Diff([]chat.Chunk{{Text: "a"}, {Text: "b"}}, chunks); diff != "" {
				t.Errorf("chunks before the exception mismatch (-want +got):\n%s", diff)
			}
			pe := providerError(t, err)
			if pe.Class != tt.want || pe.Message != "it broke" {
				t.Errorf("Next() error class, message = %v, %q; want %v, %q", pe.Class, pe.Message, tt.want, "it broke")
			}
			if _, again := s.Next(t.Context()); again != err {
				t.Errorf("Next() after the error = %v, want the same error %v", again, err)
			}
		})
	}
}

// TestStreamCut checks that an answer without messageStop/metadata is an error,
// not a short success (research/aws-lambda.md, first pitfall).
func TestStreamCut(t *testing.T) {
	tests := []struct {
		name   string
		script bedrocktest.Script
		want   []chat.Chunk
	}{
		{
			name:   "connection dropped",
			script: bedrocktest.Script{Chunks: []string{"a", "b", "c", "d"}, CutAfter: 2},
			want:   []chat.Chunk{{Text: "a"}, {Text: "b"}},
		},
		{
			name:   "dropped after the last delta",
			script: bedrocktest.Script{Chunks: []string{"a", "b"}, CutAfter: 2},
			want:   []chat.Chunk{{Text: "a"}, {Text: "b"}},
		},
		{
			name:   "no metadata",
			script: bedrocktest.Script{Chunks: []string{"a", "b"}, OmitMetadata: true},
			want:   []chat.Chunk{{Text: "a"}, {Text: "b"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := newClient(t)
			srv.Set(model, tt.script)

			s, err := c.Stream(t.Context(), userRequest("hi"))
			if err != nil {
				t.Fatalf("Stream() error = %v", err)
			}
			defer s.Close()
			chunks, err := drain(t, s)
			if diff := cmp.Diff(tt.want, chunks); diff != "" {
				t.Errorf("chunks mismatch (-want +got):\n%s", diff)
			}
			pe := providerError(t, err)
			if pe.Class != chat.ErrUnavailable || pe.Message != "stream ended before messageStop/metadata" {
				t.Errorf("Next() error = %v, want unavailable: stream ended before messageStop/metadata", err)
			}
		})
	}
}

func TestCompleteCut(t *testing.T) {
	srv, c := newClient(t)
	srv.Set(model, bedrocktest.Script{CutAfter: 1})

	_, err := c.Complete(t.Context(), userRequest("hi"))
	if pe := providerError(t, err); pe.Class != chat.ErrUnavailable {
		t.Errorf("Complete() class = %v, want %v", pe.Class, chat.ErrUnavailable)
	}
}

func TestConnectionRefused(t *testing.T) {
	srv, c := newClient(t)
	srv.Close()

	_, err := c.Stream(t.Context(), userRequest("hi"))
	if pe := providerError(t, err); pe.Class != chat.ErrUnavailable || pe.Status != 0 {
		t.Errorf("Stream() class, status = %v, %d; want %v, 0", pe.Class, pe.Status, chat.ErrUnavailable)
	}
}

// slowScript answers one chunk, then takes far longer than any test for the next.
var slowScript = bedrocktest.Script{Chunks: []string{"first ", "never"}, Delay: time.Minute}

// nextAfter calls Next on s and fails the test if it takes longer than d.
func nextAfter(t *testing.T, ctx context.Context, s chat.Stream, d time.Duration) error {
	t.Helper()
	start := time.Now()
	_, err := s.Next(ctx)
	if took := time.Since(start); took > d {
		t.Errorf("Next() took %v, want under %v", took, d)
	}
	return err
}

func TestStreamContext(t *testing.T) {
	t.Run("next cancelled", func(t *testing.T) {
		srv, c := newClient(t)
		srv.Set(model, slowScript)
		s, err := c.Stream(t.Context(), userRequest("hi"))
		if err != nil {
			t.Fatalf("Stream() error = %v", err)
		}
		defer s.Close()
		if c, err := s.Next(t.Context()); err != nil || c.Text != "first " {
			t.Fatalf("Next() = %+v, %v; want the first chunk", c, err)
		}

		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(20*time.Millisecond, cancel)
		err = nextAfter(t, ctx, s, 2*time.Second)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Next() error = %v, want context.Canceled", err)
		}
		var pe *chat.ProviderError
		if errors.As(err, &pe) {
			t.Errorf("Next() error = %v, want no ProviderError for a cancelled caller", err)
		}
	})
	t.Run("stream context cancelled", func(t *testing.T) {
		srv, c := newClient(t)
		srv.Set(model, slowScript)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		s, err := c.Stream(ctx, userRequest("hi"))
		if err != nil {
			t.Fatalf("Stream() error = %v", err)
		}
		defer s.Close()
		if _, err := s.Next(t.Context()); err != nil {
			t.Fatalf("Next() error = %v", err)
		}

		time.AfterFunc(20*time.Millisecond, cancel)
		// Next's own context stays live: the SDK's read under ctx must end it.
		err = nextAfter(t, t.Context(), s, 2*time.Second)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Next() error = %v, want context.Canceled", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		srv, c := newClient(t)
		srv.Set(model, slowScript)
		s, err := c.Stream(t.Context(), userRequest("hi"))
		if err != nil {
			t.Fatalf("Stream() error = %v", err)
		}
		defer s.Close()
		if _, err := s.Next(t.Context()); err != nil {
			t.Fatalf("Next() error = %v", err)
		}

		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		err = nextAfter(t, ctx, s, 2*time.Second)
		if pe := providerError(t, err); pe.Class != chat.ErrTimeout || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Next() error = %v, want a timeout wrapping context.DeadlineExceeded", err)
		}
	})
	t.Run("hang before first token", func(t *testing.T) {
		srv, c := newClient(t)
		srv.Set(model, bedrocktest.Script{Hang: true})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		s, err := c.Stream(ctx, userRequest("hi"))
		if err != nil {
			t.Fatalf("Stream() error = %v", err)
		}
		defer s.Close()
		err = nextAfter(t, ctx, s, 2*time.Second)
		if pe := providerError(t, err); pe.Class != chat.ErrTimeout {
			t.Errorf("Next() class = %v, want %v", pe.Class, chat.ErrTimeout)
		}
	})
}

func TestCompleteContext(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		srv, c := newClient(t)
		srv.Set(model, bedrocktest.Script{Hang: true})
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := c.Complete(ctx, userRequest("hi"))
		if pe := providerError(t, err); pe.Class != chat.ErrTimeout {
			t.Errorf("Complete() class = %v, want %v (err: %v)", pe.Class, chat.ErrTimeout, err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		srv, c := newClient(t)
		srv.Set(model, bedrocktest.Script{Hang: true})
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := c.Complete(ctx, userRequest("hi"))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Complete() error = %v, want context.Canceled", err)
		}
	})
}

func TestStreamClose(t *testing.T) {
	srv, c := newClient(t)
	srv.Set(model, slowScript)
	s, err := c.Stream(t.Context(), userRequest("hi"))
	if err != nil {
		t.Fatalf("Stream() error = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if _, err := s.Next(t.Context()); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("Next() after Close = %v, want an error", err)
	}
}

// TestConcurrentStreams reads many streams of one Client at once; under -race it
// pins the workaround for the SDK's shared event-stream codec (aws/smithy-go#714).
func TestConcurrentStreams(t *testing.T) {
	_, c := newClient(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			text := fmt.Sprintf("stream number %d", i)
			s, err := c.Stream(t.Context(), userRequest(text))
			if err != nil {
				t.Errorf("Stream() error = %v", err)
				return
			}
			defer s.Close()
			chunks, err := drain(t, s)
			if err != nil {
				t.Errorf("Next() error = %v", err)
				return
			}
			var got strings.Builder
			for _, c := range chunks {
				got.WriteString(c.Text)
			}
			if got.String() != text {
				t.Errorf("streamed %q, want %q", got.String(), text)
			}
		})
	}
	wg.Wait()
}

func TestModelID(t *testing.T) {
	ids := []string{
		"anthropic.claude-3-haiku-20240307-v1:0",
		"us.anthropic.claude-sonnet-4-20250514-v1:0",
		"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-1b-instruct-v1:0",
	}
	srv, c := newClient(t)
	for _, id := range ids {
		srv.Set(id, bedrocktest.Script{Chunks: []string{id}})
	}
	for _, id := range ids {
		s, err := c.Stream(t.Context(), &chat.Request{Model: id, Messages: []chat.Message{chat.TextMessage(chat.RoleUser, "hi")}})
		if err != nil {
			t.Fatalf("Stream(%q) error = %v", id, err)
		}
		chunks, err := drain(t, s)
		s.Close()
		if err != nil || len(chunks) == 0 || chunks[0].Text != id {
			t.Errorf("Stream(%q) = %+v, %v; want the script of that model", id, chunks, err)
		}
		if n := srv.Calls(id); n != 1 {
			t.Errorf("Calls(%q) = %d, want 1", id, n)
		}
	}
}
