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
