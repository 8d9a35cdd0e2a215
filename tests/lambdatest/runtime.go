package lambdatest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// StreamingContentType is the Content-Type with which the runtime posts a
// streamed HTTP response: a JSON prelude, 8 NUL bytes, then the body.
const StreamingContentType = "application/vnd.awslambda.http-integration-response"

// Headers of the Runtime API (docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
const (
	headerRequestID   = "Lambda-Runtime-Aws-Request-Id"
	headerDeadline    = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID     = "Lambda-Runtime-Trace-Id"

	// TrailerErrorType and TrailerErrorBody end a streamed response that failed;
	// the body is base64 of {"errorMessage","errorType"}.
	TrailerErrorType = "Lambda-Runtime-Function-Error-Type"
	TrailerErrorBody = "Lambda-Runtime-Function-Error-Body"
)

// FunctionARN is the ARN the fake Runtime API reports as invoked.
const FunctionARN = "arn:aws:lambda:us-east-1:123456789012:function:function"

// defaultDeadline is an invocation's deadline when Invoke's ctx has none.
const defaultDeadline = 5 * time.Minute

// preludeEnd separates the prelude from the body of a streamed response.
var preludeEnd = make([]byte, 8)

// Runtime is a function process connected to a fake Lambda Runtime API served by
// the test. Unlike the emulator, it shows a streamed response as Lambda receives
// it, chunk by chunk, with its trailers.
type Runtime struct {
	// API is the fake Runtime API's host:port, the function's AWS_LAMBDA_RUNTIME_API.
	API string

	srv     *httptest.Server
	out     *output
	queue   chan *invocation // waiting for GET .../next
	closing chan struct{}    // closed when the test ends
	exited  chan struct{}    // closed when the process has exited
	waitErr error            // the process's exit status, set before exited is closed
	seq     atomic.Int64

	mu      sync.Mutex
	handed  map[string]*invocation // handed out by next, by request id
	initErr *FunctionError         // from POST /runtime/init/error
}

// invocation is one event on its way through the fake.
type invocation struct {
	id       string
	event    []byte
	deadline time.Time
	resp     *StreamedResponse
	started  chan struct{} // closed once resp's prelude is in, or err is set
	err      error
}

// StartRuntime serves a fake Lambda Runtime API on a loopback port and starts
// bootstrap with AWS_LAMBDA_RUNTIME_API pointing at it, in the package's base
// environment overridden by env. The process and the server stop when the test
// ends; if the test failed, the process's output is logged.
//
// bootstrap may be a binary from Build, or the test binary itself
// (os.Executable) with a TestMain that calls lambda.Start when an environment
// variable from env is set:
//
//	func TestMain(m *testing.M) {
//		if os.Getenv("CHILD") == "1" {
//			lambda.Start(lambdahttp.Stream(handler()))
//		}
//		os.Exit(m.Run())
//	}
func StartRuntime(tb testing.TB, bootstrap string, env map[string]string) *Runtime {
	tb.Helper()
	requireLinux(tb)
	r := &Runtime{
		out:     &output{},
		queue:   make(chan *invocation),
		closing: make(chan struct{}),
		exited:  make(chan struct{}),
		handed:  map[string]*invocation{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", r.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", r.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", r.invocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", r.initError)
	r.srv = httptest.NewServer(mux)
	r.API = strings.TrimPrefix(r.srv.URL, "http://")

	bootstrap, err := filepath.Abs(bootstrap)
	if err != nil {
		r.srv.Close()
		tb.Fatalf("lambdatest: %v", err)
	}
	cmd := exec.Command(bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = append(baseEnv(env), "AWS_LAMBDA_RUNTIME_API="+r.API)
	cmd.Stdout, cmd.Stderr = r.out, r.out
	if err := cmd.Start(); err != nil {
		r.srv.Close()
		tb.Fatalf("lambdatest: start %s: %v", bootstrap, err)
	}
	go func() {
		r.waitErr = cmd.Wait()
		close(r.exited)
	}()
	tb.Cleanup(func() {
		close(r.closing)
		_ = cmd.Process.Kill() // as Lambda ends a sandbox without extensions
		<-r.exited
		r.srv.Close()
		out := r.out.String()
		if strings.Contains(out, "WARNING: DATA RACE") {
			tb.Errorf("lambdatest: the function process reported a data race:\n%s", out)
		} else if tb.Failed() {
			tb.Logf("function output:\n%s", out)
		}
	})
	return r
}

// Output returns what the function process has written so far.
func (r *Runtime) Output() string { return r.out.String() }

// Invoke hands event to the function at its next GET .../invocation/next and
// returns once the response has begun: for a streamed response, once its prelude
// has arrived. The body and trailers then arrive through the StreamedResponse.
// If the function reports an error instead (POST .../error), Invoke returns it as
// a *FunctionError. The invocation's deadline is ctx's, or five minutes from now.
//
// Invocations may follow each other on one process, as on a warm sandbox; they
// overlap only if the function runs several loops (AWS_LAMBDA_MAX_CONCURRENCY in
// env).
func (r *Runtime) Invoke(ctx context.Context, event []byte) (*StreamedResponse, error) {
	n := r.seq.Add(1)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultDeadline)
	}
	inv := &invocation{
		id:       fmt.Sprintf("req-%d", n),
		event:    event,
		deadline: deadline,
		started:  make(chan struct{}),
	}
	inv.resp = newStreamedResponse(inv.id)
	select {
	case r.queue <- inv:
	case <-ctx.Done():
		return nil, fmt.Errorf("lambdatest: invoke %s: function did not ask for it: %w", inv.id, context.Cause(ctx))
	case <-r.exited:
		return nil, r.exitError()
	}
	select {
	case <-inv.started:
	case <-ctx.Done():
		return nil, fmt.Errorf("lambdatest: invoke %s: no response: %w", inv.id, context.Cause(ctx))
	case <-r.exited:
		select {
		case <-inv.started: // the function may report an error, then exit
		default:
			return nil, r.exitError()
		}
	}
	if inv.err != nil {
		return nil, inv.err
	}
	return inv.resp, nil
}

