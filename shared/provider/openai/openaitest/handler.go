package openaitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/sse"
)

// Request is the decoded JSON body of a chat completions request, as the fake
// understood it.
type Request struct {
	Model               string         `json:"model"`
	Messages            []Message      `json:"messages"`
	MaxTokens           int            `json:"max_tokens,omitempty"`
	MaxCompletionTokens int            `json:"max_completion_tokens,omitempty"`
	Temperature         *float64       `json:"temperature,omitempty"`
	TopP                *float64       `json:"top_p,omitempty"`
	Stop                Stop           `json:"stop,omitempty"`
	User                string         `json:"user,omitempty"`
	Stream              bool           `json:"stream,omitempty"`
	StreamOptions       *StreamOptions `json:"stream_options,omitempty"`
}

// IncludeUsage reports whether the request asked for a usage chunk at the end of
// the stream.
func (r *Request) IncludeUsage() bool {
	return r.Stream && r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// StreamOptions is the request's stream_options object.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Message is one message of a request. Content holds the text, whether the
// request sent it as a string or as an array of content parts (whose "text"
// parts are joined).
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// UnmarshalJSON accepts content as a string, null or an array of parts.
func (m *Message) UnmarshalJSON(b []byte) error {
	var raw struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	m.Role, m.Content = raw.Role, ""
	c := bytes.TrimSpace(raw.Content)
	switch {
	case len(c) == 0 || string(c) == "null":
	case c[0] == '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(c, &parts); err != nil {
			return err
		}
		for _, p := range parts {
			if p.Type == "text" {
				m.Content += p.Text
			}
		}
	default:
		return json.Unmarshal(c, &m.Content)
	}
	return nil
}

// Stop holds the request's stop sequences, sent as a string or an array.
type Stop []string

// UnmarshalJSON accepts a string or an array of strings.
func (s *Stop) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Stop{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

// Recorded is one request the fake received.
type Recorded struct {
	Body   Request     // the decoded body
	Raw    []byte      // the body as sent
	Header http.Header // the request headers
	// Done is closed when the fake has finished with the request, whether it
	// answered, failed or saw the client go away.
	Done <-chan struct{}
}

// Handler is the fake server as an http.Handler. It answers POST requests to any
// path ending in "/chat/completions" and is safe for concurrent use. Create it
// with NewHandler.
type Handler struct {
	closing context.Context // ends at Close: a lifecycle signal, not a request context
	stop    context.CancelFunc

	mu        sync.Mutex
	def       Script
	scripts   map[string]Script
	recording bool
	requests  []Recorded
	calls     map[string]int
	cancelled int
	seq       int
}

// NewHandler returns a Handler that records requests and answers every model
// with the zero Script (echo) until told otherwise.
func NewHandler() *Handler {
	closing, stop := context.WithCancel(context.Background())
	return &Handler{
		closing:   closing,
		stop:      stop,
		scripts:   make(map[string]Script),
		calls:     make(map[string]int),
		recording: true,
	}
}

// Set makes the fake answer requests for model with s.
func (h *Handler) Set(model string, s Script) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.scripts[model] = s
}

// SetDefault makes the fake answer requests for models without a Script of their
// own with s.
func (h *Handler) SetDefault(s Script) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.def = s
}

// SetRecording turns the recording of requests on (the default) or off. A
// long-running server, such as a benchmark's, turns it off so its memory stays
// flat; Calls and Cancelled count either way.
func (h *Handler) SetRecording(on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recording = on
}

// Requests returns the requests received so far, in order of arrival, including
// those still being answered and those the fake rejected as malformed (whose
// Body is partial).
func (h *Handler) Requests() []Recorded {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Recorded, len(h.requests))
	for i, r := range h.requests {
		r.Header = r.Header.Clone()
		out[i] = r
	}
	return out
}

// Calls returns how many well-formed requests for model the fake has received.
func (h *Handler) Calls(model string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[model]
}

// Cancelled returns how many requests ended because the client went away (their
// context ended) before the fake had finished answering them.
func (h *Handler) Cancelled() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cancelled
}

// Close ends every request in progress, hung ones included, as if their clients
// had gone away; later requests get a 503 answer. It is safe to call more than
// once.
func (h *Handler) Close() {
	h.stop()
}

// maxBody bounds a request body; OpenAI's own limit is larger, but tests never
// need more.
const maxBody = 16 << 20

// ServeHTTP answers one chat completions request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "Invalid URL ("+r.Method+" "+r.URL.Path+")", 0)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "Method not allowed", 0)
		return
	}
	if h.closing.Err() != nil {
		writeError(w, http.StatusServiceUnavailable, "server_error", "", "openaitest: server closed", 0)
		return
	}

	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	var req Request
	if err == nil {
		err = json.Unmarshal(raw, &req)
	}
	done := make(chan struct{})
	s, id := h.start(&req, raw, r.Header, done, err == nil)
	finished := false
	defer func() {
		// The context ends when the client goes away, and anyway once ServeHTTP
		// returns: checked here, before the end of an unfinished answer, it tells
		// that the client went away.
		if !finished && r.Context().Err() != nil {
			h.mu.Lock()
			h.cancelled++
			h.mu.Unlock()
		}
		close(done)
	}()
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "We could not parse the JSON body of your request.", 0)
		finished = true
		return
	case req.Model == "":
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "you must provide a model parameter", 0)
		finished = true
		return
	case len(req.Messages) == 0:
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "[] is too short - 'messages'", 0)
		finished = true
		return
	}

	// ctx also ends when the Handler is closed.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(h.closing, cancel)()
	finished = answer(ctx, w, &req, s, id)
	if !finished && r.Context().Err() == nil && h.closing.Err() != nil {
		// Closed while answering: cut the connection rather than end the answer
		// as if it were complete.
		panic(http.ErrAbortHandler)
	}
}

