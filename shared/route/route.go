// Package route decides which models answer a tenant's request: the primary model,
// by the precedence of docs/adrs/0002-model-resolution.md, then the tenant's
// fallbacks. It is pure: configuration in, plan out.
package route

import (
	"errors"
	"fmt"

	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/tenant"
)

// Source says where the primary model came from (the x-tollgate-model-source header).
type Source string

// The sources, highest precedence first.
const (
	FromRequest  Source = "request"
	FromOverride Source = "override"
	FromTenant   Source = "tenant"
	FromDefault  Source = "default"
)

// Plan is the ordered list of models to try: the primary first, then fallbacks.
type Plan struct {
	Models []model.Name
	Source Source
}

// Deployment is what the deployment's configuration contributes.
type Deployment struct {
	Catalog  model.Catalog // MODELS
	Override model.Name    // MODEL_OVERRIDE; zero when unset
	Default  model.Name    // DEFAULT_MODEL
	// DefaultEmbedding is DEFAULT_EMBEDDING_MODEL; zero: the catalog's first
	// embedding model.
	DefaultEmbedding model.Name
}

// Errors; each wraps the offending model name in its message.
var (
	ErrMalformed  = model.ErrMalformed
	ErrUnknown    = errors.New("model not in the catalog")
	ErrNotAllowed = errors.New("model not allowed for this tenant")
	ErrWrongKind  = errors.New("model of the wrong kind")
)

// Resolve returns the plan for a request that asked for requested ("" when it named
// no model). Precedence: requested > d.Override > tenant models.default > d.Default.
// The tenant's fallbacks follow in order, skipping duplicates and any model the
// tenant may no longer use.
func Resolve(requested string, cfg *tenant.Config, d Deployment) (Plan, error) {
	var (
		name string
		src  Source
	)
	switch {
	case requested != "":
		name, src = requested, FromRequest
	case !d.Override.IsZero():
		name, src = d.Override.String(), FromOverride
	case cfg.Models.Default != "":
		name, src = cfg.Models.Default, FromTenant
	default:
		name, src = d.Default.String(), FromDefault
	}
	primary, err := model.Parse(name)
	if err != nil {
		return Plan{}, err // wraps model.ErrMalformed
	}
	if !d.Catalog.Has(primary) {
		return Plan{}, fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	if k := d.Catalog.Kind(primary); k != model.Chat {
		return Plan{}, fmt.Errorf("%w: %q is an %s model, not a chat model", ErrWrongKind, name, k)
	}
	if !cfg.Allows(primary, d.Catalog) {
		return Plan{}, fmt.Errorf("%w: %q", ErrNotAllowed, name)
	}
	p := Plan{Models: []model.Name{primary}, Source: src}
	for _, f := range cfg.Models.Fallbacks {
		n, err := model.Parse(f)
		if err != nil || !cfg.Allows(n, d.Catalog) || d.Catalog.Kind(n) != model.Chat || model.In(n, p.Models) {
			continue // validated on write; the catalog may have shrunk since
		}
		p.Models = append(p.Models, n)
	}
	return p, nil
}

// ResolveEmbedding returns the plan of an embeddings request that asked for
// requested ("" when it named none). The primary is requested > the tenant's
// models.embeddingDefault > d.DefaultEmbedding > the catalog's first embedding
// model, and must be an embedding model the tenant may use; the tenant's
// models.embeddingFallbacks follow, skipping duplicates and any model it may no
// longer use. Whether a fallback's vectors are comparable (the same length) is
// the caller's to check: the plan does not know dimensions.
func ResolveEmbedding(requested string, cfg *tenant.Config, d Deployment) (Plan, error) {
	primary, src, err := resolveEmbedding(requested, cfg, d)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Models: []model.Name{primary}, Source: src}
	for _, f := range cfg.Models.EmbeddingFallbacks {
		n, err := model.Parse(f)
		if err != nil || !cfg.Allows(n, d.Catalog) || d.Catalog.Kind(n) != model.Embedding || model.In(n, p.Models) {
			continue
		}
		p.Models = append(p.Models, n)
	}
	return p, nil
}

func resolveEmbedding(requested string, cfg *tenant.Config, d Deployment) (model.Name, Source, error) {
	name, src := requested, FromRequest
	switch {
	case requested != "":
	case cfg.Models.EmbeddingDefault != "":
		name, src = cfg.Models.EmbeddingDefault, FromTenant
	case !d.DefaultEmbedding.IsZero():
		name, src = d.DefaultEmbedding.String(), FromDefault
	default:
		all := d.Catalog.OfKind(model.Embedding)
		if len(all) == 0 {
			return model.Name{}, "", fmt.Errorf("%w: this deployment serves no embedding model (MODELS)", ErrUnknown)
		}
		name, src = all[0].String(), FromDefault
	}
	n, err := model.Parse(name)
	if err != nil {
		return model.Name{}, "", err
	}
	switch {
	case !d.Catalog.Has(n):
		return model.Name{}, "", fmt.Errorf("%w: %q", ErrUnknown, name)
	case d.Catalog.Kind(n) != model.Embedding:
		return model.Name{}, "", fmt.Errorf("%w: %q is a %s model, not an embedding model", ErrWrongKind, name, d.Catalog.Kind(n))
	case !cfg.Allows(n, d.Catalog):
		return model.Name{}, "", fmt.Errorf("%w: %q", ErrNotAllowed, name)
	}
	return n, src, nil
}
