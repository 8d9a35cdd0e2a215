// Package bedrocktest is a fake Amazon Bedrock Runtime that speaks the real wire
// protocol: Converse answers JSON, and ConverseStream answers
// application/vnd.amazon.eventstream frames encoded with aws-sdk-go-v2's own
// event-stream encoder, so the real bedrockruntime client can be pointed at it
// through BaseEndpoint.
//
// Answers follow a Script per model id (or the default script), and every request
// is recorded. NewServer serves a Handler on a loopback httptest server for tests;
// NewHandler and NewClient serve the same fake anywhere else, such as a benchmark
// command.
//
// A script answers with text deltas (Chunks), reasoning, tool calls, or content
// blocks in any order (Blocks), so that a tool call's contentBlockIndex differs
// from its place among the tool calls, as with the real service. A request
// that offers tools or asks for structured output and is not scripted gets the
// Auto behaviour, which lets agent loops run against the fake (see Script.Auto).
//
// Like the real service, the fake validates requests and answers a
// ValidationException when a conversation does not start with a user message
// or does not alternate roles, when tool results do not answer the tool calls
// of the turn before, when tool blocks come without a toolConfig, when a tool
// name is not ^[a-zA-Z0-9_-]{1,64}$, when an image is over 3.75 MB or not in a
// user message, and when a thinking budget is under 1024 tokens or not below
// maxTokens.
package bedrocktest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
)

// DefaultLatency is how long a Handler waits before answering each request unless
// SetLatency says otherwise. The real service never answers in microseconds, and
// against an instant fake the SDK intermittently fails with "use of closed network
// connection" (research/aws-lambda.md, pitfalls).
const DefaultLatency = 10 * time.Millisecond

// maxBody bounds the request bodies the fake reads.
const maxBody = 10 << 20

// Script says how the fake answers one model. The zero Script echoes the last user
// message, word by word, and ends with end_turn; for a request with a
// toolConfig or an outputConfig it behaves as Auto.
type Script struct {
	// Chunks are the text deltas of the answer. When nil (and there are no
	// ToolCalls), the fake echoes the text of the last user message split into
	// words, spaces kept ("a b" → "a ", "b").
	Chunks []string

	// Reasoning, when set, is a reasoning block answered before the text.
	Reasoning *Reasoning
	// ToolCalls are tool calls answered after the text (with no text block when
	// Chunks is nil), each as contentBlockStart.toolUse, input fragments and
	// contentBlockStop. The stop reason is then tool_use.
	ToolCalls []ToolCall
	// Blocks, when set, is the whole answer, one content block each, in order;
	// Chunks, Reasoning and ToolCalls are then ignored. Interleave text,
	// reasoning and tool calls here to test contentBlockIndex against the dense
	// tool call index.
	Blocks []AnswerBlock

	// Auto, when nothing else is scripted, answers the way a model in an agent
	// loop would (it is also what unscripted requests with a toolConfig or an
	// outputConfig get): with a json_schema outputConfig, the text is
	// schema.Example(schema, last user text); with a specific toolChoice, it
	// calls that tool; when the last user turn holds tool results, the text is
	// "results: " and their texts joined with "; "; otherwise it calls the first
	// two tools offered (the first one when only one is), stop reason tool_use.
	// Tool inputs are schema.Example(inputSchema, last user text). Without
	// tools or an outputConfig it echoes. An unscripted request that asks for
	// reasoning (Anthropic's thinking, Nova 2's reasoningConfig) also gets a
	// reasoning block first.
	Auto bool

	// FirstDelay is waited before the first delta; Delay before every later delta
	// and before contentBlockStop. Converse waits FirstDelay plus Delay per chunk.
	FirstDelay time.Duration
	Delay      time.Duration

	// Usage is reported in the metadata event (or the Converse usage). When nil,
	// input tokens are the words of all messages and system prompts, and output
	// tokens the number of chunks sent.
	Usage *Usage
	// OmitMetadata leaves out the metadata event (and Converse usage and metrics).
	OmitMetadata bool

	// StopReason is reported in messageStop; "" means end_turn. When the request's
	// inferenceConfig.maxTokens is smaller than the number of chunks, only that
	// many chunks are sent and the stop reason is max_tokens.
	StopReason string

	// ErrorType, when set, answers the HTTP request with Status (default: the
	// status Bedrock uses for that error, 500 if unknown), an X-Amzn-ErrorType
	// header and a {"message": Message} body. A Status without ErrorType answers
	// that status without the header.
	ErrorType string
	Status    int
	Message   string

	// StreamException, when set, ends a ConverseStream answer after ExceptionAfter
	// deltas with an exception frame of that :exception-type, such as
	// "throttlingException" or "modelStreamErrorException", carrying Message.
	StreamException string
	ExceptionAfter  int

	// CutAfter > 0 drops the connection after that many deltas, without
	// messageStop or metadata. Converse drops it without answering.
	CutAfter int

	// Hang sends the ConverseStream headers and messageStart and then nothing, or
	// never answers Converse, until the client goes away or the Handler is closed.
	Hang bool
}

