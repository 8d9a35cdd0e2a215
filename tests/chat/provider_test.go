package chat_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/chat"
)

// heldModels is a provider that routes each model to a heldProvider of its own,
// so one gateway can hold several independent streams. It is filled before the
// gateway serves and only read afterwards.
type heldModels map[string]*heldProvider

func (m heldModels) Stream(ctx context.Context, req *chat.Request) (chat.Stream, error) {
	p, ok := m[req.Model]
	if !ok {
		return nil, &chat.ProviderError{Class: chat.ErrNotFound, Status: 404, Message: "no held model " + req.Model}
	}
	return p.Stream(ctx, req)
}

// catalog returns the MODELS value naming every held model under provider.
func (m heldModels) catalog(provider string) string {
	var names []string
	for name := range m {
		names = append(names, provider+"/"+name)
	}
	return strings.Join(names, ",")
}

// install makes m the echo provider of the App.
func (m heldModels) install(a *app.App) { a.Providers["echo"] = m }

// heldProvider is a gateway.Provider the test steers, to prove ordering without
// timing: it streams Chunks, but before chunk i it waits until Hold[i], when set,
// is closed. With Stall it then stays silent until its context ends, instead of
// finishing. It records what it produced, and closes Ended when a stream's
// context ends.
type heldProvider struct {
	Chunks []string
	Hold   map[int]chan struct{}
	Stall  bool
	Usage  chat.Usage

	mu       sync.Mutex
	produced []int         // indexes of the chunks handed to the gateway, in order
	Ended    chan struct{} // closed when the context of a stream ended
	endOnce  sync.Once
}

func newHeld(chunks ...string) *heldProvider {
	return &heldProvider{Chunks: chunks, Hold: map[int]chan struct{}{}, Ended: make(chan struct{}),
		Usage: chat.Usage{InputTokens: 7, OutputTokens: len(chunks)}}
}

// hold makes chunk i wait for the returned channel to be closed.
func (p *heldProvider) hold(i int) chan struct{} {
	ch := make(chan struct{})
	p.Hold[i] = ch
	return ch
}

// Produced returns the indexes of the chunks produced so far.
func (p *heldProvider) Produced() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.produced...)
}

func (p *heldProvider) Stream(ctx context.Context, _ *chat.Request) (chat.Stream, error) {
	context.AfterFunc(ctx, func() { p.endOnce.Do(func() { close(p.Ended) }) })
	return &heldStream{p: p}, nil
}

type heldStream struct {
	p    *heldProvider
	i    int
	done bool
}

func (s *heldStream) Next(ctx context.Context) (chat.Chunk, error) {
	p := s.p
	if s.i < len(p.Chunks) {
		if h := p.Hold[s.i]; h != nil {
			select {
			case <-h:
			case <-ctx.Done():
				return chat.Chunk{}, ctx.Err()
			}
		}
		p.mu.Lock()
		p.produced = append(p.produced, s.i)
		p.mu.Unlock()
		s.i++
		return chat.Chunk{Text: p.Chunks[s.i-1]}, nil
	}
	if p.Stall {
		<-ctx.Done()
		return chat.Chunk{}, ctx.Err()
	}
	if s.done {
		return chat.Chunk{}, io.EOF
	}
	s.done = true
	u := p.Usage
	return chat.Chunk{FinishReason: chat.FinishStop, Usage: &u}, nil
}

func (s *heldStream) Close() error { return nil }

// heldGateway starts a gateway whose echo provider is models, and whose catalog
// is exactly the held models (and the openai and bedrock models of catalog).
func heldGateway(t *testing.T, env map[string]string, models heldModels) *gw {
	t.Helper()
	var first string
	for name := range models {
		if first == "" || name < first {
			first = name
		}
	}
	vars := map[string]string{
		"MODELS":        models.catalog("echo") + "," + strings.TrimPrefix(catalog, "echo/echo-1,"),
		"DEFAULT_MODEL": "echo/" + first,
	}
	for k, v := range env {
		vars[k] = v
	}
	return newGateway(t, vars, models.install)
}
