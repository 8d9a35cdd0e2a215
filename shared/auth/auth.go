// Package auth authenticates callers: tenants by their API key (hash lookup with a
// short in-memory cache) and operators by the admin key or, behind API Gateway, by
// IAM authorization.
package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/cache"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/web"
)

// Store is what authentication reads. *dynamo.Store implements it.
type Store interface {
	LookupKey(ctx context.Context, hash string) (tenant.Key, error)
	GetTenant(ctx context.Context, id string) (tenant.Config, error)
}

// Tenants resolves API keys to tenant configurations.
type Tenants struct {
	store   Store
	keys    *cache.TTL[string, keyResult]
	configs *cache.TTL[string, tenant.Config]
	now     func() time.Time
}

type keyResult struct {
	tenantID, incarnation, keyID string
	unknown                      bool // cached miss: unknown or revoked
}

// NewTenants returns a resolver caching keys for keyTTL and configurations for
// configTTL. now is time.Now outside tests.
func NewTenants(store Store, keyTTL, configTTL time.Duration, now func() time.Time) *Tenants {
	return &Tenants{
		store:   store,
		keys:    cache.New[string, keyResult](keyTTL, 100_000),
		configs: cache.New[string, tenant.Config](configTTL, 10_000),
		now:     now,
	}
}

var errUnauthenticated = &apierr.Error{Kind: apierr.Unauthenticated, Code: "invalid_api_key",
	Message: "missing, malformed, unknown or revoked API key; send Authorization: Bearer tg_..."}

// Authenticate returns the configuration of the tenant whose key the request
// carries. Errors are *apierr.Error: 401 for a bad key, 503 when the store fails
// (fail closed: no request runs unauthenticated).
func (t *Tenants) Authenticate(r *http.Request) (tenant.Config, error) {
	tok, ok := web.BearerToken(r)
	if !ok {
		return tenant.Config{}, errUnauthenticated
	}
	if _, err := tenant.ParseKey(tok); err != nil {
		return tenant.Config{}, errUnauthenticated
	}
	ctx, now := r.Context(), t.now()
	hash := tenant.HashKey(tok)
	kr, ok := t.keys.Get(hash, now)
	if !ok {
		k, err := t.store.LookupKey(ctx, hash)
		switch {
		case errors.Is(err, tenant.ErrUnknownKey):
			kr = keyResult{unknown: true}
		case err != nil:
			return tenant.Config{}, storeDown(err)
		default:
			kr = keyResult{tenantID: k.TenantID, incarnation: k.Incarnation, keyID: k.ID}
		}
		t.keys.Put(hash, kr, now)
	}
	if kr.unknown {
		return tenant.Config{}, errUnauthenticated
	}
	cfg, err := t.Config(ctx, kr.tenantID)
	if errors.Is(err, tenant.ErrNotFound) {
		return tenant.Config{}, errUnauthenticated // the tenant was deleted
	}
	if err != nil {
		return tenant.Config{}, err
	}
	if cfg.Incarnation != kr.incarnation {
		// Either the key is of a deleted tenant of the same id, or the cached
		// configuration is: a tenant re-created under the id must not wait for
		// TENANT_CACHE_TTL before its keys work. The store decides.
		if cfg, err = t.load(ctx, kr.tenantID); errors.Is(err, tenant.ErrNotFound) {
			return tenant.Config{}, errUnauthenticated
		} else if err != nil {
			return tenant.Config{}, err
		}
		if cfg.Incarnation != kr.incarnation {
			return tenant.Config{}, errUnauthenticated // a key of a deleted tenant of the same id
		}
	}
	info := web.InfoFrom(ctx)
	info.SetTenant(cfg.ID)
	info.SetKey(kr.keyID)
	return cfg, nil
}

// Config returns a tenant's configuration through the cache.
func (t *Tenants) Config(ctx context.Context, id string) (tenant.Config, error) {
	now := t.now()
	if c, ok := t.configs.Get(id, now); ok {
		return c, nil
	}
	return t.load(ctx, id)
}

// load reads a tenant's configuration from the store into the cache.
func (t *Tenants) load(ctx context.Context, id string) (tenant.Config, error) {
	now := t.now()
	c, err := t.store.GetTenant(ctx, id)
	if errors.Is(err, tenant.ErrNotFound) {
		return tenant.Config{}, err
	}
	if err != nil {
		return tenant.Config{}, storeDown(err)
	}
	t.configs.Put(id, c, now)
	return c, nil
}

func storeDown(err error) error {
	return apierr.StoreUnavailable("authenticate the key", err)
}

// Handler is an http.Handler that needs the authenticated tenant.
type Handler func(w http.ResponseWriter, r *http.Request, cfg tenant.Config)

// Require returns a handler that authenticates the tenant, then calls h.
func (t *Tenants) Require(log *slog.Logger, h Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cfg, err := t.Authenticate(r)
		if err != nil {
			if apierr.From(err).Kind == apierr.Unavailable {
				log.ErrorContext(r.Context(), "authenticate", "err", err)
			}
			apierr.Write(w, err)
			return
		}
		h(w, r, cfg)
	})
}

// AdminMode says how the admin API authenticates operators.
type AdminMode string

// The admin modes.
const (
	AdminKey AdminMode = "key" // Authorization: Bearer $ADMIN_API_KEY (local, self-hosted)
	AdminIAM AdminMode = "iam" // API Gateway AWS_IAM authorization already checked the caller
)

// Admin guards h. In AdminKey mode the request must carry the admin key (an empty
// key refuses every request, so an unconfigured server is closed, not open). In
// AdminIAM mode the request must come through API Gateway with a signed caller
// identity, which API Gateway's AWS_IAM authorizer has verified.
func Admin(mode AdminMode, key string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode {
		case AdminIAM:
			gw, ok := core.GetAPIGatewayContextFromContext(r.Context())
			if ok && (gw.Identity.UserArn != "" || gw.Identity.Caller != "") {
				h.ServeHTTP(w, r)
				return
			}
		default:
			tok, ok := web.BearerToken(r)
			if ok && key != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(key)) == 1 {
				h.ServeHTTP(w, r)
				return
			}
		}
		apierr.Write(w, &apierr.Error{Kind: apierr.Unauthenticated, Code: "invalid_admin_key",
			Message: "the admin API needs Authorization: Bearer <ADMIN_API_KEY> (or IAM authorization in AWS)"})
	})
}
