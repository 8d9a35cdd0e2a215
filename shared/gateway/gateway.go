// Package gateway serves the chat APIs: OpenAI-compatible /v1/chat/completions,
// /v1/responses (with stored responses) and /v1/models, the native /chat, and
// /v1/embeddings. For each request it resolves the model, calls the provider with
// fallback, streams the answer as it arrives, and reports usage.
package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/shared/cache"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/meter"
	"github.com/tollgate/tollgate/shared/money"
	"github.com/tollgate/tollgate/shared/route"
	"github.com/tollgate/tollgate/shared/session"
	"github.com/tollgate/tollgate/shared/telemetry"
	"github.com/tollgate/tollgate/shared/tenant"
)

// Provider streams completions from one model backend. *openai.Client,
// *bedrock.Client and *echo.Client implement it.
type Provider interface {
	Stream(ctx context.Context, req *chat.Request) (chat.Stream, error)
}

// Completer is implemented by providers with a native non-streaming call (Bedrock's
// Converse, OpenAI's stream:false); the gateway uses it for non-streaming requests.
type Completer interface {
	Complete(ctx context.Context, req *chat.Request) (chat.Completion, error)
}

// Authenticator resolves a request's API key to its tenant. *auth.Tenants
// implements it; its errors are *apierr.Error.
type Authenticator interface {
	Authenticate(r *http.Request) (tenant.Config, error)
}

// Deps are the gateway's dependencies and settings.
type Deps struct {
	Log      *slog.Logger
	Tenants  Authenticator
	Ledger   meter.Ledger // nil: no budgets, rate limits or metering (benchmarks only)
	Sessions Sessions
	// Responses stores Responses API answers; nil stores none (and continues
	// none).
	Responses ResponseStore
	// ResponseRetention is how long a stored response is kept.
	ResponseRetention time.Duration
	Metrics           *telemetry.Metrics // nil: no metrics
	// SessionExpiry and SessionWindow configure server-side sessions: when they
	// expire, and how many tokens of history a prompt may carry.
	SessionExpiry session.Expiry
	SessionWindow int
	Providers     map[string]Provider // by provider name: "openai", "bedrock", "echo"
	Deployment    route.Deployment
	// Prices is the price table requests are costed by (nil: none is priced).
	Prices *money.Book

	DefaultMaxOutputTokens int
	MaxRequestBytes        int64
	// DropUnsupported leaves out parameters the answering model's provider cannot
	// honour (and says so in x-tollgate-dropped-params) instead of refusing the
	// request; a tenant's models.unsupportedParams overrides it.
	DropUnsupported bool
	// Images fetches image URLs of the hosts the deployment allows, so that
	// they reach every provider inline; nil leaves every URL as it is.
	Images ImageFetcher
	// Knowledge searches tenants' vector stores for file_search requests; nil:
	// the deployment has no knowledge base.
	Knowledge Retriever
	// FirstTokenTimeout bounds each attempt until its first token; past it the
	// attempt counts as timed out and the next model is tried.
	FirstTokenTimeout time.Duration
	// IdleTimeout bounds the silence between two chunks once streaming.
	IdleTimeout time.Duration
	// KeepAlive is the interval of SSE comments while the provider is silent.
	KeepAlive time.Duration
	// AttemptTimeout bounds one non-streaming provider call.
	AttemptTimeout time.Duration
	// RequestTimeout bounds the whole request, all attempts included.
	RequestTimeout time.Duration
	// SettleWindow bounds the retries of a failed settlement (0: the meter's
	// default); CheckpointTokens is how many output tokens a stream serves
	// between two checkpoints of what it served (0: none).
	SettleWindow     time.Duration
	CheckpointTokens int
	// SerialAdmission admits a request before its provider call instead of
	// beside it (ADMISSION_ORDER=serial; parallel.go).
	SerialAdmission bool
	Now             func() time.Time
}

// Handler serves the chat routes.
type Handler struct {
	Deps
	meter   *meter.Meter                 // nil when Ledger is
	refused *cache.TTL[string, struct{}] // tenants refused lately, by scope: admitted serially
}

// New returns the chat handler.
func New(d Deps) *Handler {
	h := &Handler{Deps: d, refused: cache.New[string, struct{}](refusedMemory, 10_000)}
	if d.Ledger != nil {
		h.meter = &meter.Meter{Ledger: d.Ledger, Log: d.Log, Lease: d.RequestTimeout + time.Minute,
			SettleWindow: d.SettleWindow, CheckpointEvery: int64(d.CheckpointTokens)}
	}
	return h
}

// Register adds the chat routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/chat/completions", h.serveOpenAI)
	mux.HandleFunc("POST /chat", h.serveNative)
	mux.HandleFunc("GET /v1/models", h.serveModels)
	mux.HandleFunc("GET /v1/models/{id...}", h.serveModel)
	mux.HandleFunc("POST /v1/responses", h.serveResponses)
	mux.HandleFunc("GET /v1/responses/{id}", h.serveResponseGet)
	mux.HandleFunc("DELETE /v1/responses/{id}", h.serveResponseDelete)
	mux.HandleFunc("GET /v1/responses/{id}/input_items", h.serveInputItems)
}

// RegisterEmbeddings adds the embeddings route, POST /v1/embeddings: in AWS it
// is a function of its own (buffered, with its own IAM policy).
func (h *Handler) RegisterEmbeddings(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/embeddings", h.serveEmbeddings)
}
