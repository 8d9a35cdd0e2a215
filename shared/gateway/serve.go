package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/meter"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/money"
	"github.com/tollgate/tollgate/shared/responses"
	"github.com/tollgate/tollgate/shared/route"
	"github.com/tollgate/tollgate/shared/telemetry"
	"github.com/tollgate/tollgate/shared/tokens"
	"github.com/tollgate/tollgate/shared/web"
)

// Response headers.
const (
	HeaderModel       = "x-tollgate-model"
	HeaderModelSource = "x-tollgate-model-source"
	HeaderAttempts    = "x-tollgate-attempts"
	HeaderLatency     = "x-tollgate-latency-ms"
	// HeaderCost is what a non-streamed answer cost at its model's price, in
	// US dollars ("0.000184"); absent for an unpriced model.
	HeaderCost         = "x-tollgate-cost-usd"
	HeaderInputTokens  = "x-usage-input-tokens"
	HeaderOutputTokens = "x-usage-output-tokens"
	HeaderTotalTokens  = "x-usage-total-tokens"
)

func (h *Handler) serveOpenAI(w http.ResponseWriter, r *http.Request) { h.serve(w, r, decodeOpenAI) }
func (h *Handler) serveNative(w http.ResponseWriter, r *http.Request) { h.serve(w, r, decodeNative) }
func (h *Handler) serveResponses(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, decodeResponses)
}

// exchange is one chat request in flight.
type exchange struct {
	h        *Handler
	c        *call
	plan     route.Plan
	id       string // answer id: chatcmpl-<request id>, or resp_<key> (Responses API)
	reqID    string // the request id (x-request-id), for logs and reservations
	start    time.Time
	attempts int
	model    model.Name // the model that answered (or was last tried)
	ttft     time.Duration
	outBytes int         // answer streamed to the client: text, reasoning, tool calls
	usage    *chat.Usage // provider-reported usage of the answering attempt
	finishes []string    // each choice's finish reason, as reported
	asm      *assembler  // the answer's messages, when a session stores them
	outcome  string
	drops    map[model.Name][]string // parameters left out per model (UNSUPPORTED_PARAMS=drop)

	tenantID      string
	scope         string // the tenant's scope in the store (tenant.Config.Scope)
	failures      int    // failed provider attempts, and a failure mid-stream
	budgetRefused bool   // for the metrics
	rateLimited   bool
	ticket        *meter.Ticket // set once admitted
	session       *sessionState // set for a request with a sessionId
	budgetInfo    budgetInfo
	prices        money.Table       // the price table at admission
	pending       *pendingAdmission // an admission running beside the first attempt (parallel.go)
	r             *http.Request
	answer        strings.Builder // the first choice's streamed text, when retrieved sources may be cited
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, decode func([]byte) (*call, error)) {
	info := web.InfoFrom(r.Context())
	x := &exchange{h: h, id: "chatcmpl-" + info.RequestID, reqID: info.RequestID, start: h.Now(), r: r}
	defer func() { x.log(r.Context(), info) }()

	cfg, err := h.Tenants.Authenticate(r)
	if err != nil {
		x.reject(w, r, err)
		return
	}
	x.tenantID, x.scope = cfg.ID, cfg.Scope()
	body, err := web.ReadBody(r, h.MaxRequestBytes)
	if err != nil {
		x.reject(w, r, err)
		return
	}
	if x.c, err = decode(body); err != nil {
		x.reject(w, r, err)
		return
	}
	if x.c.resp != nil {
		x.id = responses.ID(x.c.resp.key)
	}
	if x.plan, err = route.Resolve(x.c.model, &cfg, h.Deployment); err != nil {
		x.reject(w, r, routeError(err, x.c.native))
		return
	}
	x.model = x.plan.Models[0]
	if x.c.resp != nil {
		if err := x.resolveInput(r.Context(), &cfg); err != nil {
			x.reject(w, r, err)
			return
		}
	}
	if err := x.fetchImages(r.Context()); err != nil {
		x.reject(w, r, err)
		return
	}
	if err := x.checkPlan(&cfg); err != nil {
		x.reject(w, r, err)
		return
	}
	var history []chat.Message
	if x.c.sessionID != "" {
		if history, err = x.loadSession(r.Context(), &cfg); err != nil {
			x.reject(w, r, err)
			return
		}
	}
	if err := checkToolResults(history, x.requestMessages(), "messages"); err != nil {
		x.reject(w, r, err)
		return
	}
	if err := x.retrieve(r.Context(), &cfg); err != nil {
		x.reject(w, r, err)
		return
	}

	ctx, cancel := context.WithTimeout(chat.WithTraceID(r.Context(), info.TraceID), h.RequestTimeout)
	defer cancel()
	switch {
	case h.Ledger == nil:
	case x.parallel(&cfg):
		x.startAdmission(ctx, &cfg) // joined before the first byte (parallel.go)
		defer x.settleAfterJoin(ctx, x.pending)
	default:
		if err := x.admit(ctx, w, &cfg); errors.Is(err, meter.ErrClientGone) {
			x.outcome = admissionEnded(ctx, w, r, err)
			return
		} else if err != nil {
			x.reject(w, r, err)
			return
		}
		defer x.settle(ctx)
	}
	if x.c.stream {
		x.serveStream(ctx, w)
	} else {
		x.serveWhole(ctx, w)
	}
}

