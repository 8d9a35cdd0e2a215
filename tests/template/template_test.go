package template_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/config"
	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/tests/lambdatest"
)

// Limits of API Gateway REST APIs (docs.aws.amazon.com/apigateway, response
// streaming): a streamed response lasts at most 15 minutes, and the connection
// is closed after 5 minutes without a byte (Regional endpoints).
const (
	streamMax       = 15 * time.Minute
	streamIdleLimit = 5 * time.Minute
	bufferedTimeout = 29 // seconds: the default integration timeout of buffered routes
)

// chatFunction is the one function that answers in Lambda's streaming format.
const chatFunction = "ChatFunction"

func TestFunctionPerDirectory(t *testing.T) {
	tmpl := loadTemplate(t)
	fns := resources(tmpl, "AWS::Serverless::Function")
	var want []string
	for _, dir := range functionDirs(t) {
		id := logicalID(dir)
		want = append(want, id)
		fn, ok := fns[id]
		if !ok {
			t.Errorf("functions/%s has no AWS::Serverless::Function %s in template.yaml", dir, id)
			continue
		}
		if got := fnProp(tmpl, fn, "CodeUri"); got != "." {
			t.Errorf("%s: CodeUri = %v, want . (the repository root, where the Makefile is)", id, got)
		}
		if got := getString(fn, "Metadata", "BuildMethod"); got != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod = %q, want makefile", id, got)
		}
	}
	slices.Sort(want)
	if got := keys(fns); !slices.Equal(got, want) {
		t.Errorf("functions in template.yaml = %v, want one per directory of functions/ (except local): %v", got, want)
	}
}

