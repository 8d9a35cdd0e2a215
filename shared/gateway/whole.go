package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/tokens"
	"github.com/tollgate/tollgate/shared/web"
)

// serveWhole answers a non-streaming request: the provider's non-streaming call
// where it has one (Completer), else its stream collected. Nothing reaches the
// client before the whole answer, so every retryable failure may fall back.
func (x *exchange) serveWhole(ctx context.Context, w http.ResponseWriter) {
	var comp chat.Completion
	actx := x.attemptCtx(ctx)
	err := x.attemptAll(actx, func(m model.Name) (err error) {
		comp, err = x.completeOnce(actx, m)
		return err
	})
	if goOn, again := x.join(ctx, w); !goOn {
		return
	} else if again {
		err = x.attemptAll(ctx, func(m model.Name) (err error) {
			comp, err = x.completeOnce(ctx, m)
			return err
		})
	}
	if err == nil && len(comp.Choices) == 0 {
		err = &chat.ProviderError{Class: chat.ErrUnavailable, Message: "an answer without choices"}
	}
	if err != nil {
		x.outcome = "provider_error"
		apierr.Write(w, failure(err, ctx.Err()))
		return
	}
	x.ttft = x.h.Now().Sub(x.start)
	x.usage = comp.Usage
	x.finishes = x.finishes[:0]
	for i := range comp.Choices {
		ch := &comp.Choices[i]
		x.finishes = append(x.finishes, ch.FinishReason)
		x.outBytes += len(ch.Refusal) + tokens.PartsBytes(ch.Message.Parts)
	}
	if x.session != nil {
		x.asm = nil
		if err := x.saveTurnMessage(ctx, &comp.Choices[0].Message); err != nil {
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
	cost := x.costOf(u)
	if cost != nil {
		hd.Set(HeaderCost, cost.String())
	}
	finishes := x.finishReasons()
	if x.c.resp != nil {
		b := newOutputBuilder(x, nil)
		b.addMessage(&comp.Choices[0].Message, comp.Choices[0].Refusal)
		o := x.responseObject("completed")
		finishObject(o, finishes[0], u)
		if err := x.storeResponse(ctx, o); err != nil {
			x.outcome = "response_store_failed"
			apierr.Write(w, err)
			return
		}
		web.JSON(w, http.StatusOK, o)
		return
	}
	if x.c.native {
		nr := nativeResponse{ID: x.id, Model: x.model.String(), Message: nativeMessageFrom(&comp.Choices[0].Message),
			Usage: toNativeUsage(u), LatencyMs: latency, Attempts: x.attempts, FinishReason: finishes[0], CostUSD: cost}
		if src := x.c.req.Sources; len(src) > 0 {
			nr.Citations = nativeCitations(comp.Choices[0].Message.Text(), src)
		}
		web.JSON(w, http.StatusOK, nr)
		return
	}
	resp := openAIResponse{
		ID: x.id, Object: "chat.completion", Created: x.start.Unix(), Model: x.model.String(),
		Choices: make([]openAIChoice, len(comp.Choices)),
		Usage:   toOpenAIUsage(u),
	}
	for i := range comp.Choices {
		ch := &comp.Choices[i]
		msg := openAIMessageFrom(&ch.Message, ch.Refusal, x.c.legacyFunctions)
		if src := x.c.req.Sources; len(src) > 0 {
			msg.Annotations = annotationsOf(citations(ch.Message.Text(), src))
		}
		finish := chat.FinishStop
		if i < len(finishes) {
			finish = finishes[i]
		}
		finish = openAIFinish(finish, x.c.legacyFunctions)
		resp.Choices[i] = openAIChoice{Index: i, Message: &msg, FinishReason: &finish}
		if len(ch.Logprobs) > 0 {
			lp := json.RawMessage(ch.Logprobs)
			resp.Choices[i].Logprobs = &lp
		}
	}
	web.JSON(w, http.StatusOK, resp)
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
	var (
		asm   assembler
		usage *chat.Usage
	)
	idle := time.NewTimer(x.h.IdleTimeout)
	defer idle.Stop()
	for {
		if errors.Is(res.err, io.EOF) {
			return asm.completion(x.c.req.Choices(), usage), nil
		}
		if res.err != nil {
			return chat.Completion{}, res.err
		}
		asm.add(&res.chunk)
		if res.chunk.Usage != nil {
			usage = res.chunk.Usage
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
	list := struct {
		Object string       `json:"object"`
		Data   []modelEntry `json:"data"`
	}{Object: "list", Data: []modelEntry{}}
	for _, m := range cfg.AllowedModels(h.Deployment.Catalog) {
		list.Data = append(list.Data, modelEntry{ID: m.String(), Object: "model", OwnedBy: m.Provider})
	}
	web.JSON(w, http.StatusOK, list)
}

// modelEntry is one model in OpenAI's shape.
type modelEntry struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// serveModel answers GET /v1/models/{id} (the SDKs' models.retrieve): a model
// the calling tenant may use, or 404 model_not_found.
func (h *Handler) serveModel(w http.ResponseWriter, r *http.Request) {
	cfg, err := h.Tenants.Authenticate(r)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	id := r.PathValue("id")
	for _, m := range cfg.AllowedModels(h.Deployment.Catalog) {
		if m.String() == id {
			web.JSON(w, http.StatusOK, modelEntry{ID: id, Object: "model", OwnedBy: m.Provider})
			return
		}
	}
	apierr.Write(w, &apierr.Error{Kind: apierr.NotFound, Code: "model_not_found", Param: "model",
		Message: fmt.Sprintf("model: the model %q does not exist or this tenant may not use it", clip(id))})
}
