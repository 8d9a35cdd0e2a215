// Package admin serves the operators' API: tenants and their API keys.
package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/money"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/usage"
	"github.com/tollgate/tollgate/shared/web"
)

// Store is what the admin API reads and writes. *dynamo.Store implements it.
type Store interface {
	PutTenant(ctx context.Context, cfg tenant.Config, expected *int64, now time.Time) (tenant.Config, bool, error)
	GetTenant(ctx context.Context, id string) (tenant.Config, error)
	ListTenants(ctx context.Context, limit int, cursor string) ([]tenant.Config, string, error)
	DeleteTenant(ctx context.Context, id string, now, sweepAt time.Time) error
	CreateKey(ctx context.Context, k tenant.Key, hash string) error
	ListKeys(ctx context.Context, scope string) ([]tenant.Key, error)
	RevokeKey(ctx context.Context, scope, keyID string, now time.Time) error
	usage.Store
	PriceStore
}

// Deps are the admin API's dependencies.
type Deps struct {
	Log     *slog.Logger
	Store   Store
	Catalog model.Catalog // MODELS
	Prices  money.Table   // the shipped defaults with MODEL_PRICES
	// PricesChanged, when set, is called after a price is set or deleted (the
	// local server's gateway forgets its cached table).
	PricesChanged   func()
	MaxRequestBytes int64
	// Lingering is how long a deleted tenant's requests may still run (a key
	// cached before the deletion, a stream begun before it): the period-close
	// job purges the tenant's data again once it has passed.
	Lingering time.Duration
	Now       func() time.Time
}

type handler struct{ Deps }

// Register adds the admin routes to mux. The caller guards them (auth.Admin).
func Register(mux *http.ServeMux, d Deps, guard func(http.Handler) http.Handler) {
	h := handler{d}
	route := func(pattern string, f func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := f(w, r); err != nil {
				var e *apierr.Error
				if !errors.As(err, &e) { // the store failed: fail closed, as every route does
					err = apierr.StoreUnavailable("reach the tenant store", err)
				}
				if k := apierr.From(err).Kind; k == apierr.Internal || k == apierr.Unavailable {
					h.Log.ErrorContext(r.Context(), "admin", "err", err)
				}
				apierr.Write(w, err)
			}
		})))
	}
	route("PUT /admin/tenants/{id}", h.putTenant)
	route("GET /admin/tenants/{id}", h.getTenant)
	route("GET /admin/tenants", h.listTenants)
	route("DELETE /admin/tenants/{id}", h.deleteTenant)
	route("POST /admin/tenants/{id}/keys", h.createKey)
	route("GET /admin/tenants/{id}/keys", h.listKeys)
	route("DELETE /admin/tenants/{id}/keys/{keyId}", h.revokeKey)
	route("GET /admin/tenants/{id}/usage", h.usage)
	route("GET /admin/tenants/{id}/usage/requests", h.usageRecords)
	route("GET /admin/prices", h.listPrices)
	route("PUT /admin/prices/{model...}", h.putPrice)
	route("DELETE /admin/prices/{model...}", h.deletePrice)
}

func tenantID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !tenant.ValidID(id) {
		return "", apierr.InvalidParam("invalid_tenant_id", "tenantId",
			"tenantId "+strconv.Quote(id)+" must match [a-z0-9][a-z0-9-]{1,62}")
	}
	return id, nil
}

var errTenantNotFound = apierr.New(apierr.NotFound, "tenant_not_found", "no such tenant")

func (h handler) putTenant(w http.ResponseWriter, r *http.Request) error {
	id, err := tenantID(r)
	if err != nil {
		return err
	}
	body, err := web.ReadBody(r, h.MaxRequestBytes)
	if err != nil {
		return err
	}
	cfg, bodyVersion, err := tenant.ParseConfig(body, h.Catalog)
	var fe *tenant.FieldError
	if errors.As(err, &fe) {
		code := "invalid_tenant_config"
		if fe.Path == "" {
			code = "invalid_json"
		}
		return apierr.InvalidParam(code, fe.Path, fe.Error())
	}
	if err != nil {
		return err
	}
	expected := bodyVersion
	if im := r.Header.Get("If-Match"); im != "" {
		v, ok := parseETag(im)
		if !ok {
			return apierr.InvalidParam("invalid_if_match", "If-Match", `If-Match must be an ETag such as "3"`)
		}
		if bodyVersion != nil && *bodyVersion != v {
			return apierr.InvalidParam("version_mismatch", "version", "the version field and If-Match disagree")
		}
		expected = &v
	}
	cfg.ID = id
	out, created, err := h.Store.PutTenant(r.Context(), cfg, expected, h.Now())
	if errors.Is(err, tenant.ErrVersionConflict) {
		return apierr.New(apierr.Conflict, "version_conflict",
			"the tenant was changed (or does not exist) since the version you sent; GET it and retry")
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("ETag", etag(out.Version))
	web.JSON(w, status, out)
	return nil
}

// tenant reads the tenant the path names: 400 for a malformed id, 404 for none.
func (h handler) tenant(r *http.Request) (tenant.Config, error) {
	id, err := tenantID(r)
	if err != nil {
		return tenant.Config{}, err
	}
	cfg, err := h.Store.GetTenant(r.Context(), id)
	if errors.Is(err, tenant.ErrNotFound) {
		return tenant.Config{}, errTenantNotFound
	}
	return cfg, err
}

func (h handler) getTenant(w http.ResponseWriter, r *http.Request) error {
	cfg, err := h.tenant(r)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(cfg.Version))
	web.JSON(w, http.StatusOK, cfg)
	return nil
}

