// Package app assembles Tollgate's HTTP handlers from configuration: the routes of
// each Lambda function, and all of them for the local server, so every front door
// runs the same handlers.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/tollgate/tollgate/shared/admin"
	"github.com/tollgate/tollgate/shared/auth"
	"github.com/tollgate/tollgate/shared/config"
	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/gateway"
	"github.com/tollgate/tollgate/shared/health"
	"github.com/tollgate/tollgate/shared/imagefetch"
	"github.com/tollgate/tollgate/shared/knowledge"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/money"
	"github.com/tollgate/tollgate/shared/periodclose"
	"github.com/tollgate/tollgate/shared/provider/bedrock"
	"github.com/tollgate/tollgate/shared/provider/echo"
	"github.com/tollgate/tollgate/shared/provider/openai"
	"github.com/tollgate/tollgate/shared/route"
	"github.com/tollgate/tollgate/shared/session"
	"github.com/tollgate/tollgate/shared/sessionapi"
	"github.com/tollgate/tollgate/shared/telemetry"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/usage"
	"github.com/tollgate/tollgate/shared/web"
)

// App holds one process's configuration and clients, built once per cold start.
type App struct {
	Config  config.Config
	Log     *slog.Logger
	Store   *dynamo.Store
	Tenants *auth.Tenants
	// Metrics receives one EMF line per chat request; nil when METRICS_ENABLED is
	// false. Its Out may be replaced before serving.
	Metrics *telemetry.Metrics
	// Providers by name; tests may replace entries before serving.
	Providers map[string]gateway.Provider
	// Images fetches image URLs of IMAGE_FETCH_HOSTS; nil when none is set.
	// Tests may replace it before serving.
	Images *imagefetch.Fetcher
	Now    func() time.Time // the clock every handler uses; tests replace it before serving
	// AWS is the SDK configuration the clients were made from; the functions
	// that serve the knowledge base make its clients from it.
	AWS aws.Config

	prices     *money.Book
	pricesOnce sync.Once

	knowledge     *knowledge.Service
	knowledgeErr  error
	knowledgeOnce sync.Once
	localQueue    *knowledge.LocalQueue // nil when jobs go to SQS
	backends      *KnowledgeBackends    // the AWS backends, when a function set them
	purgeWG       sync.WaitGroup        // the local purge loop (RunIngestion)
}

// Prices returns the price table: shipped defaults, MODEL_PRICES, and what
// operators set through the admin API (read from the table, cached for
// TENANT_CACHE_TTL). Only the functions that cost requests or set prices
// reach it, so only they read price items.
func (a *App) Prices() *money.Book {
	a.pricesOnce.Do(func() {
		a.prices = &money.Book{Base: a.Config.Prices, Load: a.Store.ListPrices, TTL: a.Config.TenantCacheTTL}
	})
	return a.prices
}

// NewLogger returns the JSON logger every function writes its lines with: each
// line of a request carries its request, trace and tenant ids.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(web.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}

// New builds the App: it loads the AWS SDK's configuration (AWS_REGION,
// AWS_ENDPOINT_URL_DYNAMODB, credentials) and the DynamoDB client.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("app: load AWS config: %w", err)
	}
	return NewWithAWS(cfg, log, awsCfg), nil
}

// callDeadline bounds each call of an AWS SDK client by d, its retries included.
func callDeadline(d time.Duration) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("TollgateCallDeadline",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				ctx, cancel := context.WithTimeout(ctx, d)
				defer cancel()
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

// NewWithAWS is New with an AWS configuration the caller made (tests, benchmarks).
func NewWithAWS(cfg config.Config, log *slog.Logger, awsCfg aws.Config) *App {
	store := dynamo.New(dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		// Every request writes to DynamoDB: keep enough idle connections for a busy
		// instance (the SDK's default keeps 10 per host). Each attempt has its own
		// deadline, and each call (retries included) one more: a stalled table
		// fails the request closed within seconds instead of hanging it.
		o.HTTPClient = awshttp.NewBuildableClient().WithTimeout(cfg.DynamoDBAttemptTimeout).WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 256
		})
		o.APIOptions = append(o.APIOptions, callDeadline(cfg.DynamoDBTimeout))
	}), cfg.TableName)
	store.RecordTTL = cfg.UsageRecordRetention
	a := &App{Config: cfg, Log: log, Store: store, Now: time.Now, AWS: awsCfg}
	if cfg.MetricsEnabled {
		a.Metrics = &telemetry.Metrics{Namespace: cfg.MetricsNamespace, PerTenant: cfg.MetricsPerTenant, Out: os.Stdout}
	}
	a.Tenants = auth.NewTenants(store, cfg.KeyCacheTTL, cfg.TenantCacheTTL, func() time.Time { return a.Now() })
	a.Providers = map[string]gateway.Provider{
		model.Echo:    echo.New(),
		model.OpenAI:  openai.New(providerClient(), cfg.OpenAIBaseURL, cfg.OpenAIAPIKey, openAIOptions(cfg)...),
		model.Bedrock: bedrock.New(bedrockruntime.NewFromConfig(awsCfg)),
	}
	a.Images = imagefetch.New(cfg.ImageFetchHosts, imagefetch.WithMaxBytes(cfg.ImageFetchMaxBytes),
		imagefetch.WithTimeout(cfg.ImageFetchTimeout))
	return a
}