// makeTargets returns the Makefile's build-<LogicalId> targets and their recipes.
func makeTargets(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(lambdatest.Root(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	target := ""
	target_ := regexp.MustCompile(`^(build-[A-Za-z0-9]+Function):`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if mt := target_.FindStringSubmatch(line); mt != nil {
			target = mt[1]
			out[target] = ""
			continue
		}
		if strings.HasPrefix(line, "\t") && target != "" {
			out[target] += strings.TrimSpace(line) + "\n"
			continue
		}
		target = ""
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMakefileTargets(t *testing.T) {
	targets := makeTargets(t)
	dirs := functionDirs(t)
	for _, dir := range dirs {
		target := "build-" + logicalID(dir)
		recipe, ok := targets[target]
		if !ok {
			t.Errorf("Makefile has no %s target, which sam build (BuildMethod: makefile) runs for functions/%s", target, dir)
			continue
		}
		// TestBuildRecipe checks the command it runs.
		if !strings.Contains(recipe, "./functions/"+dir+"\n") || !strings.Contains(recipe, "$(ARTIFACTS_DIR)") {
			t.Errorf("%s recipe %q does not build ./functions/%s into $(ARTIFACTS_DIR)", target, recipe, dir)
		}
	}
	for target := range targets {
		if !slices.ContainsFunc(dirs, func(d string) bool { return "build-"+logicalID(d) == target }) {
			t.Errorf("Makefile target %s builds no function of template.yaml", target)
		}
	}
	// The FUNCTIONS variable drives make build.
	b, err := os.ReadFile(filepath.Join(lambdatest.Root(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	mt := regexp.MustCompile(`(?m)^FUNCTIONS\s*:?=\s*(.*)$`).FindSubmatch(b)
	if mt == nil {
		t.Fatal("Makefile sets no FUNCTIONS")
	}
	got := strings.Fields(string(mt[1]))
	slices.Sort(got)
	if !slices.Equal(got, dirs) {
		t.Errorf("Makefile FUNCTIONS = %v, want %v", got, dirs)
	}
}

func TestRuntime(t *testing.T) {
	tmpl := loadTemplate(t)
	g := globalFunction(tmpl)
	for prop, want := range map[string]any{"Runtime": "provided.al2023", "Handler": "bootstrap", "Architectures": []any{"arm64"}} {
		if diff := cmp.Diff(want, get(g, prop)); diff != "" {
			t.Errorf("Globals.Function.%s (-want +got):\n%s", prop, diff)
		}
	}
	if got := getString(g, "LoggingConfig", "LogFormat"); got != "JSON" {
		t.Errorf("Globals.Function.LoggingConfig.LogFormat = %q, want JSON", got)
	}
	for id, fn := range resources(tmpl, "AWS::Serverless::Function") {
		for _, prop := range []string{"Runtime", "Handler", "Architectures", "PackageType"} {
			if v := get(fn, "Properties", prop); v != nil {
				t.Errorf("%s overrides %s = %v; every function is a provided.al2023 arm64 bootstrap", id, prop, v)
			}
		}
		for _, prop := range []string{"MemorySize", "Timeout"} {
			if fnProp(tmpl, fn, prop) == nil {
				t.Errorf("%s has no %s", id, prop)
			}
		}
		// Each function logs to its own group, with the stack's retention.
		lg := ref(get(fn, "Properties", "LoggingConfig", "LogGroup"))
		if lg == "" || getString(tmpl, "Resources", lg, "Type") != "AWS::Logs::LogGroup" ||
			ref(get(tmpl, "Resources", lg, "Properties", "RetentionInDays")) != "LogRetentionDays" {
			t.Errorf("%s: LoggingConfig.LogGroup = %v, want a Ref to its AWS::Logs::LogGroup with RetentionInDays: !Ref LogRetentionDays", id, get(fn, "Properties", "LoggingConfig"))
		}
		if slices.ContainsFunc(apiEvents(tmpl), func(e apiEvent) bool { return e.Function == id }) && id != chatFunction {
			if to, _ := fnProp(tmpl, fn, "Timeout").(int); to > bufferedTimeout {
				t.Errorf("%s: Timeout %ds outlives its buffered routes' %ds integration timeout", id, to, bufferedTimeout)
			}
		}
	}
	chat := resources(tmpl, "AWS::Serverless::Function")[chatFunction]
	if to, _ := fnProp(tmpl, chat, "Timeout").(int); time.Duration(to)*time.Second != streamMax {
		t.Errorf("%s: Timeout %ds, want %v, REST response streaming's limit", chatFunction, to, streamMax)
	}
}

func TestRoutes(t *testing.T) {
	tmpl := loadTemplate(t)
	evs := apiEvents(tmpl)
	if len(evs) == 0 {
		t.Fatal("no Api events")
	}
	api := getMap(tmpl, "Resources", "GatewayApi")
	if getString(api, "Type") != "AWS::Serverless::Api" || getString(api, "Properties", "EndpointConfiguration", "Type") != "REGIONAL" {
		t.Errorf("GatewayApi: want one REGIONAL AWS::Serverless::Api, got %v", api)
	}
	if n := len(resources(tmpl, "AWS::Serverless::Api")) + len(resources(tmpl, "AWS::Serverless::HttpApi")) + len(resources(tmpl, "AWS::ApiGateway::RestApi")); n != 1 {
		t.Errorf("%d APIs, want one REST API", n)
	}
	logs, _ := getAtt(get(api, "Properties", "AccessLogSetting", "DestinationArn"))
	if logs == "" || get(tmpl, "Resources", logs, "Properties", "RetentionInDays") == nil || getString(api, "Properties", "AccessLogSetting", "Format") == "" {
		t.Errorf("GatewayApi: want access logs (AccessLogSetting) into a log group with a retention")
	}
	seen := map[string]bool{}
	for _, e := range evs {
		if ref(e.Props["RestApiId"]) != "GatewayApi" {
			t.Errorf("%s: RestApiId = %v, want !Ref GatewayApi", e, e.Props["RestApiId"])
		}
		key := strings.ToUpper(e.Method) + " " + e.Path
		if seen[key] {
			t.Errorf("%s is declared twice", key)
		}
		seen[key] = true
		mode := getString(e.Props, "ResponseTransferMode")
		switch {
		case mode == "STREAM":
			t.Errorf("%s: ResponseTransferMode STREAM is the CloudFormation value; at the SAM level it silently produces a buffered integration: use RESPONSE_STREAM", e)
		case e.Function == chatFunction && mode != "RESPONSE_STREAM":
			// The chat function answers every event in Lambda's streaming format,
			// which a buffered integration cannot read.
			t.Errorf("%s: ResponseTransferMode = %q, want RESPONSE_STREAM: the chat function always streams", e, mode)
		case e.Function != chatFunction && mode != "" && mode != "BUFFERED":
			t.Errorf("%s: ResponseTransferMode = %q, want buffered: %s answers with buffered responses", e, mode, e.Function)
		}
		admin := e.Path == "/admin" || strings.HasPrefix(e.Path, "/admin/")
		authz := getString(e.Props, "Auth", "Authorizer")
		switch {
		case admin && (authz != "AWS_IAM" || getString(e.Props, "Auth", "InvokeRole") != "NONE"):
			// InvokeRole NONE: otherwise SAM's default, CALLER_CREDENTIALS, makes
			// API Gateway invoke the function with the caller's own credentials.
			t.Errorf("%s: Auth = %v, want {Authorizer: AWS_IAM, InvokeRole: NONE}", e, e.Props["Auth"])
		case !admin && authz != "" && authz != "NONE":
			t.Errorf("%s: Auth = %v; tenant routes authenticate with tenant keys inside the function", e, e.Props["Auth"])
		case admin && e.Function != "AdminFunction":
			t.Errorf("%s: admin routes belong to AdminFunction", e)
		}
	}
	// The chat routes stream for up to REST streaming's 15 minutes.
	for _, route := range []string{"POST /chat", "POST /v1/chat/completions", "POST /v1/responses"} {
		i := slices.IndexFunc(evs, func(e apiEvent) bool { return strings.ToUpper(e.Method)+" "+e.Path == route })
		if i < 0 {
			t.Errorf("no %s route", route)
			continue
		}
		e := evs[i]
		ms, _ := e.Props["TimeoutInMillis"].(int)
		if e.Function != chatFunction || getString(e.Props, "ResponseTransferMode") != "RESPONSE_STREAM" || time.Duration(ms)*time.Millisecond != streamMax {
			t.Errorf("%s: want %s with ResponseTransferMode RESPONSE_STREAM and TimeoutInMillis %d", e, chatFunction, streamMax.Milliseconds())
		}
	}
}

// handlers are the routes each function's main serves, built as functions/*/main.go
// build them; budget-reset serves none.
var handlers = map[string]func(*app.App) http.Handler{
	"ChatFunction":       (*app.App).Chat,
	"EmbeddingsFunction": (*app.App).Embeddings,
	"KnowledgeFunction":  (*app.App).Files,
	"SessionsFunction":   (*app.App).Sessions,
	"UsageFunction":      (*app.App).Usage,
	"HealthFunction":     (*app.App).Health,
	"AdminFunction":      (*app.App).Admin,
}

// TestRoutesReachTheirHandlers sends every route of the template to the handler
// of the function it is routed to: none may answer route_not_found or
// method_not_allowed. Without credentials the handlers refuse before any
// DynamoDB call; health's ping fails fast against a closed port.
func TestRoutesReachTheirHandlers(t *testing.T) {
	tmpl := loadTemplate(t)
	cfg, err := config.Load(func(k string) string { return map[string]string{"ADMIN_AUTH": "iam", "MODELS": "echo/echo-1"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	a := app.NewWithAWS(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint:     aws.String("http://127.0.0.1:1"),
		RetryMaxAttempts: 1,
	})
	for id := range resources(tmpl, "AWS::Serverless::Function") {
		_, ok := handlers[id]
		if !ok && slices.ContainsFunc(apiEvents(tmpl), func(e apiEvent) bool { return e.Function == id }) {
			t.Errorf("%s has routes but this test does not know its handler: add it to handlers", id)
		}
	}
	for _, e := range apiEvents(tmpl) {
		h, ok := handlers[e.Function]
		if !ok {
			continue
		}
		path := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(e.Path, "acme")
		methods := []string{strings.ToUpper(e.Method)}
		if e.Method == "any" {
			methods = []string{"GET", "POST", "PUT", "DELETE"}
		}
		served := false
		var answers []string
		for _, method := range methods {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			rec := httptest.NewRecorder()
			h(a).ServeHTTP(rec, httptest.NewRequestWithContext(ctx, method, path, strings.NewReader("{}")))
			cancel()
			body := rec.Body.String()
			answers = append(answers, fmt.Sprintf("%s: %d %s", method, rec.Code, body))
			if rec.Code != http.StatusMethodNotAllowed && !strings.Contains(body, "route_not_found") {
				served = true
			}
		}
		if !served {
			t.Errorf("%s: %s does not serve it:\n%s", e, e.Function, strings.Join(answers, "\n"))
		}
	}
}

// Environment variables the code reads that the template deliberately leaves
// unset, so the code's default applies (see docs/deploy.md), and why.
var defaulted = map[string]string{
	"DEFAULT_MAX_OUTPUT_TOKENS": "4096 tokens when neither request nor tenant sets a limit",
	"MAX_REQUEST_BYTES":         "6 MiB, Lambda's synchronous payload limit",
	"KEY_CACHE_TTL":             "30s: a revoked key stops working within it",
	"TENANT_CACHE_TTL":          "30s: configuration changes apply within it",
	"FIRST_TOKEN_TIMEOUT":       "30s, then the next model of the fallback chain",
	"STREAM_IDLE_TIMEOUT":       "60s of provider silence ends a stream with an error event",
	"KEEPALIVE_INTERVAL":        "15s: SSE comments far inside API Gateway's 5-minute idle timeout (checked below)",
	"SESSION_IDLE_TTL":          "24h",
	"SESSION_MAX_AGE":           "30 days",
	"SESSION_HISTORY_TOKENS":    "8000 tokens of history per request",
	"RESPONSE_RETENTION":        "30 days, as OpenAI keeps stored responses",
	"USAGE_RECORD_RETENTION":    "90 days of per-request usage records; the ledger's day totals outlive them",
	"ADMISSION_ORDER":           "parallel: admission beside the provider's first token; serial is for operators who prefer it",
	"DYNAMODB_ATTEMPT_TIMEOUT":  "5s per DynamoDB attempt: a single-digit-millisecond call that has not answered by then is stalled",
	"DYNAMODB_TIMEOUT":          "10s per DynamoDB call, retries included: a stalled table fails closed with 503 within it",
	"SETTLE_WINDOW":             "20s of settlement retries: with REQUEST_TIMEOUT 870s and a 5s checkpoint wait, inside the 900s function timeout",
	"STREAM_CHECKPOINT_TOKENS":  "1000 output tokens between checkpoints of a stream: what a crash may leave uncharged",
	"METRICS_ENABLED":           "true: the dashboard and alarms read these metrics",
	"IMAGE_FETCH_MAX_BYTES":     "5 MiB: above Bedrock's 3.75 MB per image, which Bedrock's check refuses with its own 400",
	"IMAGE_FETCH_TIMEOUT":       "5s per image, far inside the request timeout",
	"ADMIN_AUTH":                "set to iam on AdminFunction only; the other functions serve no admin route",
	"FILE_MAX_BYTES":            "4 MiB: a multipart upload stays within Lambda's 6 MB request after base64",
	"FILE_STORAGE_QUOTA":        "1 GiB of files per tenant unless its configuration says otherwise",
}

// Environment variables that must never be set in AWS.
var localOnly = map[string]string{
	"PORT":           "the local server's port",
	"HOST":           "the local server's listen address",
	"READ_TIMEOUT":   "the local server's connections; Lambda has none",
	"WRITE_TIMEOUT":  "the local server's connections; Lambda has none",
	"IDLE_TIMEOUT":   "the local server's connections; Lambda has none",
	"LOCAL_DATA_DIR": "the local server's files and embedded vector database",
	"ADMIN_API_KEY":  "the admin API in AWS is IAM-authorised; a key in the environment is readable by anyone with lambda:GetFunctionConfiguration",
}

// readVars returns the environment variables the code reads: everything
// config.Load asks for, and any os.Getenv or os.LookupEnv of a literal name in
// functions/ and shared/ (test helpers, packages named *test, excepted).
func readVars(t *testing.T) map[string]bool {
	t.Helper()
	vars := map[string]bool{}
	if _, err := config.Load(func(k string) string { vars[k] = true; return "" }); err != nil {
		t.Fatalf("config.Load with an empty environment: %v", err)
	}
	root := lambdatest.Root(t)
	for _, dir := range []string{"functions", "shared"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && strings.HasSuffix(d.Name(), "test") || d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) != 1 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || (sel.Sel.Name != "Getenv" && sel.Sel.Name != "LookupEnv") {
					return true
				}
				if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "os" {
					return true
				}
				if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					name, _ := strconv.Unquote(lit.Value)
					vars[name] = true
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return vars
}

// runtimeVars are set for the Go runtime, not read by Tollgate's code.
var runtimeVars = map[string]bool{"GOGC": true}

func TestEnvironment(t *testing.T) {
	tmpl := loadTemplate(t)
	read := readVars(t)
	fns := resources(tmpl, "AWS::Serverless::Function")
	set := map[string][]string{} // variable -> functions setting it
	for id, fn := range fns {
		for k := range fnEnv(tmpl, fn) {
			set[k] = append(set[k], id)
		}
	}
	for name := range read {
		_, isDefaulted := defaulted[name]
		_, isLocal := localOnly[name]
		_, isSet := set[name]
		switch {
		case isLocal && isSet:
			t.Errorf("%s is set in template.yaml (%v); it must not be: %s", name, set[name], localOnly[name])
		case isSet && isDefaulted && name != "ADMIN_AUTH":
			t.Errorf("%s is set in template.yaml but listed as deliberately defaulted: remove one", name)
		case !isSet && !isDefaulted && !isLocal:
			t.Errorf("the code reads %s, which template.yaml neither sets nor lists as deliberately defaulted (decide, then update the template or this test)", name)
		}
	}
	for name, ids := range set {
		if !read[name] && !runtimeVars[name] {
			t.Errorf("template.yaml sets %s (%v), which no code reads", name, ids)
		}
	}
	for _, name := range append(keys(defaulted), keys(localOnly)...) {
		if !read[name] {
			t.Errorf("%s is listed in this test but no code reads it any more", name)
		}
	}
	// Required, per function.
	for id := range fns {
		if _, ok := fnEnv(tmpl, fns[id])["TABLE_NAME"]; !ok || ref(fnEnv(tmpl, fns[id])["TABLE_NAME"]) != "Table" {
			t.Errorf("%s: TABLE_NAME must be !Ref Table", id)
		}
	}
	for id, fn := range fns {
		got := fnEnv(tmpl, fn)["ADMIN_AUTH"]
		if id == "AdminFunction" && got != "iam" || id != "AdminFunction" && got != nil {
			t.Errorf("%s: ADMIN_AUTH = %v; want iam on AdminFunction and unset elsewhere", id, got)
		}
	}

	// Every function's environment, as deployed with the defaults and with
	// every optional parameter set, is accepted by config.Load.
	for _, overrides := range []map[string]string{nil, {
		"DefaultModel": "openai/gpt-4o-mini", "ModelOverride": "bedrock/amazon.nova-lite-v1:0",
		"Models":             "bedrock/amazon.nova-lite-v1:0,openai/gpt-4o-mini",
		"OpenAIApiKeySecret": "tollgate/openai", "MetricsPerTenant": "true",
	}} {
		e := newEvaluator(t, tmpl, overrides)
		for id, fn := range fns {
			env := e.env(t, fn)
			cfg, err := config.Load(func(k string) string { return env[k] })
			if err != nil {
				t.Errorf("%s with parameters %v: config.Load rejects the template's environment: %v", id, overrides, err)
				continue
			}
			if id == chatFunction {
				to, _ := fnProp(tmpl, fn, "Timeout").(int)
				if cfg.RequestTimeout >= time.Duration(to)*time.Second {
					t.Errorf("%s: REQUEST_TIMEOUT %v must end before the function's Timeout %ds, so settlement runs", id, cfg.RequestTimeout, to)
				}
				if cfg.KeepAliveInterval >= streamIdleLimit/2 {
					t.Errorf("%s: keep-alive interval %v is not well below API Gateway's %v idle timeout", id, cfg.KeepAliveInterval, streamIdleLimit)
				}
				if overrides != nil && env["OPENAI_API_KEY"] != "{{resolve:secretsmanager:tollgate/openai}}" {
					t.Errorf("%s: OPENAI_API_KEY = %q, want the Secrets Manager dynamic reference", id, env["OPENAI_API_KEY"])
				}
			}
		}
	}
}

func TestSecrets(t *testing.T) {
	tmpl := loadTemplate(t)
	b, err := os.ReadFile(filepath.Join(lambdatest.Root(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "resolve:ssm-secure") {
		t.Error("{{resolve:ssm-secure:...}} is not supported in Lambda environment variables")
	}
	for name, p := range getMap(tmpl, "Parameters") {
		lower := strings.ToLower(name)
		if strings.Contains(lower, "password") || strings.Contains(lower, "token") && getString(p, "Type") == "String" ||
			strings.Contains(lower, "apikey") && !strings.HasSuffix(name, "Secret") {
			t.Errorf("parameter %s looks like a secret passed as a plain parameter; reference a secret instead", name)
		}
	}
	for id, fn := range resources(tmpl, "AWS::Serverless::Function") {
		v, ok := fnEnv(tmpl, fn)["OPENAI_API_KEY"]
		if !ok {
			continue
		}
		want := m{"Fn::If": []any{"HasOpenAIApiKey", m{"Fn::Sub": "{{resolve:secretsmanager:${OpenAIApiKeySecret}}}"}, m{"Ref": "AWS::NoValue"}}}
		// The functions that call models: chat, and those that embed (the
		// knowledge function a search's query, the ingestion function chunks).
		calls := id == chatFunction || id == "EmbeddingsFunction" || id == "KnowledgeFunction" || id == "IngestFunction"
		if !calls || !cmp.Equal(v, want) {
			t.Errorf("%s: OPENAI_API_KEY = %v; only the functions that call models get it, as %v", id, v, want)
		}
	}
}

func TestTable(t *testing.T) {
	tmpl := loadTemplate(t)
	tables := resources(tmpl, "AWS::DynamoDB::Table")
	if len(tables) != 1 || tables["Table"] == nil {
		t.Fatalf("tables %v, want one, Table", keys(tables))
	}
	p := getMap(tables["Table"], "Properties")
	def := dynamo.TableDefinition("unused")

	// The key schema: one source of truth, dynamo.TableDefinition, which the local
	// server and the tests create their tables from.
	type attr struct{ Name, Type string }
	type key struct{ Name, Type string }
	type index struct {
		Name       string
		Keys       []key
		Projection string
	}
	var wantAttrs, gotAttrs []attr
	for _, a := range def.AttributeDefinitions {
		wantAttrs = append(wantAttrs, attr{aws.ToString(a.AttributeName), string(a.AttributeType)})
	}
	for _, a := range getList(p, "AttributeDefinitions") {
		gotAttrs = append(gotAttrs, attr{getString(a, "AttributeName"), getString(a, "AttributeType")})
	}
	keysOf := func(ks []types.KeySchemaElement) []key {
		var out []key
		for _, k := range ks {
			out = append(out, key{aws.ToString(k.AttributeName), string(k.KeyType)})
		}
		return out
	}
	yamlKeys := func(v any) []key {
		var out []key
		for _, k := range getList(v) {
			out = append(out, key{getString(k, "AttributeName"), getString(k, "KeyType")})
		}
		return out
	}
	var wantIdx, gotIdx []index
	for _, g := range def.GlobalSecondaryIndexes {
		wantIdx = append(wantIdx, index{aws.ToString(g.IndexName), keysOf(g.KeySchema), string(g.Projection.ProjectionType)})
	}
	for _, g := range getList(p, "GlobalSecondaryIndexes") {
		gotIdx = append(gotIdx, index{getString(g, "IndexName"), yamlKeys(get(g, "KeySchema")), getString(g, "Projection", "ProjectionType")})
	}
	byName := func(a, b attr) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(wantAttrs, byName)
	slices.SortFunc(gotAttrs, byName)
	for what, diff := range map[string]string{
		"AttributeDefinitions":   cmp.Diff(wantAttrs, gotAttrs),
		"KeySchema":              cmp.Diff(keysOf(def.KeySchema), yamlKeys(p["KeySchema"])),
		"GlobalSecondaryIndexes": cmp.Diff(wantIdx, gotIdx),
		"BillingMode":            cmp.Diff(string(def.BillingMode), p["BillingMode"]),
		"LocalSecondaryIndexes":  cmp.Diff(len(def.LocalSecondaryIndexes), len(getList(p, "LocalSecondaryIndexes"))),
	} {
		if diff != "" {
			t.Errorf("Table.%s differs from dynamo.TableDefinition (-code +template):\n%s", what, diff)
		}
	}
	if getString(p, "TableName") != "" {
		t.Errorf("Table has a fixed TableName; let CloudFormation name it so stacks can coexist")
	}
	if getString(p, "BillingMode") != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode = %v, want PAY_PER_REQUEST", p["BillingMode"])
	}
	if get(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true {
		t.Error("point-in-time recovery is not enabled")
	}
	if get(p, "SSESpecification", "SSEEnabled") != true {
		t.Error("SSESpecification.SSEEnabled is not true")
	}
	if getString(p, "TimeToLiveSpecification", "AttributeName") != dynamo.AttrTTL || get(p, "TimeToLiveSpecification", "Enabled") != true {
		t.Errorf("TimeToLiveSpecification = %v, want enabled on %q, the attribute the code writes", p["TimeToLiveSpecification"], dynamo.AttrTTL)
	}
	if ref(p["DeletionProtectionEnabled"]) != "TableDeletionProtection" {
		t.Errorf("DeletionProtectionEnabled = %v, want !Ref TableDeletionProtection", p["DeletionProtectionEnabled"])
	}
	if got := getString(tables["Table"], "UpdateReplacePolicy"); got != "Retain" {
		t.Errorf("Table UpdateReplacePolicy = %q, want Retain: a replacement must not delete the data", got)
	}
}

func TestBudgetResetSchedule(t *testing.T) {
	tmpl := loadTemplate(t)
	fn := getMap(tmpl, "Resources", "BudgetResetFunction")
	var schedules []m
	for _, ev := range getMap(fn, "Properties", "Events") {
		if getString(ev, "Type") != "ScheduleV2" {
			t.Errorf("BudgetResetFunction event of type %s; want only its schedule", getString(ev, "Type"))
			continue
		}
		schedules = append(schedules, getMap(ev, "Properties"))
	}
	if len(schedules) != 1 {
		t.Fatalf("BudgetResetFunction has %d ScheduleV2 events, want 1", len(schedules))
	}
	s := schedules[0]
	if ref(s["ScheduleExpression"]) != "BudgetResetSchedule" || s["ScheduleExpressionTimezone"] != "UTC" {
		t.Errorf("schedule %v: want ScheduleExpression !Ref BudgetResetSchedule in UTC", s)
	}
	if s["OmitName"] != true {
		t.Error("schedule: want OmitName: true; SAM's fixed name collides between two stacks in one region")
	}
	if n, _ := get(s, "RetryPolicy", "MaximumRetryAttempts").(int); n < 1 {
		t.Errorf("schedule RetryPolicy = %v, want retries", s["RetryPolicy"])
	}
	dlq, attr := getAtt(get(s, "DeadLetterConfig", "Arn"))
	if dlq == "" || attr != "Arn" || getString(tmpl, "Resources", dlq, "Type") != "AWS::SQS::Queue" {
		t.Fatalf("schedule DeadLetterConfig = %v, want the Arn of an SQS queue of the template", s["DeadLetterConfig"])
	}
	// The scheduler invokes asynchronously: a run that fails is retried by
	// Lambda, then sent to the same queue.
	eic := getMap(fn, "Properties", "EventInvokeConfig")
	if r, a := getAtt(get(eic, "DestinationConfig", "OnFailure", "Destination")); r != dlq || a != "Arn" || getString(eic, "DestinationConfig", "OnFailure", "Type") != "SQS" {
		t.Errorf("BudgetResetFunction EventInvokeConfig = %v, want failed runs sent to %s", eic, dlq)
	}
}

func TestFunctionURL(t *testing.T) {
	tmpl := loadTemplate(t)
	urls := resources(tmpl, "AWS::Lambda::Url")
	u, ok := urls["ChatFunctionUrl"]
	if len(urls) != 1 || !ok {
		t.Fatalf("function URLs %v, want ChatFunctionUrl", keys(urls))
	}
	if r, _ := getAtt(get(u, "Properties", "TargetFunctionArn")); r != chatFunction {
		t.Errorf("ChatFunctionUrl targets %v", get(u, "Properties", "TargetFunctionArn"))
	}
	if getString(u, "Properties", "InvokeMode") != "RESPONSE_STREAM" {
		t.Errorf("ChatFunctionUrl InvokeMode = %v, want RESPONSE_STREAM", get(u, "Properties", "InvokeMode"))
	}
	cond := getString(u, "Condition")
	if cond == "" {
		t.Fatal("ChatFunctionUrl is not optional (no Condition)")
	}
	e := newEvaluator(t, tmpl, nil)
	if e.cond(t, cond) {
		t.Errorf("the function URL is on by default; it is the optional alternative")
	}
	if !newEvaluator(t, tmpl, map[string]string{"EnableFunctionUrl": "true"}).cond(t, cond) {
		t.Errorf("EnableFunctionUrl=true does not enable the function URL")
	}
	for id, p := range resources(tmpl, "AWS::Lambda::Permission") {
		if ref(get(p, "Properties", "FunctionName")) == chatFunction && getString(p, "Condition") != cond {
			t.Errorf("%s: a permission on the chat function outside condition %s", id, cond)
		}
	}
	if getString(tmpl, "Outputs", "ChatFunctionUrl", "Condition") != cond {
		t.Errorf("output ChatFunctionUrl: want it under condition %s", cond)
	}
}

func TestOutputs(t *testing.T) {
	tmpl := loadTemplate(t)
	outs := getMap(tmpl, "Outputs")
	want := []string{"ApiUrl", "ChatUrl", "TableName"}
	for id := range resources(tmpl, "AWS::Serverless::Function") {
		want = append(want, id+"Arn")
	}
	for _, name := range want {
		if outs[name] == nil {
			t.Errorf("no output %s", name)
		}
	}
	for _, name := range []string{"ApiUrl", "ChatUrl"} {
		if s := sub(get(outs, name, "Value")); !strings.Contains(s, "${GatewayApi}") || !strings.Contains(s, "${StageName}") {
			t.Errorf("output %s = %v, want the URL of GatewayApi's stage", name, get(outs, name, "Value"))
		}
	}
	if !strings.HasSuffix(sub(get(outs, "ChatUrl", "Value")), "/v1/chat/completions") {
		t.Errorf("output ChatUrl = %v", get(outs, "ChatUrl", "Value"))
	}
	for id := range resources(tmpl, "AWS::Serverless::Function") {
		if r, a := getAtt(get(outs, id+"Arn", "Value")); r != id || a != "Arn" {
			t.Errorf("output %sArn = %v", id, get(outs, id+"Arn", "Value"))
		}
	}
}

func TestParameters(t *testing.T) {
	tmpl := loadTemplate(t)
	used := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case m:
			if r := ref(v); r != "" {
				used[r] = true
			}
			if s := sub(v); s != "" {
				for _, r := range subRefs(s) {
					used[r] = true
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, section := range []string{"Conditions", "Globals", "Resources", "Outputs"} {
		walk(tmpl[section])
	}
	for name, p := range getMap(tmpl, "Parameters") {
		if get(p, "Default") == nil {
			t.Errorf("parameter %s has no Default; sam deploy --guided must work with the defaults", name)
		}
		switch getString(p, "Type") {
		case "String":
			if get(p, "AllowedValues") == nil && get(p, "AllowedPattern") == nil {
				t.Errorf("parameter %s: a String without AllowedValues or AllowedPattern", name)
			}
		case "Number":
			if get(p, "AllowedValues") == nil && get(p, "MinValue") == nil {
				t.Errorf("parameter %s: a Number without AllowedValues or MinValue", name)
			}
		}
		if pat := getString(p, "AllowedPattern"); pat != "" {
			re, err := regexp.Compile(pat)
			if err != nil {
				t.Errorf("parameter %s: AllowedPattern: %v", name, err)
			} else if d := fmt.Sprint(get(p, "Default")); !re.MatchString(d) {
				t.Errorf("parameter %s: the Default %q does not match its AllowedPattern", name, d)
			}
		}
		if !used[name] {
			t.Errorf("parameter %s is not used", name)
		}
	}
}

// TestSamconfig checks samconfig.toml against the template: it deploys with the
// capability the template's IAM roles need, and overrides only parameters that
// exist with values they allow.
func TestSamconfig(t *testing.T) {
	tmpl := loadTemplate(t)
	b, err := os.ReadFile(filepath.Join(lambdatest.Root(t), "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	table := ""
	deployTables := 0
	line := regexp.MustCompile(`^([a-z_]+)\s*=\s*(.*)$`)
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "[") {
			table = strings.Trim(l, "[]")
			if strings.HasSuffix(table, ".deploy.parameters") {
				deployTables++
			}
			continue
		}
		mt := line.FindStringSubmatch(l)
		if mt == nil || !strings.HasSuffix(table, ".deploy.parameters") {
			continue
		}
		val, err := strconv.Unquote(mt[2])
		if err != nil {
			continue // a boolean or a list
		}
		switch mt[1] {
		case "capabilities":
			if !strings.Contains(val, "CAPABILITY_IAM") {
				t.Errorf("[%s] capabilities = %q; the template creates IAM roles: CAPABILITY_IAM", table, val)
			}
		case "parameter_overrides":
			for _, kv := range strings.Fields(val) {
				k, v, _ := strings.Cut(kv, "=")
				v = strings.Trim(v, `"'`)
				p := getMap(tmpl, "Parameters", k)
				if p == nil {
					t.Errorf("[%s] overrides %s, which is not a parameter of template.yaml", table, k)
					continue
				}
				if av := getList(p, "AllowedValues"); av != nil && !slices.ContainsFunc(av, func(a any) bool { return fmt.Sprint(a) == v }) {
					t.Errorf("[%s] %s=%s is not one of %v", table, k, v, av)
				}
			}
		}
	}
	if deployTables == 0 {
		t.Error("samconfig.toml has no deploy parameters")
	}
}

// TestEventsMatchRoutes checks every sample event in events/ against the
// template: each is named <function-dir>-<case>.json, an API Gateway event is a route of the function its name starts
// with, a function URL event goes to the function with the function URL, and a
// scheduler event to the scheduled function.
func TestEventsMatchRoutes(t *testing.T) {
	tmpl := loadTemplate(t)
	root := lambdatest.Root(t)
	files, err := filepath.Glob(filepath.Join(root, "events", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no events: %v", err)
	}
	routes := map[string]string{} // "GET /usage" -> function
	for _, e := range apiEvents(tmpl) {
		routes[strings.ToUpper(e.Method)+" "+e.Path] = e.Function
	}
	for _, path := range files {
		name := filepath.Base(path)
		owner := ""
		for _, d := range functionDirs(t) {
			if strings.HasPrefix(name, d+"-") && len(name) > len(d)+len("-.json") && len(d) > len(owner) {
				owner = d
			}
		}
		if owner == "" {
			t.Errorf("events/%s is not named <function-dir>-<case>.json", name)
			continue
		}
		id := logicalID(owner)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Records []struct {
				EventSource    string `json:"eventSource"`
				EventSourceARN string `json:"eventSourceARN"`
			} `json:"Records"`
			HTTPMethod     string `json:"httpMethod"`
			Resource       string `json:"resource"`
			DetailType     string `json:"detail-type"`
			RequestContext struct {
				HTTP *struct{} `json:"http"`
			} `json:"requestContext"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Errorf("events/%s: %v", name, err)
			continue
		}
		switch {
		case len(ev.Records) > 0 && ev.Records[0].EventSource == "aws:sqs":
			if !slices.ContainsFunc(keys(getMap(tmpl, "Resources", id, "Properties", "Events")), func(k string) bool {
				return getString(tmpl, "Resources", id, "Properties", "Events", k, "Type") == "SQS"
			}) {
				t.Errorf("events/%s: an SQS event for %s, which reads no queue", name, id)
			}
		case ev.HTTPMethod != "":
			fn := routes[ev.HTTPMethod+" "+ev.Resource]
			if fn == "" {
				fn = routes["ANY "+ev.Resource]
			}
			if fn != id {
				t.Errorf("events/%s: %s %s is routed to %q in template.yaml, want %s", name, ev.HTTPMethod, ev.Resource, fn, id)
			}
		case ev.RequestContext.HTTP != nil:
			if r, _ := getAtt(get(tmpl, "Resources", "ChatFunctionUrl", "Properties", "TargetFunctionArn")); r != id {
				t.Errorf("events/%s: a function URL event for %s, which has no function URL", name, id)
			}
		case ev.DetailType == "Scheduled Event":
			if !slices.ContainsFunc(keys(getMap(tmpl, "Resources", id, "Properties", "Events")), func(k string) bool {
				return getString(tmpl, "Resources", id, "Properties", "Events", k, "Type") == "ScheduleV2"
			}) {
				t.Errorf("events/%s: a scheduler event for %s, which has no schedule", name, id)
			}
		default:
			t.Errorf("events/%s: neither an API Gateway, a function URL, a scheduler nor an SQS event", name)
		}
	}
}
