package openaitest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

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
	// embeddings are the POST /embeddings bodies received.
	embeddings []EmbeddingRequest
	cancelled  int
	seq        int
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
	if strings.HasSuffix(r.URL.Path, "/embeddings") && r.Method == http.MethodPost {
		h.serveEmbeddings(w, r)
		return
	}
	if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		writeError(w, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", msg: "Invalid URL (" + r.Method + " " + r.URL.Path + ")"}, 0)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, typ: "invalid_request_error", msg: "Method not allowed"}, 0)
		return
	}
	if h.closing.Err() != nil {
		writeError(w, &apiError{status: http.StatusServiceUnavailable, typ: "server_error", msg: "openaitest: server closed"}, 0)
		return
	}

	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	var req Request
	if err == nil {
		err = json.Unmarshal(raw, &req)
	}
	done := make(chan struct{})
	s, seq := h.start(&req, raw, r.Header, done, err == nil)
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
	if err != nil {
		writeError(w, invalid("", "", "We could not parse the JSON body of your request."), 0)
		finished = true
		return
	}
	if e := validate(&req); e != nil {
		writeError(w, e, 0)
		finished = true
		return
	}

	// ctx also ends when the Handler is closed.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(h.closing, cancel)()
	finished = answer(ctx, w, &req, s, seq)
	if !finished && r.Context().Err() == nil && h.closing.Err() != nil {
		// Closed while answering: cut the connection rather than end the answer
		// as if it were complete.
		panic(http.ErrAbortHandler)
	}
}

// start records the request and returns its Script and sequence number.
func (h *Handler) start(req *Request, raw []byte, hdr http.Header, done chan struct{}, ok bool) (Script, int) {
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
	return s, h.seq
}

// answer answers a well-formed request as s says and reports whether it wrote the
// whole answer. seq numbers the request.
func answer(ctx context.Context, w http.ResponseWriter, req *Request, s Script, seq int) bool {
	if !sleep(ctx, s.FirstDelay) {
		return false
	}
	switch {
	case s.Hang:
		<-ctx.Done()
		return false
	case s.Status != 0 && s.Status != http.StatusOK:
		writeError(w, scriptError(s), s.RetryAfter)
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

	p, e := plan(req, s, seq)
	if e != nil {
		writeError(w, e, 0)
		return true
	}
	id := fmt.Sprintf("chatcmpl-tollgate%06d", seq)
	if !req.Stream {
		if s.DropAfter > 0 {
			panic(http.ErrAbortHandler) // net/http cuts the connection, quietly
		}
		writeCompletion(w, req, id, p)
		return true
	}
	return stream(ctx, w, req, s, id, p)
}

// scriptError is the error a Script with a Status answers.
func scriptError(s Script) *apiError {
	msg := s.ErrorMessage
	if msg == "" {
		msg = http.StatusText(s.Status)
	}
	typ := s.ErrorType
	if typ == "" {
		typ = errorType(s.Status)
	}
	return &apiError{status: s.Status, typ: typ, code: s.ErrorCode, msg: msg}
}

func writeError(w http.ResponseWriter, e *apiError, retryAfter time.Duration) {
	if retryAfter > 0 {
		secs := (retryAfter + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	}
	body := errorBody{Message: e.msg, Type: e.typ}
	if e.code != "" {
		body.Code = &e.code
	}
	if e.param != "" {
		body.Param = &e.param
	}
	writeJSON(w, e.status, errorJSON{Error: body})
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
