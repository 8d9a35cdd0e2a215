package route_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/route"
	"github.com/tollgate/tollgate/shared/tenant"
)

func n(s string) model.Name {
	m, err := model.Parse(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestResolve(t *testing.T) {
	catalog := model.NewCatalog([]model.Name{n("echo/a"), n("echo/b"), n("openai/c"), n("bedrock/d:1"), n("openai/text-embedding-3-small"), n("openai/bge")},
		map[model.Name]model.Kind{n("openai/bge"): model.Embedding})
	withDefault := tenant.Config{Models: tenant.Models{Default: "echo/b", Fallbacks: []string{"echo/a", "echo/b", "openai/bge", "openai/c", "openai/zzz"}}}
	restricted := tenant.Config{Models: tenant.Models{Allowed: []string{"echo/a"}}}
	tests := []struct {
		name      string
		requested string
		cfg       tenant.Config
		d         route.Deployment
		want      []string
		src       route.Source
		err       error
	}{
		{"request wins", "openai/c", withDefault, route.Deployment{Catalog: catalog, Override: n("echo/a"), Default: n("echo/a")}, []string{"openai/c", "echo/a", "echo/b"}, route.FromRequest, nil},
		{"override beats tenant", "", withDefault, route.Deployment{Catalog: catalog, Override: n("bedrock/d:1"), Default: n("echo/a")}, []string{"bedrock/d:1", "echo/a", "echo/b", "openai/c"}, route.FromOverride, nil},
		{"tenant beats default", "", withDefault, route.Deployment{Catalog: catalog, Default: n("echo/a")}, []string{"echo/b", "echo/a", "openai/c"}, route.FromTenant, nil},
		{"default", "", tenant.Config{}, route.Deployment{Catalog: catalog, Default: n("echo/a")}, []string{"echo/a"}, route.FromDefault, nil},
		{"malformed", "gpt-4o", tenant.Config{}, route.Deployment{Catalog: catalog, Default: n("echo/a")}, nil, "", route.ErrMalformed},
		{"unknown", "openai/gpt-5", tenant.Config{}, route.Deployment{Catalog: catalog, Default: n("echo/a")}, nil, "", route.ErrUnknown},
		{"not allowed", "echo/b", restricted, route.Deployment{Catalog: catalog, Default: n("echo/a")}, nil, "", route.ErrNotAllowed},
		{"default not allowed", "", restricted, route.Deployment{Catalog: catalog, Default: n("echo/b")}, nil, "", route.ErrNotAllowed},
		{"embedding model", "openai/text-embedding-3-small", tenant.Config{}, route.Deployment{Catalog: catalog, Default: n("echo/a")}, nil, "", route.ErrWrongKind},
		{"marked embedding model", "openai/bge", tenant.Config{}, route.Deployment{Catalog: catalog, Default: n("echo/a")}, nil, "", route.ErrWrongKind},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := route.Resolve(tt.requested, &tt.cfg, tt.d)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Resolve err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			var got []string
			for _, m := range p.Models {
				got = append(got, m.String())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("plan = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("plan = %v, want %v", got, tt.want)
				}
			}
			if p.Source != tt.src {
				t.Errorf("source = %q, want %q", p.Source, tt.src)
			}
		})
	}
}

func TestResolveEmbedding(t *testing.T) {
	catalog := model.Of(n("echo/a"), n("echo/echo-embed-1"), n("openai/text-embedding-3-small"))
	d := route.Deployment{Catalog: catalog, Default: n("echo/a")}
	withDefault := tenant.Config{Models: tenant.Models{EmbeddingDefault: "openai/text-embedding-3-small"}}
	restricted := tenant.Config{Models: tenant.Models{Allowed: []string{"echo/a", "echo/echo-embed-1"}}}
	for _, tt := range []struct {
		name, requested string
		cfg             tenant.Config
		d               route.Deployment
		want            string
		src             route.Source
		err             error
	}{
		{"request", "openai/text-embedding-3-small", tenant.Config{}, d, "openai/text-embedding-3-small", route.FromRequest, nil},
		{"tenant", "", withDefault, d, "openai/text-embedding-3-small", route.FromTenant, nil},
		{"deployment", "", tenant.Config{}, route.Deployment{Catalog: catalog, DefaultEmbedding: n("openai/text-embedding-3-small")}, "openai/text-embedding-3-small", route.FromDefault, nil},
		{"first of the catalog", "", tenant.Config{}, d, "echo/echo-embed-1", route.FromDefault, nil},
		{"none", "", tenant.Config{}, route.Deployment{Catalog: model.Of(n("echo/a"))}, "", "", route.ErrUnknown},
		{"chat model", "echo/a", tenant.Config{}, d, "", "", route.ErrWrongKind},
		{"chat model, not allowed either", "echo/a", tenant.Config{Models: tenant.Models{Allowed: []string{"echo/echo-embed-1"}}}, d, "", "", route.ErrWrongKind},
		{"not allowed", "openai/text-embedding-3-small", restricted, d, "", "", route.ErrNotAllowed},
		{"unknown", "openai/text-embedding-9", tenant.Config{}, d, "", "", route.ErrUnknown},
	} {
		p, err := route.ResolveEmbedding(tt.requested, &tt.cfg, tt.d)
		got := ""
		if len(p.Models) > 0 {
			got = p.Models[0].String()
		}
		if !errors.Is(err, tt.err) || got != tt.want || p.Source != tt.src {
			t.Errorf("%s: ResolveEmbedding = %v, %v; want %s, %q, %v", tt.name, p, err, tt.want, tt.src, tt.err)
		}
	}
}

func TestResolveEmbeddingFallbacks(t *testing.T) {
	catalog := model.Of(n("echo/a"), n("echo/echo-embed-1"), n("openai/text-embedding-3-small"), n("openai/text-embedding-3-large"))
	cfg := tenant.Config{Models: tenant.Models{EmbeddingDefault: "echo/echo-embed-1",
		EmbeddingFallbacks: []string{"echo/echo-embed-1", "echo/a", "openai/text-embedding-3-small", "openai/gone", "openai/text-embedding-3-large"}}}
	p, err := route.ResolveEmbedding("", &cfg, route.Deployment{Catalog: catalog})
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Name{n("echo/echo-embed-1"), n("openai/text-embedding-3-small"), n("openai/text-embedding-3-large")}
	if fmt.Sprint(p.Models) != fmt.Sprint(want) || p.Source != route.FromTenant {
		t.Errorf("plan %v from %s, want %v from the tenant: duplicates, chat models and unknown models left out", p.Models, p.Source, want)
	}
}
