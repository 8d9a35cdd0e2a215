package tenant_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/tenant"
)

var catalog = model.Of(model.Name{Provider: "openai", Model: "gpt-4o-mini"}, model.Name{Provider: "echo", Model: "echo-1"})

func TestParseConfig(t *testing.T) {
	cfg, v, err := tenant.ParseConfig([]byte(`{
		"name": "Acme", "tenantId": "ignored", "createdAt": "x", "updatedAt": null, "version": 3,
		"models": {"default": "echo/echo-1", "fallbacks": ["openai/gpt-4o-mini"], "allowed": ["echo/echo-1", "openai/gpt-4o-mini"]},
		"tokenBudget": {"daily": 100, "monthly": 50, "minOutputTokens": 8},
		"rateLimit": {"requestsPerMinute": 0, "tokensPerMinute": null}}`), catalog)
	if err != nil {
		t.Fatal(err)
	}
	want := tenant.Config{
		Name:        "Acme",
		Models:      tenant.Models{Default: "echo/echo-1", Fallbacks: []string{"openai/gpt-4o-mini"}, Allowed: []string{"echo/echo-1", "openai/gpt-4o-mini"}},
		TokenBudget: tenant.Budget{Daily: 100, Monthly: 50, MinOutputTokens: 8},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("ParseConfig (-want +got):\n%s", diff)
	}
	if v == nil || *v != 3 {
		t.Errorf("version = %v, want 3", v)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for body, path := range map[string]string{
		`{"x":1}`:                                     "x",
		`{"models":{"allowed":"echo/echo-1"}}`:        "models.allowed",
		`{"models":{"allowed":[""]}}`:                 "models.allowed[0]",
		`{"models":[]}`:                               "models",
		`{"tokenBudget":{"monthly":1e3}}`:             "tokenBudget.monthly",
		`{"tokenBudget":{"daily":99999999999999999}}`: "tokenBudget.daily",
		`{"version":0}`:                               "version",
		`{"name":5}`:                                  "name",
		`"hello"`:                                     "",
		`{"models":{"default":"echo/echo 1"}}`:        "models.default",
	} {
		_, _, err := tenant.ParseConfig([]byte(body), catalog)
		var fe *tenant.FieldError
		if !errors.As(err, &fe) || fe.Path != path {
			t.Errorf("ParseConfig(%s) = %v, want a FieldError at %q", body, err, path)
		}
	}
}

func TestAllows(t *testing.T) {
	all := tenant.Config{}
	some := tenant.Config{Models: tenant.Models{Allowed: []string{"echo/echo-1"}}}
	echo, oai, other := catalog.Names()[1], catalog.Names()[0], model.Name{Provider: "echo", Model: "x"}
	if !all.Allows(oai, catalog) || all.Allows(other, catalog) || !some.Allows(echo, catalog) || some.Allows(oai, catalog) {
		t.Error("Allows disagrees with the allow-list rules")
	}
	if got := some.AllowedModels(catalog); len(got) != 1 || got[0] != echo {
		t.Errorf("AllowedModels = %v", got)
	}
}

func TestKeys(t *testing.T) {
	id, secret := tenant.NewKey()
	if !tenant.ValidKeyID(id) {
		t.Errorf("ValidKeyID(%q) = false", id)
	}
	if _, err := tenant.ParseKey(secret); err != nil {
		t.Errorf("ParseKey(NewKey()) = %v", err)
	}
	_, other := tenant.NewKey()
	if other == secret || tenant.HashKey(other) == tenant.HashKey(secret) || len(tenant.HashKey(secret)) != 64 {
		t.Error("keys or hashes collide, or the hash is not hex SHA-256")
	}
	for _, bad := range []string{"", "tg_", "sk-abc", secret + "A", strings.Replace(secret, secret[5:6], "!", 1), "TG" + secret[2:]} {
		if _, err := tenant.ParseKey(bad); !errors.Is(err, tenant.ErrMalformedKey) {
			t.Errorf("ParseKey(%q) = %v, want ErrMalformedKey", bad, err)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"name":"a"}`, `{"models":{"default":"echo/echo-1","allowed":["echo/echo-1"]}}`,
		`{"tokenBudget":{"daily":1,"monthly":2,"minOutputTokens":3}}`, `{"rateLimit":{"requestsPerMinute":-1}}`,
		`{"version":"1"}`, `{"models":{"fallbacks":[null]}}`, `[`, `{"a":{"b":`, `null`, "\x00", `{"name":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := tenant.ParseConfig(data, catalog)
		if err != nil {
			var fe *tenant.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseConfig error %T %v is not a *FieldError", err, err)
			}
			return
		}
		if cfg.TokenBudget.Daily < 0 || cfg.TokenBudget.Monthly < 0 || cfg.RateLimit.RequestsPerMinute < 0 || cfg.RateLimit.TokensPerMinute < 0 {
			t.Fatalf("accepted a negative limit: %+v", cfg)
		}
		if err := cfg.Validate(catalog); err != nil {
			t.Fatalf("accepted config fails Validate: %v", err)
		}
	})
}

func FuzzParseKey(f *testing.F) {
	_, k := tenant.NewKey()
	for _, s := range []string{k, "", "tg_", "tg_" + strings.Repeat("-", 43), "Bearer " + k} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := tenant.ParseKey(s)
		if err != nil {
			return
		}
		if got != s || !strings.HasPrefix(s, "tg_") || len(s) != 46 {
			t.Fatalf("ParseKey accepted %q", s)
		}
	})
}