// admissionEnded answers a request whose context ended while it was admitted
// (meter.ErrClientGone): nobody when the client left; a 504 when the request's
// own deadline passed and the client still waits. It returns the outcome.
func admissionEnded(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) string {
	if r.Context().Err() != nil {
		return "client_gone"
	}
	apierr.Write(w, failure(err, ctx.Err()))
	return "timeout"
}

// reject answers a request refused before any provider call.
func (x *exchange) reject(w http.ResponseWriter, r *http.Request, err error) {
	x.outcome = "rejected"
	x.h.refuse(w, r, "chat request", err)
}

// refuse writes err as the answer; a fault of ours (not the client's) is
// logged under msg first.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, msg string, err error) {
	if e := apierr.From(err); e.Kind == apierr.Internal || e.Kind == apierr.Unavailable {
		h.Log.ErrorContext(r.Context(), msg, "err", err)
	}
	apierr.Write(w, err)
}

func routeError(err error, native bool) error {
	param := "model"
	if native {
		param = "modelId"
	}
	switch {
	case errors.Is(err, route.ErrMalformed):
		return apierr.InvalidParam("invalid_model", param, err.Error())
	case errors.Is(err, route.ErrUnknown):
		return &apierr.Error{Kind: apierr.NotFound, Code: "model_not_found", Param: param, Message: err.Error()}
	case errors.Is(err, route.ErrNotAllowed):
		return &apierr.Error{Kind: apierr.Forbidden, Code: "model_not_allowed", Param: param, Message: err.Error()}
	case errors.Is(err, route.ErrWrongKind):
		return apierr.InvalidParam("wrong_model_kind", param, param+": "+strings.TrimPrefix(err.Error(), route.ErrWrongKind.Error()+": "))
	}
	return err
}

// request is what the provider of m is asked: a copy of the decoded request with
// m's model and the output limit in force, without the parameters dropped for m.
func (x *exchange) request(m model.Name) *chat.Request {
	r := x.c.req
	r.Model = m.Model
	if r.MaxTokens == 0 {
		r.MaxTokens = x.h.DefaultMaxOutputTokens
	}
	for _, p := range x.drops[m] {
		r.Drop(p)
	}
	return &r
}

// observe notes what a chunk of the answer carried: bytes (for the estimate
// when the provider reports no usage), the finish reason of its choice, and, for
// a session, the answer itself.
func (x *exchange) observe(c *chat.Chunk) {
	x.outBytes += len(c.Text) + len(c.Reasoning) + len(c.Refusal)
	if c.ToolCall != nil {
		x.outBytes += len(c.ToolCall.Name) + len(c.ToolCall.Arguments)
	}
	if c.FinishReason != "" && c.Choice >= 0 && c.Choice < maxChoices {
		for len(x.finishes) <= c.Choice {
			x.finishes = append(x.finishes, "")
		}
		x.finishes[c.Choice] = c.FinishReason
	}
	if x.asm != nil {
		x.asm.add(c)
	}
	if c.Choice == 0 && c.Text != "" && len(x.c.req.Sources) > 0 {
		x.answer.WriteString(c.Text)
	}
}