// start records the request and returns its Script and completion id.
func (h *Handler) start(req *Request, raw []byte, hdr http.Header, done chan struct{}, ok bool) (Script, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.recording {
		h.requests = append(h.requests, Recorded{Body: *req, Raw: raw, Header: hdr.Clone(), Done: done})
	}
	if ok {
		h.calls[req.Model]++
	}
	h.seq++
	s, found := h.scripts[req.Model]
	if !found {
		s = h.def
	}
	return s, fmt.Sprintf("chatcmpl-tollgate%06d", h.seq)
}

// answer answers a well-formed request as s says and reports whether it wrote the
// whole answer.
func answer(ctx context.Context, w http.ResponseWriter, req *Request, s Script, id string) bool {
	if !sleep(ctx, s.FirstDelay) {
		return false
	}
	switch {
	case s.Hang:
		<-ctx.Done()
		return false
	case s.Status != 0 && s.Status != http.StatusOK:
		msg := s.ErrorMessage
		if msg == "" {
			msg = http.StatusText(s.Status)
		}
		typ := s.ErrorType
		if typ == "" {
			typ = errorType(s.Status)
		}
		writeError(w, s.Status, typ, s.ErrorCode, msg, s.RetryAfter)
		return true
	case s.Body != "":
		ct := "application/json"
		if req.Stream {
			ct = "text/event-stream"
		}
		w.Header().Set("Content-Type", ct)
		_, err := io.WriteString(w, s.Body)
		return err == nil
	}

	p := plan(req, s)
	if !req.Stream {
		if s.DropAfter > 0 {
			panic(http.ErrAbortHandler) // net/http cuts the connection, quietly
		}
		writeCompletion(w, req, id, p)
		return true
	}
	return stream(ctx, w, req, s, id, p)
}

// reply is what the fake will say.
type reply struct {
	chunks    []string
	finish    string
	usage     usageJSON
	omitUsage bool
}

func plan(req *Request, s Script) reply {
	a := reply{chunks: s.Chunks, finish: s.FinishReason, omitUsage: s.OmitUsage}
	if a.chunks == nil {
		for _, m := range slices.Backward(req.Messages) {
			if m.Role == chat.RoleUser {
				a.chunks = Words(m.Content)
				break
			}
		}
	}
	if a.finish == "" {
		a.finish = chat.FinishStop
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
	} else {
		for _, m := range req.Messages {
			a.usage.PromptTokens += Tokens(m.Content)
		}
		a.usage.CompletionTokens = len(a.chunks)
	}
	a.usage.TotalTokens = a.usage.PromptTokens + a.usage.CompletionTokens
	return a
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
		Logprobs     *struct{} `json:"logprobs"`
		FinishReason *string   `json:"finish_reason"`
	}
	deltaJSON struct {
		Role    string  `json:"role,omitempty"`
		Content *string `json:"content,omitempty"`
	}
	usageJSON struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
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
		Index        int         `json:"index"`
		Message      messageJSON `json:"message"`
		Logprobs     *struct{}   `json:"logprobs"`
		FinishReason string      `json:"finish_reason"`
	}
	messageJSON struct {
		Role    string  `json:"role"`
		Content string  `json:"content"`
		Refusal *string `json:"refusal"`
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

// stream writes a streamed answer and reports whether it wrote all of it.
func stream(ctx context.Context, w http.ResponseWriter, req *Request, s Script, id string, a reply) bool {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	sw := sse.NewWriter(w)

	c := chunkJSON{ID: id, Object: "chat.completion.chunk", Created: time.Now().Unix(), Model: req.Model}
	if req.IncludeUsage() {
		c.Usage = null
	}
	empty := ""
	c.Choices = []choiceJSON{{Delta: deltaJSON{Role: chat.RoleAssistant, Content: &empty}}}
	if sw.Data(&c) != nil {
		return false
	}
	for i := range a.chunks {
		if s.DropAfter > 0 && i >= s.DropAfter {
			panic(http.ErrAbortHandler)
		}
		if s.ErrorAfter > 0 && i >= s.ErrorAfter {
			return writeStreamError(sw, s)
		}
		if !sleep(ctx, s.Delay) {
			return false
		}
		c.Choices[0].Delta = deltaJSON{Content: &a.chunks[i]}
		if sw.Data(&c) != nil {
			return false
		}
	}
	if s.DropAfter > 0 {
		panic(http.ErrAbortHandler)
	}
	if s.ErrorAfter > 0 {
		return writeStreamError(sw, s)
	}
	c.Choices[0].Delta = deltaJSON{}
	c.Choices[0].FinishReason = &a.finish
	if sw.Data(&c) != nil {
		return false
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

func writeCompletion(w http.ResponseWriter, req *Request, id string, a reply) {
	resp := completionJSON{
		ID:      id,
		Object:  "chat.completion",
		Created: time.Now().Unix(),
		Model:   req.Model,
		Choices: []completeChoice{{
			Message:      messageJSON{Role: chat.RoleAssistant, Content: strings.Join(a.chunks, "")},
			FinishReason: a.finish,
		}},
	}
	if !a.omitUsage {
		resp.Usage = &a.usage
	}
	writeJSON(w, http.StatusOK, resp)
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string, retryAfter time.Duration) {
	if retryAfter > 0 {
		secs := (retryAfter + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	}
	body := errorBody{Message: msg, Type: typ}
	if code != "" {
		body.Code = &code
	}
	writeJSON(w, status, errorJSON{Error: body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own types always encode
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b) // a client that went away is not the fake's problem
}

// errorType returns the error.type OpenAI sends with status.
func errorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}

// sleep waits for d, or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
