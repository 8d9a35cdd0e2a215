package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/web"
)

// serveWhole answers a non-streaming request: the provider's non-streaming call
// where it has one (Completer), else its stream collected. Nothing reaches the
// client before the whole answer, so every retryable failure may fall back.
func (x *exchange) serveWhole(ctx context.Context, w http.ResponseWriter) {
	var comp chat.Completion
	err := x.attemptAll(ctx, func(m model.Name) (err error) {
		comp, err = x.completeOnce(ctx, m)
		return err
	})
	if err != nil {
		x.outcome = "provider_error"
		apierr.Write(w, failure(err, ctx.Err()))
		return
	}
	x.ttft = x.h.Now().Sub(x.start)
	choice := &comp.Choices[0]
	text := choice.Message.Text()
	x.usage, x.finish, x.outBytes = comp.Usage, choice.FinishReason, len(text)
	if x.session != nil {
		x.session.answer.WriteString(text)
		if err := x.saveTurn(ctx); err != nil {
			x.outcome = "session_write_failed"
			apierr.Write(w, err)
			return
		}
	}
	x.outcome = "ok"
	u := x.finalUsage()
	latency := ms(x.h.Now().Sub(x.start))

	x.setHeaders(w)
	hd := w.Header()
	hd.Set(HeaderInputTokens, strconv.Itoa(u.InputTokens))
	hd.Set(HeaderOutputTokens, strconv.Itoa(u.OutputTokens))
	hd.Set(HeaderTotalTokens, strconv.Itoa(u.Total()))
	hd.Set(HeaderLatency, strconv.FormatFloat(latency, 'f', -1, 64))
	msg := openAIMessageOut{Role: chat.RoleAssistant, Content: text}
	finish := x.finishReason()
	if x.c.native {
		web.JSON(w, http.StatusOK, nativeResponse{ID: x.id, Model: x.model.String(), Message: msg,
			Usage: toNativeUsage(u), LatencyMs: latency, Attempts: x.attempts, FinishReason: finish})
		return
	}
	web.JSON(w, http.StatusOK, openAIResponse{
		ID: x.id, Object: "chat.completion", Created: x.start.Unix(), Model: x.model.String(),
		Choices: []openAIChoice{{Message: &msg, FinishReason: &finish}},
		Usage:   toOpenAIUsage(u),
	})
}

// completeOnce runs one attempt on m, bounded by FirstTokenTimeout until the
// answer starts (streamed providers) or AttemptTimeout (non-streaming calls).
func (x *exchange) completeOnce(ctx context.Context, m model.Name) (chat.Completion, error) {
	prov, ok := x.h.Providers[m.Provider]
	if !ok {
		return chat.Completion{}, &chat.ProviderError{Class: chat.ErrUnavailable, Message: "provider " + m.Provider + " is not configured"}
	}
	if c, ok := prov.(Completer); ok {
		actx, cancel := context.WithTimeout(ctx, x.h.AttemptTimeout)
		defer cancel()
		comp, err := c.Complete(actx, x.request(m))
		if err != nil && errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = &chat.ProviderError{Class: chat.ErrTimeout, Message: "no answer within " + x.h.AttemptTimeout.String(), Err: err}
		}
		return comp, err
	}
	p, res, err := x.try(ctx, m)
	if err != nil {
		return chat.Completion{}, err
	}
	defer p.stop()
	var b strings.Builder
	var (
		finish string
		usage  *chat.Usage
	)
	idle := time.NewTimer(x.h.IdleTimeout)
	defer idle.Stop()
	for {
		if errors.Is(res.err, io.EOF) {
			return chat.TextCompletion(b.String(), finish, usage), nil
		}
		if res.err != nil {
			return chat.Completion{}, res.err
		}
		b.WriteString(res.chunk.Text)
		if res.chunk.Usage != nil {
			usage = res.chunk.Usage
		}
		if res.chunk.FinishReason != "" {
			finish = res.chunk.FinishReason
		}
		idle.Reset(x.h.IdleTimeout)
		select {
		case r, ok := <-p.ch:
			res = r
			if !ok {
				res = result{err: ctxErr(ctx)}
			}
		case <-idle.C:
			res = result{err: &chat.ProviderError{Class: chat.ErrTimeout, Message: "the provider stalled mid-answer"}}
		}
	}
}

// serveModels lists the models the calling tenant may use, in OpenAI's shape.
func (h *Handler) serveModels(w http.ResponseWriter, r *http.Request) {
	cfg, err := h.Tenants.Authenticate(r)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	type entry struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []entry `json:"data"`
	}{Object: "list", Data: []entry{}}
	for _, m := range cfg.AllowedModels(h.Deployment.Catalog) {
		list.Data = append(list.Data, entry{ID: m.String(), Object: "model", OwnedBy: m.Provider})
	}
	web.JSON(w, http.StatusOK, list)
}
