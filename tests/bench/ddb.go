package bench

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/gateway"
	"github.com/tollgate/tollgate/shared/web"
)

// Recorder attributes what happens during a chat request to that request, by its
// request id (web.Info, which the gateway's contexts carry down to the AWS SDK):
// every DynamoDB round trip, counted by an SDK middleware; the moment the gateway
// hands the request to its provider; and the moment the first response byte goes
// out. Events are ordered by one sequence counter, so "before" and "after" are
// exact, whatever the clock's resolution. It is safe for concurrent use.
type Recorder struct {
	seq atomic.Int64
	mu  sync.Mutex
	tr  map[string]*Trace
}

// Trace is what one request did.
type Trace struct {
	Calls     []Call
	Provider  int64 // sequence number of the (first) provider call; 0 when none
	FirstByte int64 // sequence number of the first response byte; 0 when none
}

// Call is one DynamoDB round trip (one HTTP attempt: retries count separately).
type Call struct {
	Op         string
	Start, End int64 // sequence numbers
	Took       time.Duration
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{tr: map[string]*Trace{}} }

func (r *Recorder) trace(id string) *Trace {
	t := r.tr[id]
	if t == nil {
		t = &Trace{}
		r.tr[id] = t
	}
	return t
}

// Take returns the traces recorded so far, by request id, and forgets them.
// Calls made outside any request (set-up) are under "".
func (r *Recorder) Take() map[string]*Trace {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.tr
	r.tr = map[string]*Trace{}
	return out
}

// APIOption adds the counting middleware to an SDK client's stack; put it in
// aws.Config.APIOptions (or dynamodb.Options.APIOptions). It sits at the end of
// the finalize step, after the retry middleware, so it sees every attempt.
func (r *Recorder) APIOption(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("tollbench.count",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			start, t0 := r.seq.Add(1), time.Now()
			out, md, err := next.HandleFinalize(ctx, in)
			c := Call{Op: awsmiddleware.GetOperationName(ctx), Start: start, End: r.seq.Add(1), Took: time.Since(t0)}
			id := web.InfoFrom(ctx).RequestID
			r.mu.Lock()
			t := r.trace(id)
			t.Calls = append(t.Calls, c)
			r.mu.Unlock()
			return out, md, err
		}), middleware.After)
}

func (r *Recorder) providerCalled(ctx context.Context) {
	s := r.seq.Add(1)
	id := web.InfoFrom(ctx).RequestID
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.trace(id); t.Provider == 0 {
		t.Provider = s
	}
}

// WrapProvider returns p with its calls recorded. The result implements
// gateway.Completer when p does.
func (r *Recorder) WrapProvider(p gateway.Provider) gateway.Provider {
	if c, ok := p.(gateway.Completer); ok {
		return &recordedCompleter{recordedProvider{p, r}, c}
	}
	return &recordedProvider{p, r}
}

type recordedProvider struct {
	p gateway.Provider
	r *Recorder
}

func (p *recordedProvider) Stream(ctx context.Context, req *chat.Request) (chat.Stream, error) {
	p.r.providerCalled(ctx)
	return p.p.Stream(ctx, req)
}

type recordedCompleter struct {
	recordedProvider
	c gateway.Completer
}

func (p *recordedCompleter) Complete(ctx context.Context, req *chat.Request) (chat.Completion, error) {
	p.r.providerCalled(ctx)
	return p.c.Complete(ctx, req)
}

// WrapHandler returns h with the first response byte of every request recorded.
// h must set the x-request-id header before writing (web.Wrap does).
func (r *Recorder) WrapHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.ServeHTTP(&firstByte{ResponseWriter: w, r: r}, req)
	})
}

type firstByte struct {
	http.ResponseWriter
	r    *Recorder
	done bool
}

func (f *firstByte) mark() {
	if f.done {
		return
	}
	f.done = true
	s := f.r.seq.Add(1)
	id := f.Header().Get(web.HeaderRequestID)
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	f.r.trace(id).FirstByte = s
}

func (f *firstByte) WriteHeader(code int) {
	f.mark()
	f.ResponseWriter.WriteHeader(code)
}

func (f *firstByte) Write(p []byte) (int, error) {
	f.mark()
	return f.ResponseWriter.Write(p)
}

func (f *firstByte) Flush() {
	f.mark()
	_ = http.NewResponseController(f.ResponseWriter).Flush()
}

func (f *firstByte) Unwrap() http.ResponseWriter { return f.ResponseWriter }

// Phases counts a trace's DynamoDB round trips by when they ended.
type Phases struct {
	BeforeProvider  int // ended before the gateway called the provider
	BeforeFirstByte int // ended before the first response byte (includes BeforeProvider)
	Total           int
	Ops             map[string]int // by operation name, all phases
	OpsBefore       map[string]int // by operation name, before the first byte
}

// Phases classifies t's calls.
func (t *Trace) Phases() Phases {
	p := Phases{Ops: map[string]int{}, OpsBefore: map[string]int{}}
	for _, c := range t.Calls {
		p.Total++
		p.Ops[c.Op]++
		if t.Provider != 0 && c.End < t.Provider {
			p.BeforeProvider++
		}
		if t.FirstByte != 0 && c.End < t.FirstByte {
			p.BeforeFirstByte++
			p.OpsBefore[c.Op]++
		}
	}
	return p
}