// finishReasons returns one finish reason per requested choice: the provider's,
// or stop.
func (x *exchange) finishReasons() []string {
	out := make([]string, x.c.req.Choices())
	for i := range out {
		out[i] = chat.FinishStop
		if i < len(x.finishes) && x.finishes[i] != "" {
			out[i] = x.finishes[i]
		}
	}
	return out
}

// result is one value from a provider stream.
type result struct {
	chunk chat.Chunk
	err   error
}

// pump reads a provider stream in its own goroutine, so the handler can send
// keep-alives and enforce timeouts while the provider is silent. stop ends the
// goroutine before returning: none outlives the request.
type pump struct {
	s      chat.Stream
	ch     chan result
	cancel context.CancelFunc
}

func startPump(ctx context.Context, cancel context.CancelFunc, s chat.Stream) *pump {
	p := &pump{s: s, ch: make(chan result), cancel: cancel}
	go func() {
		defer close(p.ch)
		for {
			c, err := s.Next(ctx)
			select {
			case p.ch <- result{c, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *pump) stop() {
	p.cancel()
	for range p.ch {
	}
	_ = p.s.Close()
}

// errNoFirstToken marks an attempt that produced nothing within FirstTokenTimeout.
var errNoFirstToken = errors.New("no first token in time")

// attemptAll runs one attempt per model of the plan, in order, until one succeeds.
// It stops early at a failure fallback cannot help (a bad request, an auth
// problem) or when ctx ends, and returns the last failure. Every failed attempt is
// logged with its reason.
func (x *exchange) attemptAll(ctx context.Context, attempt func(model.Name) error) error {
	var err error
	for _, m := range x.plan.Models {
		x.attempts++
		x.model = m
		if err = attempt(m); err == nil {
			return nil
		}
		x.failures++
		if x.cancelledByAdmission(ctx) {
			break // refused or clamped meanwhile: not the provider's failure
		}
		x.h.Log.WarnContext(ctx, "attempt failed", "requestId", x.reqID, "model", m.String(),
			"attempt", x.attempts, "reason", chat.ClassOf(err).String(), "err", chat.LogValue(err))
		if ctx.Err() != nil || !chat.ClassOf(err).Retryable() {
			break
		}
	}
	return err
}

// try starts one streaming attempt on m and waits for its first result, at most
// FirstTokenTimeout.
func (x *exchange) try(ctx context.Context, m model.Name) (*pump, result, error) {
	prov, ok := x.h.Providers[m.Provider]
	if !ok {
		return nil, result{}, &chat.ProviderError{Class: chat.ErrUnavailable, Message: "provider " + m.Provider + " is not configured"}
	}
	actx, cancel := context.WithCancel(ctx)
	var timedOut atomic.Bool
	timer := time.AfterFunc(x.h.FirstTokenTimeout, func() { timedOut.Store(true); cancel() })
	s, err := prov.Stream(actx, x.request(m))
	if err == nil {
		p := startPump(actx, cancel, s)
		first, ok := <-p.ch
		if !ok {
			first.err = actx.Err()
		}
		if first.err == nil || errors.Is(first.err, io.EOF) {
			if timer.Stop() {
				return p, first, nil
			}
		}
		p.stop()
		err = first.err
	}
	timer.Stop()
	cancel()
	if timedOut.Load() && ctx.Err() == nil {
		err = &chat.ProviderError{Class: chat.ErrTimeout,
			Message: fmt.Sprintf("no first token within %s", x.h.FirstTokenTimeout), Err: errNoFirstToken}
	}
	return nil, result{}, err
}

// setHeaders writes the headers every successful chat response carries.
func (x *exchange) setHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set(HeaderModel, x.model.String())
	hd.Set(HeaderModelSource, string(x.plan.Source))
	hd.Set(HeaderAttempts, strconv.Itoa(x.attempts))
	if d := x.drops[x.model]; len(d) > 0 {
		names := make([]string, len(d))
		for i, p := range d {
			names[i] = x.param(p)
		}
		hd.Set(HeaderDroppedParams, strings.Join(names, ","))
	}
}

// finalUsage is the usage to report: the provider's, or an estimate marked so.
func (x *exchange) finalUsage() chat.Usage {
	if x.usage != nil {
		return *x.usage
	}
	return chat.Usage{
		InputTokens:  tokens.RequestEstimate(&x.c.req),
		OutputTokens: (x.outBytes + 3) / 4,
		Estimated:    true,
	}
}

// failure maps the last provider error, after every attempt failed, to what the
// client sees (docs/api.md, "Provider failures").
func failure(err error, ctxErr error) error {
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		return &apierr.Error{Kind: apierr.Timeout, Code: "upstream_timeout", Message: "the request timed out", Err: err}
	}
	var pe *chat.ProviderError
	if !errors.As(err, &pe) {
		pe = &chat.ProviderError{Class: chat.ClassOf(err), Err: err}
	}
	msg := pe.Message
	if msg == "" {
		msg = "the model provider failed"
	}
	switch pe.Class {
	case chat.ErrBadRequest:
		return &apierr.Error{Kind: apierr.Invalid, Code: "provider_rejected_request", Message: "the provider rejected the request: " + msg, Err: err}
	case chat.ErrNotFound:
		return &apierr.Error{Kind: apierr.NotFound, Code: "model_not_found", Message: "the provider does not know the model: " + msg, Err: err}
	case chat.ErrRateLimited:
		ra := pe.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		return &apierr.Error{Kind: apierr.Unavailable, Code: "upstream_rate_limited", Message: "the model provider is rate limiting requests; retry later", RetryAfter: ra, Err: err}
	case chat.ErrAuth:
		return &apierr.Error{Kind: apierr.BadGateway, Code: "upstream_auth_failed", Message: "the gateway's credentials for the model provider were refused (a deployment fault)", Err: err}
	case chat.ErrTimeout:
		return &apierr.Error{Kind: apierr.Timeout, Code: "upstream_timeout", Message: "the model provider did not answer in time", Err: err}
	}
	return &apierr.Error{Kind: apierr.BadGateway, Code: "upstream_error", Message: "the model provider failed: " + msg, Err: err}
}

func (x *exchange) log(ctx context.Context, info *web.Info) {
	x.emit(ctx, info)
	if x.c == nil {
		info.AddAttrs(slog.String("outcome", x.outcome))
		return
	}
	u := x.finalUsage()
	attrs := []slog.Attr{
		slog.String("api", x.apiName()),
		slog.Bool("stream", x.c.stream),
		slog.String("outcome", x.outcome),
	}
	if x.attempts > 0 {
		attrs = append(attrs,
			slog.String("model", x.model.String()),
			slog.String("modelSource", string(x.plan.Source)),
			slog.Int("attempts", x.attempts),
			slog.Int("inputTokens", u.InputTokens),
			slog.Int("outputTokens", u.OutputTokens),
			slog.Bool("usageEstimated", u.Estimated),
			slog.Float64("latencyMs", ms(x.h.Now().Sub(x.start))),
			slog.Float64("timeToFirstTokenMs", ms(x.ttft)),
		)
	}
	if n := x.ticket.Reserved(); n > 0 {
		attrs = append(attrs, slog.Int64("reservedTokens", n))
	}
	info.AddAttrs(attrs...)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// emit writes the request's metrics record (one per chat request of a known
// tenant).
func (x *exchange) emit(ctx context.Context, info *web.Info) {
	if x.h.Metrics == nil || x.tenantID == "" {
		return
	}
	r := telemetry.Request{
		Time: x.start, TenantID: x.tenantID, Model: "none",
		Latency: x.h.Now().Sub(x.start), TimeToFirstToken: x.ttft,
		Attempts: x.attempts, Fallbacks: max(x.attempts-1, 0), ProviderErrors: x.failures,
		BudgetRefused: x.budgetRefused, RateLimited: x.rateLimited,
		RequestID: info.RequestID, TraceID: info.TraceID,
	}
	if !x.model.IsZero() { // resolved
		r.Model = x.model.String()
	}
	if x.c != nil && x.attempts > 0 && (x.usage != nil || x.outBytes > 0) {
		u := x.finalUsage()
		r.InputTokens, r.OutputTokens = u.InputTokens, u.OutputTokens
	}
	if err := x.h.Metrics.Emit(r); err != nil {
		x.h.Log.WarnContext(ctx, "emit metrics", "err", err)
	}
}

func (x *exchange) apiName() string {
	switch {
	case x.c.native:
		return "native"
	case x.c.resp != nil:
		return "responses"
	}
	return "openai"
}
