package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/embedding"
	"github.com/tollgate/tollgate/shared/meter"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/money"
	"github.com/tollgate/tollgate/shared/route"
	"github.com/tollgate/tollgate/shared/telemetry"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/tokens"
	"github.com/tollgate/tollgate/shared/web"
)

// embedder returns m's embedding provider, after it checked req (with m's
// model): a 400 when it cannot take it.
func (h *Handler) embedder(m model.Name, req *embedding.Request) (embedding.Provider, error) {
	p, ok := h.Providers[m.Provider].(embedding.Provider)
	if !ok {
		return nil, apierr.InvalidParam("unsupported_model", "model", fmt.Sprintf("model: the %s provider serves no embeddings", m.Provider))
	}
	if ck, ok := p.(embeddingChecker); ok {
		check := *req
		check.Model = m.Model
		if is := ck.CheckEmbedding(&check); len(is) > 0 {
			return nil, invalid("invalid_value", is[0].Param, "%s: %s (model %s)", is[0].Param, is[0].Message, m.String())
		}
	}
	return p, nil
}

// embeddingChecker is implemented by embedding providers that cannot take
// every request (Bedrock): CheckEmbedding reports why, before any call.
type embeddingChecker interface {
	CheckEmbedding(req *embedding.Request) []chat.Issue
}

// maxEmbeddingInputs is OpenAI's limit of inputs per request.
const maxEmbeddingInputs = 2048

// embeddingsRequest is the body of POST /v1/embeddings.
type embeddingsRequest struct {
	Input          json.RawMessage `json:"input"`
	Model          string          `json:"model"`
	EncodingFormat *string         `json:"encoding_format"`
	Dimensions     *int64          `json:"dimensions"`
	User           string          `json:"user"`
	// InputType is Tollgate's (and LiteLLM's) extension for models that embed
	// documents and queries differently (Cohere on Bedrock).
	InputType string `json:"input_type"`
}

// embeddingsCall is a decoded embeddings request.
type embeddingsCall struct {
	model  string
	base64 bool
	req    embedding.Request
}

// decodeEmbeddings parses and validates a POST /v1/embeddings body: input is a
// string, an array of strings, an array of tokens or an array of token arrays,
// of 1 to 2048 inputs, none empty.
func decodeEmbeddings(body []byte) (*embeddingsCall, error) {
	var in embeddingsRequest
	if err := strictDecode(body, &in); err != nil {
		return nil, err
	}
	c := &embeddingsCall{model: in.Model, req: embedding.Request{User: in.User, InputType: in.InputType}}
	if in.InputType != "" && !slices.Contains(embedding.InputTypes, in.InputType) {
		return nil, invalid("invalid_value", "input_type", "input_type must be search_document, search_query, classification or clustering")
	}
	if in.EncodingFormat != nil {
		switch *in.EncodingFormat {
		case "float":
		case "base64":
			c.base64 = true
		default:
			return nil, invalid("invalid_value", "encoding_format", "encoding_format must be float or base64, not %q", clip(*in.EncodingFormat))
		}
	}
	if in.Dimensions != nil {
		if *in.Dimensions < 1 || *in.Dimensions > 1<<16 {
			return nil, invalid("invalid_value", "dimensions", "dimensions must be a positive integer")
		}
		c.req.Dimensions = int(*in.Dimensions)
	}
	if err := decodeInput(in.Input, &c.req); err != nil {
		return nil, err
	}
	return c, nil
}

func decodeInput(raw json.RawMessage, r *embedding.Request) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return invalid("missing_required_parameter", "input", "input is required: a string or an array of strings")
	}
	var one string
	var many []string
	var toks []int
	var arrays [][]int
	switch {
	case json.Unmarshal(raw, &one) == nil:
		r.Inputs = []string{one}
	case json.Unmarshal(raw, &many) == nil:
		r.Inputs = many
	case json.Unmarshal(raw, &toks) == nil:
		r.Tokens = [][]int{toks}
	case json.Unmarshal(raw, &arrays) == nil:
		r.Tokens = arrays
	default:
		return invalid("invalid_type", "input", "input must be a string, an array of strings, an array of tokens or an array of token arrays")
	}
	switch n := r.Len(); {
	case n == 0:
		return invalid("invalid_value", "input", "input must not be empty")
	case n > maxEmbeddingInputs:
		return invalid("invalid_value", "input", "input holds %d inputs; at most %d are allowed", n, maxEmbeddingInputs)
	}
	for i, s := range r.Inputs {
		if s == "" {
			return invalid("invalid_value", fmt.Sprintf("input[%d]", i), "input[%d] is empty", i)
		}
	}
	for i, t := range r.Tokens {
		if len(t) == 0 {
			return invalid("invalid_value", fmt.Sprintf("input[%d]", i), "input[%d] is an empty token array", i)
		}
		for _, v := range t {
			if v < 0 {
				return invalid("invalid_value", fmt.Sprintf("input[%d]", i), "input[%d] holds a negative token", i)
			}
		}
	}
	return nil
}

