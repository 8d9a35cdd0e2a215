package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/sse"
)

// serveStream answers a streaming request. Status and headers wait for the first
// chunk, so a failure of every attempt still gets a real status and error body;
// after it, failures are in-band events.
func (x *exchange) serveStream(ctx context.Context, w http.ResponseWriter) {
	var (
		p   *pump
		res result
	)
	actx := x.attemptCtx(ctx)
	err := x.attemptAll(actx, func(m model.Name) (err error) {
		p, res, err = x.try(actx, m)
		return err
	})
	if goOn, again := x.join(ctx, w); !goOn || again {
		if err == nil {
			p.stop()
		}
		if !goOn {
			return
		}
		err = x.attemptAll(ctx, func(m model.Name) (err error) {
			p, res, err = x.try(ctx, m)
			return err
		})
	}
	if err != nil {
		x.outcome = "provider_error"
		apierr.Write(w, failure(err, ctx.Err()))
		return
	}
	defer p.stop()
	x.ttft = x.h.Now().Sub(x.start)

	x.setHeaders(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sw := sse.NewWriter(w)
	var out streamWriter
	switch {
	case x.c.native:
		out = &nativeStream{x: x, sw: sw}
	case x.c.resp != nil:
		out = newResponsesStream(ctx, x, sw)
	default:
		out = newOpenAIStream(x, sw)
	}
	if out.start() != nil {
		x.outcome = "client_gone"
		return
	}

	idle := time.NewTimer(x.h.IdleTimeout)
	defer idle.Stop()
	keep := time.NewTicker(x.h.KeepAlive)
	defer keep.Stop()
	for {
		switch {
		case errors.Is(res.err, io.EOF):
			if err := x.saveTurn(ctx); err != nil {
				x.outcome = "session_write_failed"
				_ = out.fail(x.finalUsage(), err)
				return
			}
			x.outcome = "ok"
			_ = out.end(x.finishReasons(), x.finalUsage())
			return
		case res.err != nil && errors.Is(ctx.Err(), context.Canceled):
			// The client went away (the local server's request context; Lambda does
			// not signal disconnects): not a provider failure, and nobody to tell.
			x.outcome = "client_gone"
			return
		case res.err != nil:
			x.outcome = "failed_mid_stream"
			x.failures++
			x.h.Log.WarnContext(ctx, "stream failed", "requestId", x.reqID, "model", x.model.String(),
				"reason", chat.ClassOf(res.err).String(), "err", chat.LogValue(res.err))
			_ = out.fail(x.finalUsage(), failure(res.err, ctx.Err()))
			return
		}
		c := &res.chunk
		if c.Usage != nil {
			u := *c.Usage
			x.usage = &u
		}
		x.observe(c)
		if out.delta(c) != nil {
			x.outcome = "client_gone" // the deferred stop cancels the provider call
			return
		}
		x.checkpoint(ctx)
		res = x.next(ctx, p, idle, keep, out)
	}
}

// next waits for the provider's next result, sending keep-alives while it is
// silent, and turns a stall past IdleTimeout into a timeout error.
func (x *exchange) next(ctx context.Context, p *pump, idle *time.Timer, keep *time.Ticker, out streamWriter) result {
	idle.Reset(x.h.IdleTimeout)
	for {
		select {
		case r, ok := <-p.ch:
			if !ok {
				return result{err: ctxErr(ctx)}
			}
			return r
		case <-keep.C:
			if err := out.keepAlive(); err != nil {
				return result{err: err}
			}
		case <-idle.C:
			return result{err: &chat.ProviderError{Class: chat.ErrTimeout, Message: "the provider stalled mid-answer"}}
		case <-ctx.Done():
			return result{err: ctxErr(ctx)}
		}
	}
}

func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return &chat.ProviderError{Class: chat.ErrUnavailable, Message: "the provider stream ended"}
}
