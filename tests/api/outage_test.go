package api_test

import (
	"testing"

	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/tests/gatewaytest"
)

// TestStalledStore: with DynamoDB stalled (accepting calls, answering none),
// every route that needs it fails closed with 503 store_unavailable within
// DYNAMODB_TIMEOUT, instead of hanging until the client gives up.
func TestStalledStore(t *testing.T) {
	t.Parallel()
	f := dynamotest.Require(t, ddb).Faulty(t)
	g := gatewaytest.Start(t, f.Server, map[string]string{
		"MODELS": "echo/echo-1", "DYNAMODB_TIMEOUT": "1s", "DYNAMODB_ATTEMPT_TIMEOUT": "400ms",
	}, nil)
	key := g.NewTenant("acme", map[string]any{"name": "Acme"})
	cold := g.NewTenant("beta", map[string]any{"name": "Beta"}) // never used: not in the key cache
	if r := g.Do("POST", "/v1/chat/completions", key, map[string]any{"messages": []map[string]string{{"role": "user", "content": "warm"}}}); r.Status != 200 {
		t.Fatalf("warm-up: %d %s", r.Status, r.Body)
	}
	f.Set(func(string, []byte) dynamotest.Action { return dynamotest.Stall })
	t.Cleanup(func() { f.Set(nil); f.Release() }) // before the table is deleted through the proxy
	chat := map[string]any{"messages": []map[string]string{{"role": "user", "content": "hello"}}}
	for _, tc := range []struct {
		name, method, path, key string
		body                    any
	}{
		{"chat, cached key", "POST", "/v1/chat/completions", key, chat},
		{"chat, uncached key", "POST", "/v1/chat/completions", cold, chat},
		{"responses", "POST", "/v1/responses", key, map[string]any{"input": "hello"}},
		{"stored response", "GET", "/v1/responses/resp_0123456789abcdef0123456789abcdef", key, nil},
		{"usage", "GET", "/usage", key, nil},
		{"session", "GET", "/sessions/s1", key, nil},
		{"admin", "GET", "/admin/tenants/acme", gatewaytest.AdminKey, nil},
		{"admin write", "PUT", "/admin/tenants/gamma", gatewaytest.AdminKey, map[string]any{"name": "Gamma"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gatewaytest.WantError(t, g.Do(tc.method, tc.path, tc.key, tc.body), 503, "store_unavailable", "")
		})
	}
}
