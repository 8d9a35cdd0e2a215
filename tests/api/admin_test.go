package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

var acme = map[string]any{
	"name": "Acme Corp",
	"models": map[string]any{
		"default":   "openai/gpt-4o-mini",
		"fallbacks": []string{"bedrock/anthropic.claude-3-5-haiku-20241022-v1:0"},
		"allowed":   []string{"openai/gpt-4o-mini", "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0"},
	},
	"tokenBudget": map[string]any{"daily": 100000, "monthly": 2000000},
	"rateLimit":   map[string]any{"requestsPerMinute": 600, "tokensPerMinute": 200000},
}

func TestTenantCRUD(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)

	r := g.Admin("PUT", "/admin/tenants/acme", acme)
	if r.Status != http.StatusCreated {
		t.Fatalf("PUT new tenant: status %d, want 201; %s", r.Status, r.Body)
	}
	if got := r.Header.Get("ETag"); got != `"1"` {
		t.Errorf("ETag = %q, want \"1\"", got)
	}
	created := r.JSON(t)
	for _, f := range []string{"tenantId", "version", "createdAt", "updatedAt"} {
		if created[f] == nil {
			t.Errorf("PUT response lacks %s: %s", f, r.Body)
		}
	}

	r = g.Admin("GET", "/admin/tenants/acme", nil)
	if r.Status != 200 || r.Header.Get("ETag") != `"1"` {
		t.Fatalf("GET: %d %q %s", r.Status, r.Header.Get("ETag"), r.Body)
	}
	got := r.JSON(t)
	if got["name"] != "Acme Corp" || got["tokenBudget"].(map[string]any)["daily"] != float64(100000) {
		t.Errorf("GET returned %s", r.Body)
	}

	// GET -> edit -> PUT round trip: read-only fields are accepted and ignored,
	// version is applied as the expected version.
	got["name"] = "Acme Inc"
	g.Clock.Add(time.Minute)
	r = g.Admin("PUT", "/admin/tenants/acme", got)
	if r.Status != 200 || r.Header.Get("ETag") != `"2"` {
		t.Fatalf("PUT round trip: %d %q %s", r.Status, r.Header.Get("ETag"), r.Body)
	}
	updated := r.JSON(t)
	if updated["createdAt"] != created["createdAt"] || updated["updatedAt"] == created["updatedAt"] {
		t.Errorf("timestamps after update: created %v -> %v, updated %v -> %v",
			created["createdAt"], updated["createdAt"], created["updatedAt"], updated["updatedAt"])
	}

	// The same stale body again: 409.
	wantError(t, g.Admin("PUT", "/admin/tenants/acme", got), 409, "version_conflict", "")
	// A stale If-Match: 409; the current one: 200.
	wantError(t, g.Admin("PUT", "/admin/tenants/acme", acme, "If-Match", `"1"`), 409, "version_conflict", "")
	if r := g.Admin("PUT", "/admin/tenants/acme", acme, "If-Match", `"2"`); r.Status != 200 {
		t.Errorf("PUT with current If-Match: %d %s", r.Status, r.Body)
	}
	// Neither: unconditional replace.
	if r := g.Admin("PUT", "/admin/tenants/acme", acme); r.Status != 200 || r.Header.Get("ETag") != `"4"` {
		t.Errorf("unconditional PUT: %d %q %s", r.Status, r.Header.Get("ETag"), r.Body)
	}

	r = g.Admin("DELETE", "/admin/tenants/acme", nil)
	if r.Status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.Status, r.Body)
	}
	wantError(t, g.Admin("GET", "/admin/tenants/acme", nil), 404, "tenant_not_found", "")
	wantError(t, g.Admin("DELETE", "/admin/tenants/acme", nil), 404, "tenant_not_found", "")
}

func TestListTenants(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	for i := range 5 {
		if r := g.Admin("PUT", fmt.Sprintf("/admin/tenants/t%d", i), map[string]any{"name": "x"}); r.Status != 201 {
			t.Fatalf("PUT: %d %s", r.Status, r.Body)
		}
	}
	var ids []string
	path := "/admin/tenants?limit=2"
	for range 5 {
		r := g.Admin("GET", path, nil)
		if r.Status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		m := r.JSON(t)
		for _, d := range m["data"].([]any) {
			ids = append(ids, d.(map[string]any)["tenantId"].(string))
		}
		next, _ := m["nextCursor"].(string)
		if next == "" {
			break
		}
		path = "/admin/tenants?limit=2&cursor=" + next
	}
	if strings.Join(ids, ",") != "t0,t1,t2,t3,t4" {
		t.Errorf("listed %v, want t0..t4", ids)
	}
	wantError(t, g.Admin("GET", "/admin/tenants?limit=0", nil), 400, "invalid_limit", "limit")
	wantError(t, g.Admin("GET", "/admin/tenants?cursor=zzz", nil), 400, "invalid_cursor", "cursor")
}

