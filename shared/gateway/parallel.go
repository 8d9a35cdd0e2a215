package gateway

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/shared/meter"
	"github.com/tollgate/tollgate/shared/tenant"
)

// Admission beside the first token. In the parallel order (the default), the
// admission write runs while the provider is called: the client gets nothing
// (no status, no header, no byte) until admission has succeeded, so nothing is
// served or charged unadmitted. A refusal cancels the provider call at once and
// is answered as in the serial order. What a refused request may have cost
// upstream is what the provider spent on the call until it was cancelled
// (prompt processing, and the first tokens). An admission that clamps the
// output limit cancels the call too, and the request starts over with the
// clamped limit: a provider must never be asked for more than was reserved.
// A tenant refused in the last refusedMemory (by a budget, a rate limit, or a
// store that could not meter) is admitted serially, so that a tenant over its
// budget does not make the gateway call providers for nothing.

// refusedMemory is how long a refused tenant's requests are admitted before
// their provider call.
const refusedMemory = 10 * time.Second

// pendingAdmission is an admission running beside the provider's attempts.
type pendingAdmission struct {
	done   chan struct{}
	hdr    http.Header
	clamp  int
	err    error
	ctx    context.Context // the provider attempts' context: cancelled by a refusal or a clamp
	cancel context.CancelFunc
}

// parallel reports whether cfg's request is admitted beside its provider call.
func (x *exchange) parallel(cfg *tenant.Config) bool {
	if x.h.SerialAdmission {
		return false
	}
	_, refused := x.h.refused.Get(cfg.Scope(), x.h.Now())
	return !refused
}

// startAdmission starts admitting the request; x.pending holds it until join.
func (x *exchange) startAdmission(ctx context.Context, cfg *tenant.Config) {
	p := &pendingAdmission{done: make(chan struct{}), hdr: http.Header{}}
	p.ctx, p.cancel = context.WithCancel(ctx)
	x.pending = p
	go func() {
		defer close(p.done)
		p.clamp, p.err = x.reserve(ctx, p.hdr, cfg)
		if p.err != nil || p.clamp > 0 {
			p.cancel()
		}
	}()
}

// attemptCtx is the context of the provider attempts: the pending
// admission's while it runs beside them.
func (x *exchange) attemptCtx(ctx context.Context) context.Context {
	if x.pending != nil {
		return x.pending.ctx
	}
	return ctx
}

// join waits for the pending admission (none: goOn) and applies it: its
// headers, and on a refusal the answer (goOn false). again says the attempts
// must start over, serially, with the clamped output limit: the speculative
// attempt, cancelled, must be stopped by the caller.
func (x *exchange) join(ctx context.Context, w http.ResponseWriter) (goOn, again bool) {
	p := x.pending
	if p == nil {
		return true, false
	}
	<-p.done
	x.pending = nil
	maps.Copy(w.Header(), p.hdr)
	switch {
	case errors.Is(p.err, meter.ErrClientGone):
		x.outcome = admissionEnded(ctx, w, x.r, p.err)
		return false, false
	case p.err != nil:
		// A refused tenant, or a store that cannot meter, is admitted first for
		// a while: no provider call for a request that will not be served.
		x.h.refused.Put(x.scope, struct{}{}, x.h.Now())
		x.attempts, x.failures = 0, 0 // the cancelled call is not an attempt of the answer
		x.reject(w, x.r, p.err)
		return false, false
	case p.clamp > 0:
		x.c.req.MaxTokens = p.clamp
		x.attempts, x.failures, x.model = 0, 0, x.plan.Models[0]
		return true, true
	}
	return true, false
}

// settleAfterJoin settles the request once its admission has ended: a
// reservation that landed while the request failed early is closed too.
func (x *exchange) settleAfterJoin(ctx context.Context, p *pendingAdmission) {
	<-p.done
	x.pending = nil
	p.cancel() // the attempts' context ends with the request
	x.settle(ctx)
}

// cancelledByAdmission reports whether the attempts' context was cancelled by
// the admission beside them (a refusal or a clamp), not by the client.
func (x *exchange) cancelledByAdmission(ctx context.Context) bool {
	return x.pending != nil && x.pending.ctx.Err() != nil && ctx.Err() == nil
}