// inputBound bounds the request's input tokens from above: a text by its
// bytes (tokens.Bound), or its exact count with c, a token array by its length.
func inputBound(r *embedding.Request, c *tokens.Counter) int64 {
	var bytes int
	for _, s := range r.Inputs {
		bytes += len(s)
	}
	if bytes > tokens.MaxExactBytes {
		c = nil
	}
	var n int64
	for _, s := range r.Inputs {
		n += int64(c.Count(s))
	}
	for _, t := range r.Tokens {
		n += int64(len(t))
	}
	return n
}

// inputEstimate estimates the input tokens when the provider counts none.
func inputEstimate(r *embedding.Request) int {
	n := 0
	for _, s := range r.Inputs {
		n += tokens.Estimate(s)
	}
	for _, t := range r.Tokens {
		n += len(t)
	}
	return n
}

type embeddingsResponse struct {
	Object string          `json:"object"`
	Data   []embeddingItem `json:"data"`
	Model  string          `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

type embeddingItem struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32, or a base64 string
}

// serveEmbeddings serves POST /v1/embeddings: authenticate, decode, resolve
// the embedding model, admit the input bound through the meter, call the
// provider once, settle what it counted, answer OpenAI's list of embeddings.
func (h *Handler) serveEmbeddings(w http.ResponseWriter, r *http.Request) {
	info := web.InfoFrom(r.Context())
	start := h.Now()
	var (
		tenantID, outcome = "", "rejected"
		modelName         string
		usage             = -1
		estimated         bool
		attemptsMade      int
		refusal           meter.Refusal
		ticket            *meter.Ticket
		err               error
	)
	defer func() {
		attrs := []slog.Attr{slog.String("api", "embeddings"), slog.String("outcome", outcome)}
		if modelName != "" {
			attrs = append(attrs, slog.String("model", modelName))
		}
		if usage >= 0 {
			attrs = append(attrs, slog.Int("inputTokens", usage), slog.Bool("usageEstimated", estimated))
		}
		if n := ticket.Reserved(); n > 0 {
			attrs = append(attrs, slog.Int64("reservedTokens", n))
		}
		info.AddAttrs(attrs...)
		if h.Metrics != nil && tenantID != "" {
			rec := telemetry.Request{Time: start, TenantID: tenantID, Model: "none", Latency: h.Now().Sub(start),
				BudgetRefused: refusal == meter.BudgetRefused, RateLimited: refusal == meter.RateLimited,
				RequestID: info.RequestID, TraceID: info.TraceID}
			if modelName != "" {
				rec.Model, rec.Attempts, rec.Fallbacks = modelName, max(attemptsMade, 1), max(attemptsMade-1, 0)
			}
			if usage > 0 {
				rec.InputTokens = usage
			}
			if outcome == "provider_error" {
				rec.ProviderErrors = 1
			}
			if err := h.Metrics.Emit(rec); err != nil {
				h.Log.WarnContext(r.Context(), "emit metrics", "err", err)
			}
		}
	}()
	reject := func(err error) { h.refuse(w, r, "embeddings request", err) }

	cfg, err := h.Tenants.Authenticate(r)
	if err != nil {
		reject(err)
		return
	}
	tenantID = cfg.ID
	body, err := web.ReadBody(r, h.MaxRequestBytes)
	if err != nil {
		reject(err)
		return
	}
	c, err := decodeEmbeddings(body)
	if err != nil {
		reject(err)
		return
	}
	plan, err := route.ResolveEmbedding(c.model, &cfg, h.Deployment)
	if err != nil {
		reject(routeError(err, false))
		return
	}
	// The primary must take the request; a fallback answers only when it can,
	// and when its vectors have the primary's length (another model's vectors
	// are not comparable anyway; a different length would break the caller's
	// index outright).
	m := plan.Models[0]
	modelName = m.String()
	p, err := h.embedder(m, &c.req)
	if err != nil {
		reject(err)
		return
	}
	dims, knownDims := p.Dimensions(m.Model, c.req.Dimensions)
	type attempt struct {
		m model.Name
		p embedding.Provider
	}
	attempts := []attempt{{m, p}}
	for _, f := range plan.Models[1:] {
		if !knownDims {
			break // no model can stand in for one of unknown length
		}
		fp, err := h.embedder(f, &c.req)
		if err != nil {
			continue
		}
		if n, ok := fp.Dimensions(f.Model, c.req.Dimensions); ok && n == dims {
			attempts = append(attempts, attempt{f, fp})
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.AttemptTimeout)
	defer cancel()
	models := make([]model.Name, len(attempts))
	for i, a := range attempts {
		models[i] = a.m
	}
	ticket, refusal, prices, err := h.admitEmbedding(ctx, &cfg, models, &c.req,
		budget.Meta{KeyID: info.Key(), User: c.req.User, Route: RouteEmbeddings}, info.RequestID, w.Header())
	if errors.Is(err, meter.ErrClientGone) {
		outcome = admissionEnded(ctx, w, r, err)
		return
	}
	if err != nil {
		reject(err)
		return
	}
	req := c.req
	var res embedding.Result
	tried := 0
	for _, a := range attempts {
		tried++
		m, modelName = a.m, a.m.String()
		req.Model = m.Model
		if res, err = a.p.Embed(ctx, &req); err == nil && len(res.Vectors) != req.Len() {
			err = &chat.ProviderError{Class: chat.ErrUnavailable, Message: fmt.Sprintf("%d vectors for %d inputs", len(res.Vectors), req.Len())}
		}
		if err == nil || ctx.Err() != nil || !chat.ClassOf(err).Retryable() {
			break
		}
		h.Log.WarnContext(r.Context(), "attempt failed", "model", modelName, "attempt", tried, "reason", chat.ClassOf(err).String(), "err", chat.LogValue(err))
	}
	attemptsMade = tried
	if err != nil {
		outcome = "provider_error"
		ticket.Settle(ctx, budget.Charge{Model: modelName, Attempts: tried, Outcome: outcome, Latency: h.Now().Sub(start)}) // nothing was embedded
		reject(failure(err, ctx.Err()))
		return
	}
	if res.Estimated || res.InputTokens <= 0 {
		res.InputTokens, estimated = inputEstimate(&req), true
	}
	usage = res.InputTokens
	price, priced := prices.Lookup(modelName)
	spent := price.EmbeddingCost(int64(res.InputTokens))
	ticket.Settle(ctx, budget.Charge{Input: int64(res.InputTokens), Model: modelName, Estimated: estimated, Cost: int64(spent),
		Attempts: tried, Outcome: "ok", Latency: h.Now().Sub(start)})
	src := plan.Source

	out := embeddingsResponse{Object: "list", Model: modelName, Data: make([]embeddingItem, len(res.Vectors))}
	for i, v := range res.Vectors {
		var e any = v
		if c.base64 {
			e = encodeVector(v)
		}
		out.Data[i] = embeddingItem{Object: "embedding", Index: i, Embedding: e}
	}
	out.Usage.PromptTokens, out.Usage.TotalTokens = res.InputTokens, res.InputTokens
	hd := w.Header()
	hd.Set(HeaderModel, modelName)
	hd.Set(HeaderModelSource, string(src))
	hd.Set(HeaderAttempts, fmt.Sprint(tried))
	hd.Set(HeaderInputTokens, fmt.Sprint(res.InputTokens))
	hd.Set(HeaderTotalTokens, fmt.Sprint(res.InputTokens))
	hd.Set(HeaderLatency, fmt.Sprintf("%.3f", float64(h.Now().Sub(start))/float64(time.Millisecond)))
	if priced {
		hd.Set(HeaderCost, spent.String())
	}
	outcome = "ok"
	web.JSON(w, http.StatusOK, out)
}

// encodeVector is OpenAI's base64 encoding of an embedding: its float32
// values, little-endian.
func encodeVector(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// admitEmbedding admits an embedding request that one of models will answer
// through the meter (nil ticket when ungoverned): its input bound, exact when
// every model's tokenizer is known and the reservation matters, and at the
// worst of the models' prices for a money budget. It returns the price table
// for costing the answer (none when ungoverned).
func (h *Handler) admitEmbedding(ctx context.Context, cfg *tenant.Config, models []model.Name, req *embedding.Request, meta budget.Meta,
	requestID string, hdr http.Header) (*meter.Ticket, meter.Refusal, money.Table, error) {
	if h.meter == nil {
		return nil, 0, nil, nil
	}
	counters := make([]*tokens.Counter, len(models))
	for i, m := range models {
		counters[i] = tokens.CounterFor(m.Provider, m.Model)
	}
	counter := tokens.Same(counters...)
	if !reservationMatters(cfg) {
		counter = nil
	}
	rate := int64(inputEstimate(req))
	if counter != nil {
		rate = inputBound(req, counter)
	}
	cost := meter.Cost{RequestID: requestID, Input: inputBound(req, counter), RateEstimate: rate, Meta: meta}
	prices, err := h.Prices.Table(ctx, h.Now())
	if err != nil && cfg.CostBudget.Limited() {
		return nil, 0, nil, apierr.StoreUnavailable("read the price table", err)
	}
	if cfg.CostBudget.Limited() {
		if cost.InputPrice, _, err = worstPrices(prices, models, false); err != nil {
			return nil, 0, nil, err
		}
	}
	ticket, refusal, err := h.meter.Admit(ctx, cfg, h.Now(), cost, hdr)
	return ticket, refusal, prices, err
}