func TestTenantValidation(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	tests := []struct {
		name, path, body, code, param string
		status                        int
	}{
		{"unknown field", "/admin/tenants/a1", `{"nmae":"x"}`, "invalid_tenant_config", "nmae", 400},
		{"unknown nested field", "/admin/tenants/a1", `{"tokenBudget":{"hourly":5}}`, "invalid_tenant_config", "tokenBudget.hourly", 400},
		{"negative budget", "/admin/tenants/a1", `{"tokenBudget":{"daily":-1}}`, "invalid_tenant_config", "tokenBudget.daily", 400},
		{"fractional limit", "/admin/tenants/a1", `{"rateLimit":{"requestsPerMinute":1.5}}`, "invalid_tenant_config", "rateLimit.requestsPerMinute", 400},
		{"string limit", "/admin/tenants/a1", `{"rateLimit":{"tokensPerMinute":"10"}}`, "invalid_tenant_config", "rateLimit.tokensPerMinute", 400},
		{"malformed model", "/admin/tenants/a1", `{"models":{"default":"gpt-4o"}}`, "invalid_tenant_config", "models.default", 400},
		{"unknown provider", "/admin/tenants/a1", `{"models":{"allowed":["azure/gpt"]}}`, "invalid_tenant_config", "models.allowed[0]", 400},
		{"uncatalogued model", "/admin/tenants/a1", `{"models":{"fallbacks":["openai/gpt-5"]}}`, "invalid_tenant_config", "models.fallbacks[0]", 400},
		{"default outside allowed", "/admin/tenants/a1", `{"models":{"default":"echo/echo-2","allowed":["echo/echo-1"]}}`, "invalid_tenant_config", "models.default", 400},
		{"fallback outside allowed", "/admin/tenants/a1", `{"models":{"fallbacks":["echo/echo-2"],"allowed":["echo/echo-1"]}}`, "invalid_tenant_config", "models.fallbacks[0]", 400},
		{"bad tenant id", "/admin/tenants/Acme_Corp", `{}`, "invalid_tenant_id", "tenantId", 400},
		{"one-letter tenant id", "/admin/tenants/a", `{}`, "invalid_tenant_id", "tenantId", 400},
		{"not JSON", "/admin/tenants/a1", `{"name":`, "invalid_json", "", 400},
		{"array", "/admin/tenants/a1", `[]`, "invalid_json", "", 400},
		{"empty body", "/admin/tenants/a1", ``, "invalid_json", "", 400},
		{"trailing data", "/admin/tenants/a1", `{} {}`, "invalid_json", "", 400},
		{"duplicate key", "/admin/tenants/a1", `{"name":"a","name":"b"}`, "invalid_tenant_config", "name", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, g.Admin("PUT", tt.path, tt.body), tt.status, tt.code, tt.param)
		})
	}
	// A rejected request wrote nothing.
	r := g.Admin("GET", "/admin/tenants", nil)
	if data := r.JSON(t)["data"].([]any); len(data) != 0 {
		t.Errorf("after only rejected PUTs the table holds %d tenants: %s", len(data), r.Body)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string]string{"MAX_REQUEST_BYTES": "2048"})
	big := `{"name":"` + strings.Repeat("x", 4096) + `"}`
	wantError(t, g.Admin("PUT", "/admin/tenants/big", big), 413, "request_too_large", "")
	wantError(t, g.Admin("GET", "/admin/tenants/big", nil), 404, "tenant_not_found", "")
}

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	for _, tok := range []string{"", "wrong", adminKey + "x"} {
		wantError(t, g.Do("GET", "/admin/tenants", tok, nil), 401, "invalid_admin_key", "")
		wantError(t, g.Do("PUT", "/admin/tenants/acme", tok, acme), 401, "invalid_admin_key", "")
	}
	if r := g.Admin("GET", "/admin/tenants/acme", nil); r.Status != 404 {
		t.Errorf("unauthorised PUT wrote a tenant: GET = %d %s", r.Status, r.Body)
	}
	// A server without ADMIN_API_KEY is closed, not open.
	closed := newGateway(t, map[string]string{"ADMIN_API_KEY": ""})
	wantError(t, closed.Do("GET", "/admin/tenants", "", nil), 401, "invalid_admin_key", "")
}