// Usage is a scripted token count: input and output tokens, and the input
// tokens read from and written to the prompt cache (reported only when not 0).
type Usage struct {
	In, Out               int
	CacheRead, CacheWrite int
}

// Handler is the fake Bedrock Runtime as an http.Handler. It serves
// POST /model/{modelId}/converse and POST /model/{modelId}/converse-stream.
// Its methods are safe for concurrent use.
type Handler struct {
	done      chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	latency  time.Duration
	def      Script
	scripts  map[string]Script
	requests []Request
	seq      int
}

// NewHandler returns a fake that answers every model with the zero Script after
// DefaultLatency.
func NewHandler() *Handler {
	return &Handler{
		done:    make(chan struct{}),
		latency: DefaultLatency,
		scripts: make(map[string]Script),
	}
}

// Set scripts the answers for modelID, as the SDK sends it (unescaped, e.g.
// "anthropic.claude-3-haiku-20240307-v1:0").
func (h *Handler) Set(modelID string, s Script) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.scripts[modelID] = s
}

// SetDefault scripts the answers for models without a script of their own.
func (h *Handler) SetDefault(s Script) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.def = s
}

// SetLatency sets how long the fake waits before answering each request.
// Below a few milliseconds the SDK becomes flaky; see DefaultLatency.
func (h *Handler) SetLatency(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.latency = d
}

// Requests returns every request received so far, in order of arrival.
func (h *Handler) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.requests)
}

// Calls returns how many requests (Converse or ConverseStream) named modelID.
func (h *Handler) Calls(modelID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.requests {
		if r.ModelID == modelID {
			n++
		}
	}
	return n
}

// Close releases requests waiting in Hang, a delay or the latency: they end
// without an answer, and so do requests that arrive later. It is safe to call more
// than once.
func (h *Handler) Close() {
	h.closeOnce.Do(func() { close(h.done) })
}

// record stores r and returns the script and latency to answer it with, and a
// request id.
func (h *Handler) record(r Request) (Script, time.Duration, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests = append(h.requests, r)
	h.seq++
	s, ok := h.scripts[r.ModelID]
	if !ok {
		s = h.def
	}
	return s, h.latency, fmt.Sprintf("bedrocktest-%d", h.seq)
}

// sleep waits d and reports whether the answer should go on: false when the client
// went away or the Handler was closed.
func (h *Handler) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-ctx.Done():
			return false
		case <-h.done:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-h.done:
		return false
	}
}

// hang waits until the client goes away or the Handler is closed.
func (h *Handler) hang(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-h.done:
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	modelID, op, err := parsePath(r.URL.EscapedPath())
	if err != nil {
		writeError(w, "", http.StatusNotFound, "UnknownOperationException", err.Error())
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, "", http.StatusMethodNotAllowed, "UnknownOperationException",
			"bedrocktest: "+op+" needs POST")
		return
	}
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if op == "invoke" {
		h.invoke(w, r, modelID, body, readErr)
		return
	}
	var in requestBody
	decodeErr := readErr
	if decodeErr == nil {
		decodeErr = json.Unmarshal(body, &in)
	}
	script, latency, id := h.record(Request{
		ModelID:                      modelID,
		Stream:                       op == "converse-stream",
		Messages:                     in.Messages,
		System:                       in.System,
		InferenceConfig:              in.InferenceConfig,
		ToolConfig:                   in.ToolConfig,
		OutputConfig:                 in.OutputConfig,
		AdditionalModelRequestFields: in.AdditionalModelRequestFields,
		RequestMetadata:              in.RequestMetadata,
		ServiceTier:                  in.ServiceTier,
		Body:                         body,
		TraceID:                      r.Header.Get("X-Amzn-Trace-Id"),
	})
	ctx := r.Context()
	if !h.sleep(ctx, latency) {
		return
	}

	if script.ErrorType != "" || script.Status != 0 {
		status := script.Status
		if status == 0 {
			status = errorStatus(script.ErrorType)
		}
		msg := script.Message
		if msg == "" {
			msg = "bedrocktest: scripted " + cmp.Or(script.ErrorType, http.StatusText(status))
		}
		writeError(w, id, status, script.ErrorType, msg)
		return
	}
	if decodeErr != nil {
		writeError(w, id, http.StatusBadRequest, "ValidationException",
			"bedrocktest: malformed request body")
		return
	}
	if msg := validate(&in); msg != "" {
		writeError(w, id, http.StatusBadRequest, "ValidationException", msg)
		return
	}

	a, err := plan(script, &in, id)
	if err != nil {
		writeError(w, id, http.StatusBadRequest, "ValidationException", err.Error())
		return
	}
	if op == "converse-stream" {
		h.stream(ctx, w, id, start, script, a)
		return
	}
	h.converse(ctx, w, id, start, script, a)
}

