package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/periodclose"
	"github.com/tollgate/tollgate/tests/gatewaytest"
)

var reuseTenant = map[string]any{"name": "Acme", "tokenBudget": map[string]any{"daily": 100000, "monthly": 1000000}}

// use gives tenant "acme" (through key) data on every route that keeps any: a
// session, a stored response, usage from chat, responses and embeddings, and a
// second key. It returns the stored response's id and the second key's id.
func use(t *testing.T, g *gatewaytest.Gateway, key string) (respID, keyID string) {
	t.Helper()
	msgs := func(s string) []map[string]string { return []map[string]string{{"role": "user", "content": s}} }
	if r := g.Do("POST", "/chat", key, map[string]any{"sessionId": "s1", "messages": msgs("the old tenant's secret")}); r.Status != 200 {
		t.Fatalf("chat: %d %s", r.Status, r.Body)
	}
	if r := g.Do("POST", "/v1/chat/completions", key, map[string]any{"messages": msgs("hello")}); r.Status != 200 {
		t.Fatalf("chat completions: %d %s", r.Status, r.Body)
	}
	r := g.Do("POST", "/v1/responses", key, map[string]any{"input": "the old tenant's response"})
	if r.Status != 200 {
		t.Fatalf("responses: %d %s", r.Status, r.Body)
	}
	respID = r.JSON(t)["id"].(string)
	if r := g.Do("POST", "/v1/embeddings", key, map[string]any{"input": "old words", "model": "echo/echo-embed-1"}); r.Status != 200 {
		t.Fatalf("embeddings: %d %s", r.Status, r.Body)
	}
	r = g.Admin("POST", "/admin/tenants/acme/keys", map[string]any{"name": "second"})
	if r.Status != 201 {
		t.Fatalf("second key: %d %s", r.Status, r.Body)
	}
	return respID, r.JSON(t)["keyId"].(string)
}

// empty checks that tenant "acme", through key, sees nothing of a predecessor
// that had the stored response respID, the key keyID and the session s1.
func empty(t *testing.T, g *gatewaytest.Gateway, key, respID, keyID string) {
	t.Helper()
	for _, tc := range []struct{ method, path, code string }{
		{"GET", "/sessions/s1", "session_not_found"},
		{"DELETE", "/sessions/s1", "session_not_found"},
	} {
		gatewaytest.WantError(t, g.Do(tc.method, tc.path, key, nil), 404, tc.code, "")
	}
	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/responses/" + respID},
		{"GET", "/v1/responses/" + respID + "/input_items"},
		{"DELETE", "/v1/responses/" + respID},
	} {
		gatewaytest.WantError(t, g.Do(tc.method, tc.path, key, nil), 404, "not_found", "response_id")
	}
	gatewaytest.WantError(t, g.Do("POST", "/v1/responses", key, map[string]any{"input": "go on", "previous_response_id": respID}),
		404, "previous_response_not_found", "previous_response_id")
	gatewaytest.WantError(t, g.Admin("DELETE", "/admin/tenants/acme/keys/"+keyID, nil), 404, "key_not_found", "")
	if r := g.Do("GET", "/sessions", key, nil); r.Status != 200 || len(r.JSON(t)["data"].([]any)) != 0 {
		t.Errorf("GET /sessions: %d %s", r.Status, r.Body)
	}
	keys := g.Admin("GET", "/admin/tenants/acme/keys", nil).JSON(t)["data"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["revokedAt"] != nil {
		t.Errorf("keys of the new tenant: %v, want its one live key", keys)
	}
	for _, path := range []string{"/usage?days=3", ""} {
		var u map[string]any
		if path == "" {
			u = g.Admin("GET", "/admin/tenants/acme/usage?days=3", nil).JSON(t)
		} else {
			u = g.Do("GET", path, key, nil).JSON(t)
		}
		if s := fmt.Sprint(u); !strings.Contains(s, "used:0") || strings.Contains(fmt.Sprint(u["history"]), "requests:1") {
			t.Errorf("usage of the new tenant: %s", s)
		}
	}
	// A conversation under the old session id starts afresh.
	if r := g.Do("POST", "/chat", key, map[string]any{"sessionId": "s1", "messages": []map[string]string{{"role": "user", "content": "new"}}}); r.Status != 200 {
		t.Fatalf("chat: %d %s", r.Status, r.Body)
	}
	if msgs := g.Do("GET", "/sessions/s1", key, nil).JSON(t)["messages"].([]any); len(msgs) != 2 {
		t.Errorf("the new tenant's session s1 has %d messages, want its own 2: %v", len(msgs), msgs)
	}
}