// handler serves the routes the register functions add, as function name.
func (a *App) handler(name string, register ...func(*http.ServeMux)) http.Handler {
	mux := http.NewServeMux()
	for _, r := range register {
		r(mux)
	}
	return web.Wrap(web.Routes(mux), a.Log, name)
}

// Health returns the health function's routes: GET /health.
func (a *App) Health() http.Handler { return a.handler("health", a.registerHealth) }

// Admin returns the admin function's routes: /admin/...
func (a *App) Admin() http.Handler { return a.handler("admin", a.registerAdmin) }

// Chat returns the chat function's routes: /v1/chat/completions, /chat, /v1/models.
func (a *App) Chat() http.Handler { return a.handler("chat", a.registerChat) }

// Sessions returns the sessions function's routes: /sessions...
func (a *App) Sessions() http.Handler { return a.handler("sessions", a.registerSessions) }

// Usage returns the usage function's routes: GET /usage, GET /usage/requests.
func (a *App) Usage() http.Handler { return a.handler("usage", a.registerUsage) }

// Embeddings returns the embeddings function's route: POST /v1/embeddings.
func (a *App) Embeddings() http.Handler { return a.handler("embeddings", a.registerEmbeddings) }

// Files returns the knowledge function's routes: /v1/files... and
// /v1/vector_stores...
func (a *App) Files() http.Handler { return a.handler("knowledge", a.registerKnowledge) }

// Local returns every route on one handler, for the local server.
func (a *App) Local() http.Handler {
	return a.handler("local", a.registerHealth, a.registerAdmin, a.registerChat, a.registerEmbeddings, a.registerUsage, a.registerSessions,
		a.registerKnowledge)
}

func (a *App) sessionExpiry() session.Expiry {
	return session.Expiry{Idle: a.Config.SessionIdleTTL, MaxAge: a.Config.SessionMaxAge}
}

func (a *App) registerSessions(mux *http.ServeMux) {
	sessionapi.Register(mux, sessionapi.Deps{
		Log: a.Log, Store: a.Store, Tenants: a.Tenants, Expiry: a.sessionExpiry(),
		Now: func() time.Time { return a.Now() },
	})
}

func (a *App) registerUsage(mux *http.ServeMux) {
	mux.Handle("GET /usage", a.Tenants.Require(a.Log, func(w http.ResponseWriter, r *http.Request, cfg tenant.Config) {
		usage.Serve(w, r, a.Store, &cfg, a.Now())
	}))
	mux.Handle("GET /usage/requests", a.Tenants.Require(a.Log, func(w http.ResponseWriter, r *http.Request, cfg tenant.Config) {
		usage.ServeRecords(w, r, a.Store, &cfg)
	}))
}

func (a *App) registerChat(mux *http.ServeMux) { gateway.New(a.ChatDeps()).Register(mux) }

func (a *App) registerEmbeddings(mux *http.ServeMux) {
	gateway.New(a.ChatDeps()).RegisterEmbeddings(mux)
}

// ChatDeps returns the chat gateway's dependencies as the App wires them; a
// benchmark can change one (Ledger nil: no governance) and build its own handler.
func (a *App) ChatDeps() gateway.Deps {
	d := a.chatDeps()
	if svc, err := a.Knowledge(); err == nil {
		d.Knowledge = svc
	}
	return d
}

