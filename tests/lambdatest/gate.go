package lambdatest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Gate is a loopback HTTP endpoint where a function under test waits until the
// test lets it proceed. It proves incremental delivery without timing: a handler
// that writes a chunk, then GETs Step(n), cannot write the next chunk before the
// test, having received the first, calls Open(n).
//
//	gate := lambdatest.NewGate(t)
//	// the handler: write chunk 1; http.Get(gate.Step("2")); write chunk 2
//	c, _ := resp.Next(ctx) // chunk 1, while chunk 2 is not yet written
//	gate.Open("2")
type Gate struct {
	// URL is the gate's base URL; Step(name) is URL + "/" + name.
	URL string

	srv   *httptest.Server
	mu    sync.Mutex
	steps map[string]chan struct{}
}

// NewGate starts a gate that closes when the test ends, releasing every waiter.
func NewGate(tb testing.TB) *Gate {
	tb.Helper()
	g := &Gate{steps: map[string]chan struct{}{}}
	closing := make(chan struct{})
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-g.step(r.URL.Path[1:]):
			w.WriteHeader(http.StatusNoContent)
		case <-closing:
			http.Error(w, "gate closed", http.StatusServiceUnavailable)
		case <-r.Context().Done():
		}
	}))
	g.URL = g.srv.URL
	tb.Cleanup(func() {
		close(closing)
		g.srv.Close()
	})
	return g
}

// Step returns the URL on which a GET waits until Open(name).
func (g *Gate) Step(name string) string { return g.URL + "/" + name }

// Open lets GETs of Step(name), present and future, return 204 No Content.
func (g *Gate) Open(name string) {
	ch := g.step(name)
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (g *Gate) step(name string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch, ok := g.steps[name]
	if !ok {
		ch = make(chan struct{})
		g.steps[name] = ch
	}
	return ch
}