// TestTenantIDReuse: a deleted tenant's keys stop working, and a tenant created
// later under the same id starts empty on every route: no sessions, stored
// responses, usage or keys of its predecessor.
func TestTenantIDReuse(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string]string{"MODELS": "echo/echo-1,echo/echo-embed-1"})
	old := g.NewTenant("acme", reuseTenant)
	respID, keyID := use(t, g, old)
	if r := g.Do("GET", "/sessions/s1", old, nil); r.Status != 200 {
		t.Fatalf("the old tenant's session: %d %s", r.Status, r.Body)
	}
	if r := g.Admin("DELETE", "/admin/tenants/acme", nil); r.Status != 204 {
		t.Fatalf("DELETE: %d %s", r.Status, r.Body)
	}
	g.Clock.Add(time.Minute) // past the key and tenant caches
	for _, path := range []string{"/sessions", "/usage", "/v1/models", "/v1/responses/" + respID} {
		gatewaytest.WantError(t, g.Do("GET", path, old, nil), 401, "invalid_api_key", "")
	}
	fresh := g.NewTenant("acme", reuseTenant)
	for _, path := range []string{"/sessions", "/usage"} {
		gatewaytest.WantError(t, g.Do("GET", path, old, nil), 401, "invalid_api_key", "")
	}
	empty(t, g, fresh, respID, keyID)
}

