// Package tenant holds a tenant's configuration (models, budgets, rate limits), its
// strict JSON form for the admin API, and API-key generation and hashing.
package tenant

import (
	"errors"
	"time"

	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/money"
)

// Config is one tenant's configuration. The zero value of a limit means unlimited.
type Config struct {
	ID          string     `json:"tenantId"`
	Name        string     `json:"name"`
	Models      Models     `json:"models"`
	TokenBudget Budget     `json:"tokenBudget"`
	CostBudget  CostBudget `json:"costBudget"`
	RateLimit   RateLimit  `json:"rateLimit"`
	Knowledge   Knowledge  `json:"knowledge,omitzero"`
	Version     int64      `json:"version"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
	// Incarnation is given to a tenant when it is created, never changed by an
	// update, and new when a deleted id is created again ("" for a tenant created
	// before incarnations existed). Its data is kept under Scope, so a tenant
	// created again under a deleted id starts with none of its predecessor's
	// sessions, responses, usage or keys.
	Incarnation string `json:"-"`
}

// Scope is the key under which the store keeps the tenant's data and keys: the
// id and the incarnation. Ids have no '.', so no two tenants share a scope.
func (c *Config) Scope() string { return ScopeOf(c.ID, c.Incarnation) }

// ScopeOf is the scope of tenant id in incarnation inc.
func ScopeOf(id, inc string) string {
	if inc == "" {
		return id
	}
	return id + "." + inc
}

// Models says which models a tenant uses. Names are "provider/model".
type Models struct {
	Default   string   `json:"default,omitempty"`
	Fallbacks []string `json:"fallbacks,omitempty"`
	Allowed   []string `json:"allowed,omitempty"` // absent: the whole catalog
	// UnsupportedParams says what happens to a request parameter the answering
	// model's provider cannot honour: "refuse" (a 400 naming it) or "drop" (the
	// parameter is left out and the response says so); "" follows the
	// deployment's UNSUPPORTED_PARAMS.
	UnsupportedParams string `json:"unsupportedParams,omitempty"`
	// EmbeddingDefault is the embedding model of requests to /v1/embeddings
	// that name none; "" follows the deployment's DEFAULT_EMBEDDING_MODEL.
	EmbeddingDefault string `json:"embeddingDefault,omitempty"`
	// EmbeddingFallbacks are tried in order when the embedding model fails;
	// only those whose vectors have the primary's length answer.
	EmbeddingFallbacks []string `json:"embeddingFallbacks,omitempty"`
}

// The values of Models.UnsupportedParams and of UNSUPPORTED_PARAMS.
const (
	UnsupportedRefuse = "refuse"
	UnsupportedDrop   = "drop"
)

// ValidUnsupportedParams reports whether v is "", "refuse" or "drop".
func ValidUnsupportedParams(v string) bool {
	return v == "" || v == UnsupportedRefuse || v == UnsupportedDrop
}

// Budget holds token budgets; input plus output tokens count.
type Budget struct {
	Daily           int64 `json:"daily,omitempty"`
	Monthly         int64 `json:"monthly,omitempty"`
	MinOutputTokens int64 `json:"minOutputTokens,omitempty"` // 0: DefaultMinOutputTokens
}

// CostBudget is a tenant's money budgets, in micro-dollars (the JSON form is
// dollars); 0 means unlimited.
type CostBudget struct {
	Daily   money.Micros `json:"daily,omitempty"`
	Monthly money.Micros `json:"monthly,omitempty"`
}

// Limited reports whether the tenant has a money budget.
func (b CostBudget) Limited() bool { return b.Daily > 0 || b.Monthly > 0 }

// Knowledge is a tenant's knowledge-base settings.
type Knowledge struct {
	// StorageBytes is the most its uploaded files may take together; 0
	// follows the deployment's FILE_STORAGE_QUOTA, -1 means unlimited.
	StorageBytes int64 `json:"storageBytes,omitempty"`
	// VectorStoreIDs are searched for every chat request that names no vector
	// store itself; MaxResults is how many chunks they add (0: 5).
	VectorStoreIDs []string `json:"vectorStoreIds,omitempty"`
	MaxResults     int64    `json:"maxResults,omitempty"`
}

// DefaultMinOutputTokens is the smallest output a clamped request may be given.
const DefaultMinOutputTokens = 16

// RateLimit holds per-minute limits.
type RateLimit struct {
	RequestsPerMinute int64 `json:"requestsPerMinute,omitempty"`
	TokensPerMinute   int64 `json:"tokensPerMinute,omitempty"`
}

// A Purge is a deleted tenant whose data may not all be deleted yet: its scope
// is purged until SweepAt, when nothing may still write to it.
type Purge struct {
	TenantID, Scope    string
	DeletedAt, SweepAt time.Time
}

// Sentinel errors for stores and callers.
var (
	ErrNotFound        = errors.New("tenant not found")
	ErrVersionConflict = errors.New("tenant version conflict")
	ErrUnknownKey      = errors.New("unknown or revoked API key")
	// ErrBadCursor is returned for a page cursor the store did not produce.
	ErrBadCursor = errors.New("malformed page cursor")
	// ErrPurgeUnfinished wraps what stopped the deletion of a deleted tenant's
	// data: nothing of it is reachable, and the period-close job deletes the rest.
	ErrPurgeUnfinished = errors.New("tenant deleted, purge of its data unfinished")
)

// Allows reports whether the tenant may use n, given the deployment's catalog.
func (c *Config) Allows(n model.Name, catalog model.Catalog) bool {
	if !catalog.Has(n) {
		return false
	}
	if c.Models.Allowed == nil {
		return true
	}
	s := n.String()
	for _, a := range c.Models.Allowed {
		if a == s {
			return true
		}
	}
	return false
}

// AllowedModels returns the catalogued models the tenant may use, in catalog order.
func (c *Config) AllowedModels(catalog model.Catalog) []model.Name {
	var out []model.Name
	for _, n := range catalog.Names() {
		if c.Allows(n, catalog) {
			out = append(out, n)
		}
	}
	return out
}

// Key is an API key's metadata. The secret is never stored, only its hash.
type Key struct {
	ID        string     `json:"keyId"`
	TenantID  string     `json:"tenantId"`
	Name      string     `json:"name,omitempty"`
	Hint      string     `json:"hint"` // last 4 characters of the secret, to tell keys apart
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	// Incarnation is the tenant incarnation the key was made for: a key opens
	// only that incarnation, never a tenant created later under the same id.
	Incarnation string `json:"-"`
}
