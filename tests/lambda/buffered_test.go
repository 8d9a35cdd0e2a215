// Package lambda_test builds the real Lambda bootstrap binaries and invokes them
// with the events in events/ through the Lambda Runtime Interface Emulator, with
// dynalite as DynamoDB.
package lambda_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/session"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/tests/lambdatest"
)

var ddb *dynamotest.Server

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m, &ddb)) }

// functionEnv is the environment of a function under test: its table on dynalite.
func functionEnv(t *testing.T, extra map[string]string) (map[string]string, string) {
	srv := dynamotest.Require(t, ddb)
	table := srv.NewTable(t)
	env := map[string]string{
		"TABLE_NAME":                table,
		"AWS_ENDPOINT_URL_DYNAMODB": srv.URL,
		"MODELS":                    "echo/echo-1",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env, table
}

type errorBody struct {
	Error struct {
		Code  *string `json:"code"`
		Param *string `json:"param"`
	} `json:"error"`
}

func TestHealthFunction(t *testing.T) {
	t.Parallel()
	env, _ := functionEnv(t, nil)
	rie := lambdatest.StartRIE(t, lambdatest.Build(t, "health"), env)
	res := lambdatest.DecodeAPIResponse(t, rie.InvokeFile(t, "../../events/health-get.json"))
	if res.StatusCode != 200 {
		t.Fatalf("status %d, body %s", res.StatusCode, res.Body)
	}
	if got := header(res.Headers, res.MultiValueHeaders, "x-request-id"); got != "c6af9ac6-7b61-11e6-9a41-93e8deadbeef" {
		t.Errorf("x-request-id = %q, want the API Gateway request id from the event", got)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil || body["dynamodb"] != "ok" {
		t.Errorf("body %s", res.Body)
	}
	rie.WaitOutput(t, `"msg":"request"`, `"traceId":"Root=1-6745a1b2`)

	// The same function without its table: 503.
	env["TABLE_NAME"] = "no-such-table"
	down := lambdatest.StartRIE(t, lambdatest.Build(t, "health"), env)
	if res := lambdatest.DecodeAPIResponse(t, down.InvokeFile(t, "../../events/health-get.json")); res.StatusCode != 503 {
		t.Errorf("without a table: status %d, want 503; %s", res.StatusCode, res.Body)
	}
}

func TestAdminFunction(t *testing.T) {
	t.Parallel()
	env, table := functionEnv(t, map[string]string{"ADMIN_AUTH": "iam"})
	rie := lambdatest.StartRIE(t, lambdatest.Build(t, "admin"), env)
	tests := []struct {
		event  string
		status int
		code   string
		param  string
	}{
		{"admin-unsigned.json", 401, "invalid_admin_key", ""},
		{"admin-get-tenant-missing.json", 404, "tenant_not_found", ""},
		{"admin-put-tenant-invalid.json", 400, "invalid_tenant_config", "tokenBudget.daily"},
		{"admin-put-tenant.json", 201, "", ""},
		{"admin-put-tenant.json", 200, "", ""},
		{"admin-list-tenants.json", 200, "", ""},
	}
	for _, tt := range tests {
		res := lambdatest.DecodeAPIResponse(t, rie.InvokeFile(t, "../../events/"+tt.event))
		if res.StatusCode != tt.status {
			t.Fatalf("%s: status %d, want %d; %s", tt.event, res.StatusCode, tt.status, res.Body)
		}
		if tt.code != "" {
			var e errorBody
			if err := json.Unmarshal([]byte(res.Body), &e); err != nil || e.Error.Code == nil || *e.Error.Code != tt.code ||
				(tt.param != "" && (e.Error.Param == nil || *e.Error.Param != tt.param)) {
				t.Errorf("%s: body %s, want code %q param %q", tt.event, res.Body, tt.code, tt.param)
			}
		}
	}
	// What the function wrote is really in the table.
	st := dynamotest.Require(t, ddb)
	cfg, err := dynamo.New(st.Client(), table).GetTenant(context.Background(), "acme")
	if err != nil || cfg.Name != "Acme Corp" || cfg.Version != 2 {
		t.Errorf("stored tenant = %+v, %v", cfg, err)
	}
}

func header(single map[string]string, multi map[string][]string, name string) string {
	for k, v := range single {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range multi {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// eventKey is the tenant key the sample events carry.
const eventKey = "tg_EXAMPLE_key_for_sample_events_only_00000000"

// eventTenant stores the tenant "acme", with a daily budget of 5000 tokens,
// and eventKey as its key.
func eventTenant(t *testing.T, st *dynamo.Store, now time.Time) {
	t.Helper()
	ctx := context.Background()
	cfg, _, err := st.PutTenant(ctx, tenant.Config{ID: "acme", TokenBudget: tenant.Budget{Daily: 5000}}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateKey(ctx, tenant.Key{ID: "key_0123456789abcdef", TenantID: "acme", CreatedAt: now, Incarnation: cfg.Incarnation}, tenant.HashKey(eventKey)); err != nil {
		t.Fatal(err)
	}
}

func TestUsageFunction(t *testing.T) {
	t.Parallel()
	env, table := functionEnv(t, nil)
	st := dynamo.New(dynamotest.Require(t, ddb).Client(), table)
	eventTenant(t, st, time.Now())
	rie := lambdatest.StartRIE(t, lambdatest.Build(t, "usage"), env)
	res := lambdatest.DecodeAPIResponse(t, rie.InvokeFile(t, "../../events/usage-get.json"))
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, res.Body)
	}
	var body struct {
		TenantID string `json:"tenantId"`
		Day      struct {
			Limit int64 `json:"limit"`
		} `json:"day"`
		History []any `json:"history"`
	}
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil || body.TenantID != "acme" || body.Day.Limit != 5000 || len(body.History) != 2 {
		t.Errorf("body %s", res.Body)
	}
}

func TestSessionsFunction(t *testing.T) {
	t.Parallel()
	env, table := functionEnv(t, nil)
	st := dynamo.New(dynamotest.Require(t, ddb).Client(), table)
	ctx := context.Background()
	now := time.Now()
	cfg, _, err := st.PutTenant(ctx, tenant.Config{ID: "acme"}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateKey(ctx, tenant.Key{ID: "key_0123456789abcdef", TenantID: "acme", CreatedAt: now, Incarnation: cfg.Incarnation}, tenant.HashKey(eventKey)); err != nil {
		t.Fatal(err)
	}
	exp := session.Expiry{Idle: 24 * time.Hour, MaxAge: 30 * 24 * time.Hour}
	if err := st.AppendTurn(ctx, cfg.Scope(), "support-chat-42", nil, []session.Message{{Role: "user", Content: "hi", CreatedAt: now}, {Role: "assistant", Content: "hello", CreatedAt: now}}, now, exp); err != nil {
		t.Fatal(err)
	}
	rie := lambdatest.StartRIE(t, lambdatest.Build(t, "sessions"), env)
	for _, tt := range []struct {
		event  string
		status int
		want   string
	}{
		{"sessions-list.json", 200, `"sessionId":"support-chat-42"`},
		{"sessions-get.json", 200, `"content":"hello"`},
		{"sessions-delete.json", 204, ""},
		{"sessions-get.json", 404, `"session_not_found"`},
	} {
		res := lambdatest.DecodeAPIResponse(t, rie.InvokeFile(t, "../../events/"+tt.event))
		if res.StatusCode != tt.status || !strings.Contains(res.Body, tt.want) {
			t.Errorf("%s: %d %s, want %d with %s", tt.event, res.StatusCode, res.Body, tt.status, tt.want)
		}
	}
}

// TestEmbeddingsFunction runs the embeddings bootstrap under the emulator with
// its sample event: the tenant's key, the echo embedding model, the usage
// charged in the table.
func TestEmbeddingsFunction(t *testing.T) {
	t.Parallel()
	env, table := functionEnv(t, map[string]string{"MODELS": "echo/echo-1,echo/echo-embed-1"})
	st := dynamo.New(dynamotest.Require(t, ddb).Client(), table)
	ctx, now := context.Background(), time.Now()
	eventTenant(t, st, now)
	rie := lambdatest.StartRIE(t, lambdatest.Build(t, "embeddings"), env)
	res := lambdatest.DecodeAPIResponse(t, rie.InvokeFile(t, "../../events/embeddings-create.json"))
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, res.Body)
	}
	var body struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float64 `json:"embedding"`
		} `json:"data"`
		Model string `json:"model"`
		Usage struct {
			PromptTokens int64 `json:"prompt_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil || body.Model != "echo/echo-embed-1" || len(body.Data) != 2 ||
		len(body.Data[1].Embedding) != 8 || body.Data[1].Index != 1 || body.Usage.PromptTokens <= 0 {
		t.Fatalf("body %s", res.Body)
	}
	if h := header(res.Headers, res.MultiValueHeaders, "x-budget-remaining-daily"); h == "" {
		t.Errorf("no budget header: %v", res.Headers)
	}
	mu, err := st.MonthUsage(ctx, dynamotest.Scope(t, st, "acme"), budget.PeriodsAt(now).Month)
	if err != nil {
		t.Fatal(err)
	}
	if day := mu.Days[budget.PeriodsAt(now).Day]; day.Used != body.Usage.PromptTokens || day.Reserved != 0 {
		t.Errorf("the table holds %+v for the day, want %d tokens used, none reserved", day, body.Usage.PromptTokens)
	}
}