// List is a page of a listing.
type List[T any] struct {
	Object     string `json:"object"` // "list"
	Data       []T    `json:"data"`
	NextCursor string `json:"nextCursor,omitempty"`
}

func (h handler) listTenants(w http.ResponseWriter, r *http.Request) error {
	limit := 50
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return apierr.InvalidParam("invalid_limit", "limit", "limit must be an integer from 1 to 100")
		}
		limit = n
	}
	ts, next, err := h.Store.ListTenants(r.Context(), limit, r.URL.Query().Get("cursor"))
	if errors.Is(err, tenant.ErrBadCursor) {
		return apierr.InvalidParam("invalid_cursor", "cursor", "cursor is not one this API returned")
	}
	if err != nil {
		return err
	}
	web.JSON(w, http.StatusOK, List[tenant.Config]{Object: "list", Data: ts, NextCursor: next})
	return nil
}

func (h handler) deleteTenant(w http.ResponseWriter, r *http.Request) error {
	id, err := tenantID(r)
	if err != nil {
		return err
	}
	now := h.Now()
	err = h.Store.DeleteTenant(r.Context(), id, now, now.Add(h.Lingering))
	if errors.Is(err, tenant.ErrNotFound) {
		return errTenantNotFound
	}
	if errors.Is(err, tenant.ErrPurgeUnfinished) {
		// Deleted: nothing of it is reachable any more, and the period-close job
		// deletes what is left.
		h.Log.WarnContext(r.Context(), "tenant deleted, purge unfinished", "tenantId", id, "err", err)
		err = nil
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// CreatedKey is the answer to a key creation: the only time the secret is shown.
type CreatedKey struct {
	tenant.Key
	Secret string `json:"key"`
}

func (h handler) createKey(w http.ResponseWriter, r *http.Request) error {
	if _, err := tenantID(r); err != nil {
		return err
	}
	var req struct {
		Name string `json:"name"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
	if err != nil {
		return apierr.New(apierr.TooLarge, "request_too_large", "a key request body is at most 4096 bytes")
	}
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return apierr.InvalidParam("invalid_json", "", `the body must be empty or {"name": "..."}`)
		}
		if len(req.Name) > 128 {
			return apierr.InvalidParam("invalid_key_name", "name", "name must be at most 128 characters")
		}
	}
	cfg, err := h.tenant(r)
	if err != nil {
		return err
	}
	k, secret := tenant.IssueKey(&cfg, req.Name, h.Now())
	if err := h.Store.CreateKey(r.Context(), k, tenant.HashKey(secret)); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	web.JSON(w, http.StatusCreated, CreatedKey{Key: k, Secret: secret})
	return nil
}

func (h handler) listKeys(w http.ResponseWriter, r *http.Request) error {
	cfg, err := h.tenant(r)
	if err != nil {
		return err
	}
	keys, err := h.Store.ListKeys(r.Context(), cfg.Scope())
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []tenant.Key{}
	}
	web.JSON(w, http.StatusOK, List[tenant.Key]{Object: "list", Data: keys})
	return nil
}

func (h handler) revokeKey(w http.ResponseWriter, r *http.Request) error {
	if _, err := tenantID(r); err != nil {
		return err
	}
	keyID := r.PathValue("keyId")
	if !tenant.ValidKeyID(keyID) {
		return apierr.InvalidParam("invalid_key_id", "keyId", "keyId "+strconv.Quote(keyID)+" is malformed")
	}
	cfg, err := h.tenant(r)
	if err != nil {
		return err
	}
	err = h.Store.RevokeKey(r.Context(), cfg.Scope(), keyID, h.Now())
	if errors.Is(err, tenant.ErrUnknownKey) {
		return apierr.New(apierr.NotFound, "key_not_found", "the tenant has no such key")
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h handler) usage(w http.ResponseWriter, r *http.Request) error {
	cfg, err := h.tenant(r)
	if err != nil {
		return err
	}
	usage.Serve(w, r, h.Store, &cfg, h.Now())
	return nil
}

func (h handler) usageRecords(w http.ResponseWriter, r *http.Request) error {
	cfg, err := h.tenant(r)
	if err != nil {
		return err
	}
	usage.ServeRecords(w, r, h.Store, &cfg)
	return nil
}

func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

func parseETag(s string) (int64, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	if len(s) < 3 || s[0] != '"' || s[len(s)-1] != '"' {
		return 0, false
	}
	v, err := strconv.ParseInt(s[1:len(s)-1], 10, 64)
	return v, err == nil && v > 0
}