func TestKeys(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	wantError(t, g.Admin("POST", "/admin/tenants/acme/keys", nil), 404, "tenant_not_found", "")
	g.Admin("PUT", "/admin/tenants/acme", acme)
	g.Admin("PUT", "/admin/tenants/other", map[string]any{"name": "Other"})

	r := g.Admin("POST", "/admin/tenants/acme/keys", map[string]any{"name": "prod"})
	if r.Status != 201 {
		t.Fatalf("create key: %d %s", r.Status, r.Body)
	}
	k := r.JSON(t)
	secret, keyID := k["key"].(string), k["keyId"].(string)
	if !strings.HasPrefix(secret, "tg_") || len(secret) < 3+43 {
		t.Errorf("key %q: want tg_ and at least 32 random bytes", secret)
	}
	if r := g.Do("GET", "/v1/models", secret, nil); r.Status != 200 || !strings.Contains(string(r.Body), `"openai/gpt-4o-mini"`) || strings.Contains(string(r.Body), "echo/") {
		t.Fatalf("new key does not authenticate: %d %s", r.Status, r.Body)
	}

	r = g.Admin("GET", "/admin/tenants/acme/keys", nil)
	if r.Status != 200 || strings.Contains(string(r.Body), secret) || !strings.Contains(string(r.Body), keyID) {
		t.Fatalf("list keys: %d %s (must list the id, never the secret)", r.Status, r.Body)
	}
	if strings.Contains(g.Logs.String(), secret) {
		t.Error("the secret key appears in the logs")
	}

	// Another tenant cannot revoke acme's key.
	wantError(t, g.Admin("DELETE", "/admin/tenants/other/keys/"+keyID, nil), 404, "key_not_found", "")
	wantError(t, g.Admin("DELETE", "/admin/tenants/acme/keys/nope", nil), 400, "invalid_key_id", "keyId")
	if r := g.Admin("DELETE", "/admin/tenants/acme/keys/"+keyID, nil); r.Status != 204 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	// Revoked, but cached: still accepted until the key cache TTL (30 s) passes.
	if r := g.Do("GET", "/v1/models", secret, nil); r.Status != 200 {
		t.Errorf("within the cache TTL: %d, want 200 (cached)", r.Status)
	}
	g.Clock.Add(31 * time.Second)
	wantError(t, g.Do("GET", "/v1/models", secret, nil), 401, "invalid_api_key", "")

	r = g.Admin("GET", "/admin/tenants/acme/keys", nil)
	if !strings.Contains(string(r.Body), "revokedAt") {
		t.Errorf("revoked key not shown as revoked: %s", r.Body)
	}
}

func TestTenantKeyAuth(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	g.Admin("PUT", "/admin/tenants/acme", acme)
	secret := g.Admin("POST", "/admin/tenants/acme/keys", nil).JSON(t)["key"].(string)
	for name, tok := range map[string]string{
		"missing":   "",
		"malformed": "sk-123",
		"unknown":   "tg_" + strings.Repeat("A", 43),
		"truncated": secret[:len(secret)-1],
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, g.Do("GET", "/v1/models", tok, nil), 401, "invalid_api_key", "")
		})
	}
	// Deleting the tenant revokes its keys.
	g.Admin("DELETE", "/admin/tenants/acme", nil)
	g.Clock.Add(31 * time.Second)
	wantError(t, g.Do("GET", "/v1/models", secret, nil), 401, "invalid_api_key", "")
}

func TestHealth(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string]string{"OPENAI_API_KEY": "sk-secret-do-not-show"})
	r := g.Do("GET", "/health", "", nil)
	if r.Status != 200 {
		t.Fatalf("health: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if m["dynamodb"] != "ok" || m["defaultModel"] != "echo/echo-1" {
		t.Errorf("health body %s", r.Body)
	}
	if strings.Contains(string(r.Body), "sk-secret") {
		t.Error("health shows a secret")
	}
	if p := m["providers"].(map[string]any); p["openai"] != true || p["echo"] != true || p["bedrock"] != true {
		t.Errorf("providers = %v", p)
	}

	// A table DynamoDB does not have: 503, degraded.
	down := newGateway(t, map[string]string{"TABLE_NAME": "no-such-table"})
	r = down.Do("GET", "/health", "", nil)
	if r.Status != 503 || r.JSON(t)["dynamodb"] != "unavailable" {
		t.Errorf("health without a table: %d %s, want 503 unavailable", r.Status, r.Body)
	}
}

func TestRequestIDAndLogLine(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	r := g.Do("GET", "/nowhere", "", nil, "X-Amzn-Trace-Id", "Root=1-abc-def")
	wantError(t, r, 404, "route_not_found", "")
	id := r.Header.Get("x-request-id")
	var line string
	for _, l := range strings.Split(g.Logs.String(), "\n") {
		if strings.Contains(l, id) {
			line = l
		}
	}
	for _, want := range []string{`"msg":"request"`, `"status":404`, `"traceId":"Root=1-abc-def"`, `"durationMs"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %s lacks %s", line, want)
		}
	}
}