// TestTenantPurgeFinishedByTheJob: when the purge fails after the tenant is
// deleted, DELETE still answers 204 (nothing of it is reachable: its keys do not
// open the id's next tenant), and the period-close job deletes what was left.
// When the deletion itself fails, the job leaves the live tenant's data alone.
func TestTenantPurgeFinishedByTheJob(t *testing.T) {
	t.Parallel()
	f := dynamotest.Require(t, ddb).Faulty(t)
	g := gatewaytest.Start(t, f.Server, map[string]string{"MODELS": "echo/echo-1,echo/echo-embed-1"}, nil)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()

	// The deletion fails: the tenant lives on with everything, the job too.
	old := g.NewTenant("acme", reuseTenant)
	respID, keyID := use(t, g, old)
	f.Set(func(op string, _ []byte) dynamotest.Action {
		if op == "DeleteItem" {
			return dynamotest.Refuse
		}
		return dynamotest.Pass
	})
	gatewaytest.WantError(t, g.Admin("DELETE", "/admin/tenants/acme", nil), 503, "store_unavailable", "")
	f.Set(nil)
	if _, err := periodclose.Run(ctx, g.App.Store, quiet, g.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	g.Clock.Add(time.Minute)
	if r := g.Do("GET", "/v1/responses/"+respID, old, nil); r.Status != 200 {
		t.Fatalf("after a failed deletion and the job: %d %s", r.Status, r.Body)
	}
	if ps, err := g.App.Store.Purges(ctx); err != nil || len(ps) != 0 {
		t.Errorf("purge markers after the job: %+v, %v", ps, err)
	}

	// The purge fails: the tenant is gone all the same.
	f.Set(func(op string, _ []byte) dynamotest.Action {
		if op == "BatchWriteItem" {
			return dynamotest.Refuse
		}
		return dynamotest.Pass
	})
	if r := g.Admin("DELETE", "/admin/tenants/acme", nil); r.Status != 204 {
		t.Fatalf("DELETE with the purge failing: %d %s", r.Status, r.Body)
	}
	f.Set(nil)
	g.Logs.WaitLines(t, 1, 10*time.Second, func(m map[string]any) bool { return m["msg"] == "tenant deleted, purge unfinished" })
	g.Clock.Add(time.Minute)
	fresh := g.NewTenant("acme", reuseTenant)
	gatewaytest.WantError(t, g.Do("GET", "/sessions/s1", old, nil), 401, "invalid_api_key", "")
	empty(t, g, fresh, respID, keyID)

	// The job purges the old scope on every run until the sweep time has
	// passed (requests admitted before the deletion may still write), then
	// ends the purge.
	ps, err := g.App.Store.Purges(ctx)
	if err != nil || len(ps) != 1 {
		t.Fatalf("purge markers after the failed purge: %+v, %v", ps, err)
	}
	left := scopeItems(t, f.Server, g.App.Store.Table(), ps[0].Scope)
	if left == 0 {
		t.Fatal("the failed purge left nothing of the old tenant: the test proves nothing")
	}
	res, err := periodclose.Run(ctx, g.App.Store, quiet, g.Clock.Now())
	if err != nil || res.PurgedItems != left {
		t.Fatalf("job: %+v, %v; want the old tenant's %d items purged", res, err, left)
	}
	if n := scopeItems(t, f.Server, g.App.Store.Table(), ps[0].Scope); n != 0 {
		t.Errorf("%d items of the old tenant after the job", n)
	}
	if ps, err := g.App.Store.Purges(ctx); err != nil || len(ps) != 1 {
		t.Errorf("purge markers before the sweep time: %+v, %v", ps, err)
	}
	if res, err := periodclose.Run(ctx, g.App.Store, quiet, g.Clock.Now().Add(time.Hour)); err != nil || res.PurgedItems != 0 {
		t.Errorf("job after the sweep time: %+v, %v", res, err)
	}
	if ps, err := g.App.Store.Purges(ctx); err != nil || len(ps) != 0 {
		t.Errorf("purge markers after the sweep time: %+v, %v", ps, err)
	}
	// The new tenant kept its own.
	if msgs := g.Do("GET", "/sessions/s1", fresh, nil).JSON(t)["messages"].([]any); len(msgs) != 2 {
		t.Errorf("the new tenant's session after the job: %v", msgs)
	}
}

// scopeItems counts the items of table that belong to scope: under one of its
// partitions or, for keys, indexed under it.
func scopeItems(t *testing.T, srv *dynamotest.Server, table, scope string) int {
	t.Helper()
	n := 0
	p := dynamodb.NewScanPaginator(srv.Client(), &dynamodb.ScanInput{TableName: aws.String(table)})
	for p.HasMorePages() {
		res, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			for _, attr := range []string{"pk", "gsi1pk"} {
				if v, ok := it[attr].(*types.AttributeValueMemberS); ok &&
					(v.Value == "TENANT#"+scope || strings.HasPrefix(v.Value, "TENANT#"+scope+"#")) {
					n++
					break
				}
			}
		}
	}
	return n
}

// TestTenantRecreatedWhileCached: a tenant re-created under an id whose old
// configuration is still in the gateway's tenant cache can use its new keys at
// once, not after TENANT_CACHE_TTL.
func TestTenantRecreatedWhileCached(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string]string{"MODELS": "echo/echo-1"})
	old := g.NewTenant("acme", reuseTenant)
	if r := g.Do("GET", "/usage", old, nil); r.Status != 200 { // caches the configuration
		t.Fatalf("old tenant: %d %s", r.Status, r.Body)
	}
	if r := g.Admin("DELETE", "/admin/tenants/acme", nil); r.Status != 204 {
		t.Fatalf("DELETE: %d %s", r.Status, r.Body)
	}
	fresh := g.NewTenant("acme", reuseTenant)
	for _, path := range []string{"/usage", "/sessions", "/v1/models"} {
		if r := g.Do("GET", path, fresh, nil); r.Status != 200 {
			t.Errorf("GET %s with the new tenant's key: %d %s", path, r.Status, r.Body)
		}
	}
}
