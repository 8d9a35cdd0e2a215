// Package app assembles Tollgate's HTTP handlers from configuration: the routes of
// each Lambda function, and all of them for the local server, so every front door
// runs the same handlers.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tollgate/tollgate/shared/admin"
	"github.com/tollgate/tollgate/shared/auth"
	"github.com/tollgate/tollgate/shared/config"
	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/health"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/web"
)

// App holds one process's configuration and clients, built once per cold start.
type App struct {
	Config  config.Config
	Log     *slog.Logger
	Store   *dynamo.Store
	Tenants *auth.Tenants
	Now     func() time.Time // the clock every handler uses; tests replace it before serving
}

// NewLogger returns the JSON logger every function writes its lines with.
func NewLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
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

// NewWithAWS is New with an AWS configuration the caller made (tests, benchmarks).
func NewWithAWS(cfg config.Config, log *slog.Logger, awsCfg aws.Config) *App {
	store := dynamo.New(dynamodb.NewFromConfig(awsCfg), cfg.TableName)
	a := &App{Config: cfg, Log: log, Store: store, Now: time.Now}
	a.Tenants = auth.NewTenants(store, cfg.KeyCacheTTL, cfg.TenantCacheTTL, func() time.Time { return a.Now() })
	return a
}

// Health returns the health function's routes: GET /health.
func (a *App) Health() http.Handler {
	mux := http.NewServeMux()
	a.registerHealth(mux)
	return web.Wrap(web.Routes(mux), a.Log, "health")
}

// Admin returns the admin function's routes: /admin/...
func (a *App) Admin() http.Handler {
	mux := http.NewServeMux()
	a.registerAdmin(mux)
	return web.Wrap(web.Routes(mux), a.Log, "admin")
}

// Local returns every route on one handler, for the local server.
func (a *App) Local() http.Handler {
	mux := http.NewServeMux()
	a.registerHealth(mux)
	a.registerAdmin(mux)
	a.registerTenantRoutes(mux)
	return web.Wrap(web.Routes(mux), a.Log, "local")
}

func (a *App) registerHealth(mux *http.ServeMux) {
	names := make([]string, len(a.Config.Models))
	for i, m := range a.Config.Models {
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
		Log: a.Log, Store: a.Store, Catalog: a.Config.Models,
		MaxRequestBytes: a.Config.MaxRequestBytes, Now: a.Now,
	}, guard)
}

// registerTenantRoutes adds the routes tenants call with their API key. Until the
// chat routes land, GET /v1/me answers who the key belongs to.
func (a *App) registerTenantRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/me", a.Tenants.Require(a.Log, func(w http.ResponseWriter, r *http.Request, cfg tenant.Config) {
		web.JSON(w, http.StatusOK, map[string]any{"tenantId": cfg.ID, "name": cfg.Name})
	}))
}

// FromEnv loads the configuration through getenv and builds the App, logging why
// when it cannot: main's whole set-up in one call.
func FromEnv(ctx context.Context, getenv func(string) string) (*App, error) {
	cfg, err := config.Load(getenv)
	log := NewLogger(cfg.LogLevel)
	if err != nil {
		log.Error("bad configuration", "err", err)
		return nil, err
	}
	a, err := New(ctx, cfg, log)
	if err != nil {
		log.Error("start", "err", err)
		return nil, err
	}
	return a, nil
}