// chatDeps is ChatDeps without the knowledge base (which embeds through a
// gateway of its own).
func (a *App) chatDeps() gateway.Deps {
	c := a.Config
	d := gateway.Deps{
		Log: a.Log, Tenants: a.Tenants, Providers: a.Providers, Ledger: a.Store, Sessions: a.Store, Metrics: a.Metrics,
		Responses: a.Store, ResponseRetention: c.ResponseRetention,
		SessionExpiry: a.sessionExpiry(), SessionWindow: c.SessionHistoryTokens,
		Deployment: route.Deployment{Catalog: c.Models, Override: c.ModelOverride, Default: c.DefaultModel,
			DefaultEmbedding: c.DefaultEmbeddingModel},
		DefaultMaxOutputTokens: c.DefaultMaxOutputTokens, MaxRequestBytes: c.MaxRequestBytes,
		DropUnsupported:   c.UnsupportedParams == "drop",
		FirstTokenTimeout: c.FirstTokenTimeout, IdleTimeout: c.StreamIdleTimeout, KeepAlive: c.KeepAliveInterval,
		AttemptTimeout: c.AttemptTimeout, RequestTimeout: c.RequestTimeout,
		SettleWindow: c.SettleWindow, CheckpointTokens: c.CheckpointTokens,
		Prices: a.Prices(), SerialAdmission: c.SerialAdmission,
		Now: func() time.Time { return a.Now() },
	}
	if a.Images != nil { // a nil *Fetcher in the interface would not be nil
		d.Images = a.Images
	}
	return d
}

func (a *App) registerHealth(mux *http.ServeMux) {
	names := make([]string, a.Config.Models.Len())
	for i, m := range a.Config.Models.Names() {
		names[i] = m.String()
	}
	mux.Handle("GET /health", health.Handler(a.Log, a.Store, health.Status{
		Version:      a.Config.Version,
		DefaultModel: a.Config.DefaultModel.String(),
		Models:       names,
		Providers:    a.Config.Providers(),
	}, 2*time.Second))
}

func (a *App) registerAdmin(mux *http.ServeMux) {
	guard := func(h http.Handler) http.Handler {
		return auth.Admin(auth.AdminMode(a.Config.AdminAuth), a.Config.AdminAPIKey, h)
	}
	admin.Register(mux, admin.Deps{
		Log: a.Log, Store: a.Store, Catalog: a.Config.Models, Prices: a.Config.Prices, PricesChanged: a.Prices().Forget,
		MaxRequestBytes: a.Config.MaxRequestBytes, Now: a.Now,
		// A deleted tenant's cached key and configuration may admit a request
		// that then runs its whole course (settled within a minute after it).
		Lingering: a.Config.KeyCacheTTL + a.Config.TenantCacheTTL + a.Config.RequestTimeout + time.Minute,
	}, guard)
}

// FromEnv loads the configuration through getenv and builds the App, logging why
// when it cannot: main's whole set-up in one call.
func FromEnv(ctx context.Context, getenv func(string) string) (*App, error) {
	cfg, err := config.Load(getenv)
	out := telemetry.NewWriter(os.Stdout) // log and metric lines never interleave
	log := NewLogger(out, cfg.LogLevel)
	if err != nil {
		log.Error("bad configuration", "err", err)
		return nil, err
	}
	a, err := New(ctx, cfg, log)
	if err != nil {
		log.Error("start", "err", err)
		return nil, err
	}
	if a.Metrics != nil {
		a.Metrics.Out = out
	}
	return a, nil
}

// CloseJob returns the scheduled budget-reset job's Lambda handler. It returns
// the run's error so Lambda records the invocation as failed and the schedule's
// retry policy (and dead-letter queue) take over.
func (a *App) CloseJob() func(context.Context, events.EventBridgeEvent) (periodclose.Result, error) {
	return func(ctx context.Context, ev events.EventBridgeEvent) (periodclose.Result, error) {
		res, err := periodclose.Run(ctx, a.Store, a.Log, a.Now())
		a.Log.InfoContext(ctx, "period close", "eventId", ev.ID, "tenants", res.Tenants,
			"returnedReservations", res.Returned, "returnedTokens", res.ReturnedTokens, "chargedTokens", res.ChargedTokens, "daysWritten", res.DaysWritten,
			"ok", err == nil)
		if err != nil {
			a.Log.ErrorContext(ctx, "period close failed", "err", err)
		}
		return res, err
	}
}

// providerClient is the HTTP client for OpenAI-compatible providers. Requests are
// bounded by their contexts, not a client timeout (a stream may last minutes). It
// keeps enough idle connections to one host for a busy instance: the default
// transport keeps two, so concurrent requests would open (and TLS-handshake) a new
// connection almost every time.
func providerClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 256
	return &http.Client{Transport: t}
}

func openAIOptions(cfg config.Config) []openai.Option {
	if cfg.OpenAIMaxTokensParam == "max_completion_tokens" {
		return []openai.Option{openai.MaxCompletionTokens()}
	}
	return nil
}
