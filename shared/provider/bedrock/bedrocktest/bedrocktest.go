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
// Like the real service, the fake rejects conversations that do not start with a
// user message or do not alternate roles, with a ValidationException.
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
// message, word by word, and ends with end_turn.
type Script struct {
	// Chunks are the text deltas of the answer. When nil, the fake echoes the text
	// of the last user message split into words, spaces kept ("a b" → "a ", "b").
	Chunks []string

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

// Usage is a scripted token count.
type Usage struct {
	In, Out int
}

// Request is one request as the fake received it.
type Request struct {
	ModelID         string // path-unescaped
	Stream          bool   // ConverseStream rather than Converse
	Messages        []Message
	System          []Block
	InferenceConfig *InferenceConfig
	Body            []byte // the JSON body as received
	TraceID         string // the X-Amzn-Trace-Id header, when sent
}

// Message is one message of a recorded request.
type Message struct {
	Role    string  `json:"role"`
	Content []Block `json:"content"`
}

// Block is a content or system block. Only text blocks are understood.
type Block struct {
	Text string `json:"text"`
}

// InferenceConfig is the inferenceConfig of a recorded request.
type InferenceConfig struct {
	MaxTokens     *int     `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

// requestBody is the part of a Converse or ConverseStream body the fake decodes.
type requestBody struct {
	Messages        []Message        `json:"messages"`
	System          []Block          `json:"system"`
	InferenceConfig *InferenceConfig `json:"inferenceConfig"`
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
	var in requestBody
	decodeErr := readErr
	if decodeErr == nil {
		decodeErr = json.Unmarshal(body, &in)
	}
	script, latency, id := h.record(Request{
		ModelID:         modelID,
		Stream:          op == "converse-stream",
		Messages:        in.Messages,
		System:          in.System,
		InferenceConfig: in.InferenceConfig,
		Body:            body,
		TraceID:         r.Header.Get("X-Amzn-Trace-Id"),
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
	if msg := validate(in); msg != "" {
		writeError(w, id, http.StatusBadRequest, "ValidationException", msg)
		return
	}

	a := plan(script, in)
	if op == "converse-stream" {
		h.stream(ctx, w, id, start, script, a)
		return
	}
	h.converse(ctx, w, id, start, script, a)
}

// answer is what a request will be answered with.
type answer struct {
	chunks     []string
	stopReason string
	usage      *Usage // nil: no metadata
}

// plan works out the answer to in under s.
func plan(s Script, in requestBody) answer {
	chunks := s.Chunks
	if chunks == nil {
		chunks = echo(in.Messages)
	}
	stop := cmp.Or(s.StopReason, "end_turn")
	if c := in.InferenceConfig; c != nil && c.MaxTokens != nil && *c.MaxTokens > 0 && *c.MaxTokens < len(chunks) {
		chunks = chunks[:*c.MaxTokens]
		stop = "max_tokens"
	}
	a := answer{chunks: chunks, stopReason: stop}
	switch {
	case s.OmitMetadata:
	case s.Usage != nil:
		u := *s.Usage
		a.usage = &u
	default:
		a.usage = &Usage{In: inputWords(in), Out: len(chunks)}
	}
	return a
}

// echo splits the text of the last user message into words, spaces kept.
func echo(msgs []Message) []string {
	var text string
	for _, m := range slices.Backward(msgs) {
		if m.Role == "user" {
			text = blocksText(m.Content)
			break
		}
	}
	var chunks []string
	for _, c := range strings.SplitAfter(text, " ") {
		if c != "" {
			chunks = append(chunks, c)
		}
	}
	return chunks
}

// inputWords counts the words of every message and system block.
func inputWords(in requestBody) int {
	n := len(strings.Fields(blocksText(in.System)))
	for _, m := range in.Messages {
		n += len(strings.Fields(blocksText(m.Content)))
	}
	return n
}

func blocksText(bs []Block) string {
	var sb strings.Builder
	for i, b := range bs {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(b.Text)
	}
	return sb.String()
}

// validate returns the ValidationException message Bedrock would give for in, or "".
func validate(in requestBody) string {
	if len(in.Messages) == 0 {
		return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
	}
	for i, m := range in.Messages {
		switch {
		case m.Role != "user" && m.Role != "assistant":
			return fmt.Sprintf("1 validation error detected: Value '%s' at 'messages.%d.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]", m.Role, i+1)
		case i == 0 && m.Role != "user":
			return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
		case i > 0 && m.Role == in.Messages[i-1].Role:
			return "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."
		case len(m.Content) == 0:
			return fmt.Sprintf("The content field in the Message object at messages.%d is empty. Add a ContentBlock object to the content field and try again.", i)
		}
		for j, b := range m.Content {
			if strings.TrimSpace(b.Text) == "" {
				return fmt.Sprintf("The text field in the ContentBlock object at messages.%d.content.%d is blank. Add text to the text field, and try again.", i, j)
			}
		}
	}
	return ""
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
	if !h.sleep(ctx, s.FirstDelay+time.Duration(len(a.chunks))*s.Delay) {
		return
	}
	out := map[string]any{
		"output": map[string]any{"message": map[string]any{
			"role":    "assistant",
			"content": []any{map[string]any{"text": strings.Join(a.chunks, "")}},
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
	for i, c := range a.chunks {
		if s.StreamException != "" && i == s.ExceptionAfter {
			fw.exception(s.StreamException, s.Message)
			return
		}
		if s.CutAfter > 0 && i == s.CutAfter {
			panic(http.ErrAbortHandler) // every frame so far is flushed
		}
		d := s.Delay
		if i == 0 {
			d = s.FirstDelay
		}
		if !h.sleep(ctx, d) {
			return
		}
		if !fw.event("contentBlockDelta", map[string]any{
			"contentBlockIndex": 0,
			"delta":             map[string]any{"text": c},
		}) {
			return
		}
	}
	if s.StreamException != "" {
		fw.exception(s.StreamException, s.Message)
		return
	}
	if s.CutAfter > 0 {
		panic(http.ErrAbortHandler)
	}
	if !h.sleep(ctx, s.Delay) {
		return
	}
	if !fw.event("contentBlockStop", map[string]any{"contentBlockIndex": 0}) ||
		!fw.event("messageStop", map[string]any{"stopReason": a.stopReason}) {
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
	return map[string]any{"inputTokens": u.In, "outputTokens": u.Out, "totalTokens": u.In + u.Out}
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
	if op != "converse" && op != "converse-stream" {
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
