package dynamotest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Fault is a proxy between the code under test and dynalite that does to
// chosen DynamoDB calls what a misbehaving DynamoDB does: hold the answer of a
// write that landed, stall without answering, or refuse. Its Server (whose URL
// is the proxy's) creates tables as the real one does.
type Fault struct {
	*Server
	mu   sync.Mutex
	rule func(op string, body []byte) Action
	// Held receives the operation of each call whose answer is held, once the
	// call has reached dynalite (a write has landed).
	Held   chan string
	free   chan struct{} // closed by Release: the calls held until then go on
	closed bool          // the test ended: nothing is held any more
}

// Action is what Fault does to one call.
type Action int

const (
	Pass       Action = iota // forward it
	HoldAnswer               // forward it, then hold its answer until Release
	Stall                    // forward nothing and answer nothing until Release or the caller gives up
	Refuse                   // answer 500 InternalServerError without forwarding
	Lose                     // forward it (the write lands), then answer 500 as if it had failed
)

// Faulty returns a fault proxy in front of s; every call passes until Set says
// otherwise.
func (s *Server) Faulty(tb testing.TB) *Fault {
	tb.Helper()
	target, err := url.Parse(s.URL)
	if err != nil {
		tb.Fatal(err)
	}
	f := &Fault{Held: make(chan string, 64), free: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(target)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
		f.mu.Lock()
		rule, free, closed := f.rule, f.free, f.closed
		f.mu.Unlock()
		act := Pass
		if rule != nil && !closed {
			act = rule(op, body)
		}
		switch act {
		case Refuse:
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected fault"}`)
			return
		case Lose:
			proxy.ServeHTTP(httptest.NewRecorder(), r)
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected fault after the call landed"}`)
			return
		case Stall:
			select {
			case <-free:
			case <-r.Context().Done():
				return
			}
		case HoldAnswer:
			rec := httptest.NewRecorder()
			proxy.ServeHTTP(rec, r)
			f.Held <- op
			select {
			case <-free:
			case <-r.Context().Done():
				return
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	tb.Cleanup(func() {
		f.mu.Lock()
		f.closed = true
		f.mu.Unlock()
		f.Release()
		hs.Close()
	})
	f.Server = &Server{URL: hs.URL, cmd: s.cmd, exited: s.exited, tables: s.tables}
	return f
}

// Set makes rule decide what happens to each call from now on: op is the
// operation ("UpdateItem"), body the request's JSON.
func (f *Fault) Set(rule func(op string, body []byte) Action) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rule = rule
}

// Release lets every call held or stalled so far go on; later ones are held
// again as the rule says.
func (f *Fault) Release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.free)
	f.free = make(chan struct{})
}
