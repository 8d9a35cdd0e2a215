package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/embedding"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/route"
	"github.com/tollgate/tollgate/shared/tenant"
)

// EmbeddingModel is the model a new vector store of the tenant embeds with:
// its embedding default (or the deployment's), which must serve embeddings.
// It implements knowledge.Embedder.
func (h *Handler) EmbeddingModel(cfg *tenant.Config) (model.Name, error) {
	plan, err := route.ResolveEmbedding("", cfg, h.Deployment)
	if err != nil {
		return model.Name{}, routeError(err, false)
	}
	m := plan.Models[0]
	if _, ok := h.Providers[m.Provider].(embedding.Provider); !ok {
		return model.Name{}, apierr.InvalidParam("unsupported_model", "model", fmt.Sprintf("the tenant's embedding model %s is served by no embedding provider", m))
	}
	return m, nil
}

// Embed embeds texts with m for the tenant through the meter, as POST
// /v1/embeddings does but with no fallback (a vector store's vectors must all
// come from one model): admitted before the call, settled with what the
// provider counted, recorded under meta.Route. It implements
// knowledge.Embedder.
func (h *Handler) Embed(ctx context.Context, cfg *tenant.Config, m model.Name, texts []string, inputType string, meta budget.Meta) ([][]float32, error) {
	start := h.Now()
	req := embedding.Request{Inputs: texts, InputType: inputType}
	p, err := h.embedder(m, &req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.AttemptTimeout)
	defer cancel()
	ticket, _, prices, err := h.admitEmbedding(ctx, cfg, []model.Name{m}, &req, meta, newRequestID(), http.Header{})
	if err != nil {
		return nil, err
	}
	req.Model = m.Model
	res, err := p.Embed(ctx, &req)
	if err == nil && len(res.Vectors) != len(texts) {
		err = &chat.ProviderError{Class: chat.ErrUnavailable, Message: fmt.Sprintf("%d vectors for %d inputs", len(res.Vectors), len(texts))}
	}
	if err != nil {
		ticket.Settle(ctx, budget.Charge{Model: m.String(), Attempts: 1, Outcome: "provider_error", Latency: h.Now().Sub(start)})
		return nil, failure(err, ctx.Err())
	}
	estimated := false
	if res.Estimated || res.InputTokens <= 0 {
		res.InputTokens, estimated = inputEstimate(&req), true
	}
	price, _ := prices.Lookup(m.String())
	ticket.Settle(ctx, budget.Charge{Input: int64(res.InputTokens), Model: m.String(), Estimated: estimated,
		Cost: int64(price.EmbeddingCost(int64(res.InputTokens))), Attempts: 1, Outcome: "ok", Latency: h.Now().Sub(start)})
	return res.Vectors, nil
}

// newRequestID is the id of a metered call no HTTP request carries (an
// ingestion's embeddings): its usage record's key.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