// converse answers a Converse request.
func (h *Handler) converse(ctx context.Context, w http.ResponseWriter, id string, start time.Time, s Script, a answer) {
	if s.Hang {
		h.hang(ctx)
		return
	}
	if s.CutAfter > 0 {
		panic(http.ErrAbortHandler) // drop the connection without an answer
	}
	if !h.sleep(ctx, s.FirstDelay+time.Duration(a.deltas())*s.Delay) {
		return
	}
	content := make([]any, len(a.blocks))
	for i, b := range a.blocks {
		content[i] = b.whole
	}
	out := map[string]any{
		"output": map[string]any{"message": map[string]any{
			"role":    "assistant",
			"content": content,
		}},
		"stopReason": a.stopReason,
	}
	if a.usage != nil {
		out["usage"] = usageJSON(*a.usage)
		out["metrics"] = map[string]any{"latencyMs": time.Since(start).Milliseconds()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", id)
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(out)
}

// stream answers a ConverseStream request with event-stream frames, flushing each.
func (h *Handler) stream(ctx context.Context, w http.ResponseWriter, id string, start time.Time, s Script, a answer) {
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.Header().Set("X-Amzn-Requestid", id)
	w.WriteHeader(http.StatusOK)
	fw := &frameWriter{w: w, rc: http.NewResponseController(w), enc: eventstream.NewEncoder()}

	if !fw.event("messageStart", map[string]any{"role": "assistant"}) {
		return
	}
	if s.Hang {
		h.hang(ctx)
		return
	}
	// The frames of the content blocks. Text and reasoning blocks have no
	// contentBlockStart, as with the real service.
	type frame struct {
		typ     string
		payload map[string]any
		delta   bool
	}
	var frames []frame
	for i, b := range a.blocks {
		if b.start != nil {
			frames = append(frames, frame{"contentBlockStart", map[string]any{"contentBlockIndex": i, "start": b.start}, false})
		}
		for _, d := range b.deltas {
			frames = append(frames, frame{"contentBlockDelta", map[string]any{"contentBlockIndex": i, "delta": d}, true})
		}
		frames = append(frames, frame{"contentBlockStop", map[string]any{"contentBlockIndex": i}, false})
	}
	// tail runs once all deltas are sent, before the next frame: a scripted
	// exception or cut after the last delta, else Delay.
	total, sent, tailed := a.deltas(), 0, false
	tail := func() bool {
		tailed = true
		if s.StreamException != "" {
			fw.exception(s.StreamException, s.Message)
			return false
		}
		if s.CutAfter > 0 {
			panic(http.ErrAbortHandler)
		}
		return h.sleep(ctx, s.Delay)
	}
	for _, f := range frames {
		if f.delta {
			if s.StreamException != "" && sent == s.ExceptionAfter {
				fw.exception(s.StreamException, s.Message)
				return
			}
			if s.CutAfter > 0 && sent == s.CutAfter {
				panic(http.ErrAbortHandler) // every frame so far is flushed
			}
			d := s.Delay
			if sent == 0 {
				d = s.FirstDelay
			}
			if !h.sleep(ctx, d) {
				return
			}
			sent++
		} else if sent == total && !tailed && !tail() {
			return
		}
		if !fw.event(f.typ, f.payload) {
			return
		}
	}
	if !tailed && !tail() {
		return
	}
	if !fw.event("messageStop", map[string]any{"stopReason": a.stopReason}) {
		return
	}
	if a.usage != nil {
		fw.event("metadata", map[string]any{
			"usage":   usageJSON(*a.usage),
			"metrics": map[string]any{"latencyMs": time.Since(start).Milliseconds()},
		})
	}
}

func usageJSON(u Usage) map[string]any {
	m := map[string]any{"inputTokens": u.In, "outputTokens": u.Out, "totalTokens": u.In + u.Out + u.CacheRead + u.CacheWrite}
	if u.CacheRead != 0 {
		m["cacheReadInputTokens"] = u.CacheRead
	}
	if u.CacheWrite != 0 {
		m["cacheWriteInputTokens"] = u.CacheWrite
	}
	return m
}

// frameWriter writes event-stream messages, flushing after each.
type frameWriter struct {
	w   io.Writer
	rc  *http.ResponseController
	enc *eventstream.Encoder
}

// event writes one event message and reports whether it reached the connection.
func (f *frameWriter) event(typ string, v any) bool {
	var m eventstream.Message
	m.Headers.Set(":message-type", eventstream.StringValue("event"))
	m.Headers.Set(":event-type", eventstream.StringValue(typ))
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	return f.write(m, v)
}

// exception writes one exception message, the way Bedrock ends a failed stream.
func (f *frameWriter) exception(typ, msg string) bool {
	// The :exception-type is the union member name: throttlingException.
	if typ != "" {
		typ = strings.ToLower(typ[:1]) + typ[1:]
	}
	if msg == "" {
		msg = "bedrocktest: scripted " + typ
	}
	var m eventstream.Message
	m.Headers.Set(":message-type", eventstream.StringValue("exception"))
	m.Headers.Set(":exception-type", eventstream.StringValue(typ))
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	return f.write(m, map[string]string{"message": msg})
}

func (f *frameWriter) write(m eventstream.Message, v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	m.Payload = b
	if err := f.enc.Encode(f.w, m); err != nil {
		return false
	}
	return f.rc.Flush() == nil
}

// parsePath splits /model/{modelId}/{op} and unescapes the model id.
func parsePath(escaped string) (modelID, op string, err error) {
	rest, ok := strings.CutPrefix(escaped, "/model/")
	i := strings.LastIndexByte(rest, '/')
	if !ok || i <= 0 {
		return "", "", fmt.Errorf("bedrocktest: unknown operation %s", escaped)
	}
	op = rest[i+1:]
	if op != "converse" && op != "converse-stream" && op != "invoke" {
		return "", "", fmt.Errorf("bedrocktest: unknown operation %s", escaped)
	}
	modelID, err = url.PathUnescape(rest[:i])
	if err != nil {
		return "", "", fmt.Errorf("bedrocktest: bad model id in %s", escaped)
	}
	return modelID, op, nil
}

// statuses are the HTTP statuses Bedrock Runtime's schema gives its errors, plus
// the signature errors of the AWS front end.
var statuses = map[string]int{
	"ThrottlingException":           http.StatusTooManyRequests,
	"ModelNotReadyException":        http.StatusTooManyRequests,
	"ModelTimeoutException":         http.StatusRequestTimeout,
	"ServiceUnavailableException":   http.StatusServiceUnavailable,
	"InternalServerException":       http.StatusInternalServerError,
	"ValidationException":           http.StatusBadRequest,
	"ServiceQuotaExceededException": http.StatusBadRequest,
	"ConflictException":             http.StatusBadRequest,
	"AccessDeniedException":         http.StatusForbidden,
	"ResourceNotFoundException":     http.StatusNotFound,
	"ModelErrorException":           http.StatusFailedDependency,
	"ModelStreamErrorException":     http.StatusFailedDependency,
	"UnrecognizedClientException":   http.StatusForbidden,
	"InvalidSignatureException":     http.StatusForbidden,
	"ExpiredTokenException":         http.StatusForbidden,
}

func errorStatus(errorType string) int {
	if s, ok := statuses[errorType]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// writeError answers with status, the X-Amzn-ErrorType header (when errorType is
// set) and a {"message": msg} body, as Bedrock's restJson1 protocol does.
func writeError(w http.ResponseWriter, id string, status int, errorType, msg string) {
	if errorType != "" {
		w.Header().Set("X-Amzn-Errortype", errorType)
	}
	if id != "" {
		w.Header().Set("X-Amzn-Requestid", id)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// Server is a Handler served on a loopback httptest server.
type Server struct {
	*Handler
	URL string // base URL, e.g. http://127.0.0.1:1234

	ts *httptest.Server
}

// NewServer starts a fake on a loopback port and closes it when the test ends.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	h := NewHandler()
	ts := httptest.NewServer(h)
	s := &Server{Handler: h, URL: ts.URL, ts: ts}
	tb.Cleanup(s.Close)
	return s
}

// Close releases hanging requests and shuts the server down. NewServer arranges
// for it to run when the test ends; calling it earlier makes the fake unreachable,
// which tests of connection failures can use. It is safe to call more than once.
func (s *Server) Close() {
	s.Handler.Close()
	s.ts.Close()
}

// Client returns a real Bedrock Runtime client for s; see NewClient.
func (s *Server) Client() *bedrockruntime.Client {
	return NewClient(s.URL)
}

// NewClient returns a real Bedrock Runtime client that talks to the fake at
// baseURL: region us-east-1, static test credentials (requests are still SigV4
// signed), and a single attempt per call, so scripted errors are not retried.
//
// Like any bedrockruntime.Client (SDK v1.63.13, smithy-go v1.28.9), it shares one
// event-stream codec between calls, so concurrent ConverseStream calls fail -race
// (aws/smithy-go#714) unless each passes its own Options.Protocol, as
// bedrock.Client does.
func NewClient(baseURL string) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(baseURL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDBEDROCKTEST", "bedrocktest-secret", ""),
		RetryMaxAttempts: 1,
	})
}
