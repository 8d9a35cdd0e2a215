package tenant_test

import (
	"testing"

	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/tenant"
)

// Micro-benchmarks of what every authenticated request runs (ParseKey, HashKey
// for the key cache) and of tenant configuration parsing (admin API).

func BenchmarkParseKey(b *testing.B) {
	_, secret := tenant.NewKey()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tenant.ParseKey(secret); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHashKey(b *testing.B) {
	_, secret := tenant.NewKey()
	b.ReportAllocs()
	for b.Loop() {
		if tenant.HashKey(secret) == "" {
			b.Fatal("empty hash")
		}
	}
}

func BenchmarkParseConfig(b *testing.B) {
	catalog := model.Of(model.Name{Provider: model.OpenAI, Model: "gpt-4o-mini"}, model.Name{Provider: model.Echo, Model: "echo-1"})
	body := []byte(`{"name":"Acme Corp","models":{"default":"openai/gpt-4o-mini","fallbacks":["echo/echo-1"],` +
		`"allowed":["openai/gpt-4o-mini","echo/echo-1"]},"tokenBudget":{"daily":100000,"monthly":2000000},` +
		`"rateLimit":{"requestsPerMinute":600,"tokensPerMinute":200000}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tenant.ParseConfig(body, catalog); err != nil {
			b.Fatal(err)
		}
	}
}