func (r *Runtime) exitError() error {
	r.mu.Lock()
	initErr := r.initErr
	r.mu.Unlock()
	if initErr != nil {
		return fmt.Errorf("%w (%v) after an init error: %w", ErrExited, r.waitErr, initErr)
	}
	return fmt.Errorf("%w (%v); output:\n%s", ErrExited, r.waitErr, r.out.String())
}

// next serves GET /runtime/invocation/next: it blocks until Invoke has an event.
func (r *Runtime) next(w http.ResponseWriter, req *http.Request) {
	var inv *invocation
	select {
	case inv = <-r.queue:
	case <-req.Context().Done():
		return
	case <-r.closing:
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	r.mu.Lock()
	r.handed[inv.id] = inv
	r.mu.Unlock()
	n, _ := strconv.ParseInt(strings.TrimPrefix(inv.id, "req-"), 10, 64)
	h := w.Header()
	h.Set(headerRequestID, inv.id)
	h.Set(headerDeadline, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set(headerFunctionARN, FunctionARN)
	h.Set(headerTraceID, fmt.Sprintf("Root=1-%08x-%024x;Parent=%016x;Sampled=0", time.Now().Unix(), n, n))
	h.Set("Content-Type", "application/json")
	_, _ = w.Write(inv.event)
}

// take removes the invocation with the request's {id} from the handed-out set.
func (r *Runtime) take(w http.ResponseWriter, req *http.Request) *invocation {
	id := req.PathValue("id")
	r.mu.Lock()
	inv := r.handed[id]
	delete(r.handed, id)
	r.mu.Unlock()
	if inv == nil {
		http.Error(w, "unknown or answered request id "+id, http.StatusBadRequest)
	}
	return inv
}

// response serves POST /runtime/invocation/{id}/response, reading the body as
// it arrives.
func (r *Runtime) response(w http.ResponseWriter, req *http.Request) {
	inv := r.take(w, req)
	if inv == nil {
		return
	}
	s := inv.resp
	s.ContentType = req.Header.Get("Content-Type")
	s.Header = req.Header.Clone()
	streaming := s.ContentType == StreamingContentType
	if !streaming {
		close(inv.started) // a buffered response: everything is body
	}
	inPrelude := streaming
	var prelude []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := req.Body.Read(buf)
		at := time.Now()
		data := bytes.Clone(buf[:n])
		if inPrelude && n > 0 {
			prelude, data = append(prelude, data...), nil
			if i := bytes.Index(prelude, preludeEnd); i >= 0 {
				inPrelude = false
				end := i + len(preludeEnd)
				s.PreludeBytes, data = prelude[:end], prelude[end:]
				if err := json.Unmarshal(prelude[:i], &s.Prelude); err != nil {
					inv.err = fmt.Errorf("lambdatest: %s: bad prelude %q: %w", inv.id, s.PreludeBytes, err)
				}
				close(inv.started)
			}
		}
		if len(data) > 0 {
			s.push(Chunk{Data: data, At: at})
		}
		if err == nil {
			continue
		}
		if err != io.EOF {
			err = fmt.Errorf("lambdatest: %s: read response body: %w", inv.id, err)
		}
		if inPrelude {
			inv.err = fmt.Errorf("lambdatest: %s: streamed response without a complete prelude %q: %w", inv.id, prelude, err)
			close(inv.started)
		}
		if err != io.EOF {
			s.finish(nil, err)
			return
		}
		s.finish(req.Trailer.Clone(), nil)
		w.WriteHeader(http.StatusAccepted)
		return
	}
}

// invocationError serves POST /runtime/invocation/{id}/error.
func (r *Runtime) invocationError(w http.ResponseWriter, req *http.Request) {
	inv := r.take(w, req)
	if inv == nil {
		return
	}
	fe := readFunctionError(req.Body)
	inv.err = fe
	inv.resp.finish(nil, fe)
	close(inv.started)
	w.WriteHeader(http.StatusAccepted)
}

// initError serves POST /runtime/init/error.
func (r *Runtime) initError(w http.ResponseWriter, req *http.Request) {
	fe := readFunctionError(req.Body)
	r.mu.Lock()
	r.initErr = fe
	r.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func readFunctionError(body io.Reader) *FunctionError {
	b, err := io.ReadAll(body)
	fe := &FunctionError{}
	if err != nil || json.Unmarshal(b, fe) != nil || fe.Type == "" {
		fe.Type, fe.Message = "lambdatest.BadErrorPayload", fmt.Sprintf("%q (%v)", b, err)
	}
	return fe
}

// StreamedResponse is a response as the Runtime API receives it. Its exported
// fields are set once Invoke returns it; the body and trailers arrive over time.
type StreamedResponse struct {
	RequestID   string      // the invocation's Lambda-Runtime-Aws-Request-Id
	ContentType string      // of the POST; StreamingContentType when streamed
	Header      http.Header // the POST's headers
	// PreludeBytes is the prelude as received: JSON followed by 8 NUL bytes.
	// Empty when the response is not streamed.
	PreludeBytes []byte
	Prelude      Prelude // PreludeBytes decoded

	mu      sync.Mutex
	chunks  []Chunk
	read    int           // chunks returned by Next
	changed chan struct{} // closed and replaced when chunks or done change
	done    bool
	trailer http.Header
	err     error // why the body ended early, or the function's error
}

// Prelude is the JSON head of a streamed HTTP response: the union of
// events.APIGatewayProxyStreamingResponse's and
// events.LambdaFunctionURLStreamingResponse's.
type Prelude struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers,omitempty"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders,omitempty"`
	Cookies           []string            `json:"cookies,omitempty"`
}

// Chunk is the data of one read of the response body.
type Chunk struct {
	Data []byte
	At   time.Time // when the fake Runtime API read it
}

func newStreamedResponse(id string) *StreamedResponse {
	return &StreamedResponse{RequestID: id, changed: make(chan struct{})}
}

func (s *StreamedResponse) push(c Chunk) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chunks = append(s.chunks, c)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *StreamedResponse) finish(trailer http.Header, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.done, s.trailer, s.err = true, trailer, err
	if err == nil {
		s.err = trailerError(trailer)
	}
	close(s.changed)
}

// trailerError decodes the error trailers; nil when they report no error.
func trailerError(t http.Header) error {
	typ := t.Get(TrailerErrorType)
	if typ == "" {
		return nil
	}
	fe := &FunctionError{Type: typ}
	b, err := base64.StdEncoding.DecodeString(t.Get(TrailerErrorBody))
	if err != nil || json.Unmarshal(b, fe) != nil {
		fe.Message = fmt.Sprintf("undecodable %s %q", TrailerErrorBody, t.Get(TrailerErrorBody))
	}
	return fe
}

// Next returns the next chunk of the body as it arrives, or io.EOF once the
// body has ended: the end of the stream, a *FunctionError from the trailers, or
// an error reading it, are then reported by Wait.
func (s *StreamedResponse) Next(ctx context.Context) (Chunk, error) {
	for {
		s.mu.Lock()
		if s.read < len(s.chunks) {
			c := s.chunks[s.read]
			s.read++
			s.mu.Unlock()
			return c, nil
		}
		done, changed := s.done, s.changed
		s.mu.Unlock()
		if done {
			return Chunk{}, io.EOF
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Chunk{}, fmt.Errorf("lambdatest: %s: waiting for a chunk: %w", s.RequestID, context.Cause(ctx))
		}
	}
}

// Wait waits until the body has ended. It returns a *FunctionError if the
// trailers report one, another error if the body broke off, and nil if the
// function streamed its response to the end.
func (s *StreamedResponse) Wait(ctx context.Context) error {
	for {
		s.mu.Lock()
		done, changed, err := s.done, s.changed, s.err
		s.mu.Unlock()
		if done {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("lambdatest: %s: waiting for the end of the body: %w", s.RequestID, context.Cause(ctx))
		}
	}
}

// Body waits until the body has ended and returns all of it, including chunks
// already returned by Next, with Wait's error.
func (s *StreamedResponse) Body(ctx context.Context) ([]byte, error) {
	err := s.Wait(ctx)
	var b []byte
	for _, c := range s.Chunks() {
		b = append(b, c.Data...)
	}
	return b, err
}

// Chunks returns the chunks received so far, in order of arrival.
func (s *StreamedResponse) Chunks() []Chunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Chunk(nil), s.chunks...)
}

// Trailer returns the trailers of the response POST once the body has ended
// (nil before): Lambda-Runtime-Function-Error-Type and -Body, empty on success.
func (s *StreamedResponse) Trailer() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trailer
}
