// Package clients_test drives the gateway with the Node clients its users run:
// the official openai SDK, LangChain JS (@langchain/openai) and the Vercel AI SDK
// (ai + @ai-sdk/openai), pinned in tests/tools/package.json. The Go test starts
// the local handlers on dynalite with the fake OpenAI-compatible and Bedrock
// providers, creates a tenant and a key through the admin API, and runs
// `node --test tests/clients/` against it; the Node tests are the *.test.mjs files
// beside this one, and lib.mjs loads the packages from tests/tools/node_modules.
// reporter.mjs keeps the output short: one line per test, and for a failure its
// error and the server's answer.
//
// By hand, against a gateway of your own (`make run` serves echo/echo-1; the
// embedding tests run only when TOLLGATE_EMBEDDING_MODELS names some):
//
//	TOLLGATE_BASE_URL=http://localhost:8080/v1 TOLLGATE_KEY=... TOLLGATE_MODELS=echo/echo-1 \
//		TOLLGATE_EMBEDDING_MODELS=echo/echo-embed-1 node --test tests/clients/
package clients_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/provider/bedrock"
	"github.com/tollgate/tollgate/shared/provider/bedrock/bedrocktest"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
	"github.com/tollgate/tollgate/tests/gatewaytest"
)

var ddb *dynamotest.Server

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m, &ddb)) }

// models are the models every Node test runs against: the built-in echo, the
// OpenAI-compatible fake and the Bedrock fake.
var models = []string{"echo/echo-1", "openai/gpt-a", "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0"}

// embeddingModels are the models every Node embedding test runs against: echo,
// the OpenAI-compatible fake, and Titan and Cohere on the Bedrock fake.
var embeddingModels = []string{"echo/echo-embed-1", "openai/text-embedding-3-small",
	"bedrock/amazon.titan-embed-text-v2:0", "bedrock/cohere.embed-english-v3"}

// clientPackages are the npm packages the Node tests load from
// tests/tools/node_modules.
var clientPackages = []string{"openai", "@langchain/openai", "@langchain/core", "ai", "@ai-sdk/openai", "zod"}

// nodeTimeout bounds the whole Node run; it normally takes a few seconds.
const nodeTimeout = 3 * time.Minute

func TestNodeClients(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the Node client tests need Node.js 20 or later")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range clientPackages {
		if _, err := os.Stat(filepath.Join(root, "tests", "tools", "node_modules", p, "package.json")); err != nil {
			t.Fatalf("npm package %s is not installed (%v): run `npm ci --prefix tests/tools` (make tools does)", p, err)
		}
	}

	oa := openaitest.NewServer(t)
	br := bedrocktest.NewServer(t)
	g := gatewaytest.Start(t, ddb, map[string]string{
		"MODELS":          strings.Join(slices.Concat(models, embeddingModels), ","),
		"OPENAI_BASE_URL": oa.URL, // already ends in /v1
		"OPENAI_API_KEY":  "sk-upstream-secret-never-logged-0123456789",
	}, func(a *app.App) {
		a.Providers["bedrock"] = bedrock.New(br.Client())
	})
	key := g.NewTenant("node-clients", map[string]any{"name": "Node clients"})
	// A tenant whose daily budget no request fits: the SDKs must give up at once.
	brokeKey := g.NewTenant("node-broke", map[string]any{"name": "Broke", "tokenBudget": map[string]any{"daily": 1}})

	ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
	defer cancel()
	dir := filepath.Join("tests", "clients")
	cmd := exec.CommandContext(ctx, node, "--test", "--test-concurrency=1",
		"--test-reporter="+filepath.Join(root, dir, "reporter.mjs"), dir+string(filepath.Separator))
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"TOLLGATE_BASE_URL="+g.URL+"/v1",
		"TOLLGATE_KEY="+key,
		"TOLLGATE_BROKE_KEY="+brokeKey,
		"TOLLGATE_MODELS="+strings.Join(models, ","),
		"TOLLGATE_EMBEDDING_MODELS="+strings.Join(embeddingModels, ","),
		"NO_COLOR=1",
	)
	out := &logWriter{t: t}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	out.flush()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("node --test did not finish within %v", nodeTimeout)
	}
	if err != nil {
		t.Fatalf("node --test tests/clients/: %v (its output is above)", err)
	}
	if m := testsRun.FindStringSubmatch(out.all.String()); m == nil || m[1] == "0" {
		t.Fatal("node --test ran no test")
	}
	// The Node tests cannot see where the gateway sent their requests: check here
	// that both fakes answered some.
	if len(oa.Requests()) == 0 || len(br.Requests()) == 0 {
		t.Errorf("upstream calls: openai fake %d, bedrock fake %d; want some of each", len(oa.Requests()), len(br.Requests()))
	}
	invokes := 0
	for _, r := range br.Requests() {
		if r.Invoke {
			invokes++
		}
	}
	if len(oa.EmbeddingRequests()) == 0 || invokes == 0 {
		t.Errorf("upstream embedding calls: openai fake %d, bedrock fake %d; want some of each", len(oa.EmbeddingRequests()), invokes)
	}
}

// testsRun matches reporter.mjs's count of tests run.
var testsRun = regexp.MustCompile(`(?m)^ℹ .*: tests (\d+), pass`)

// logWriter writes what it is given to the test log, one line at a time, as it
// arrives.
type logWriter struct {
	t   *testing.T
	mu  sync.Mutex
	buf bytes.Buffer // the line being written
	all bytes.Buffer // everything written
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.t.Log(strings.TrimRight(string(w.buf.Next(i+1)), "\r\n"))
	}
}

// flush logs a last line without a newline.
func (w *logWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	sc := bufio.NewScanner(&w.buf)
	for sc.Scan() {
		w.t.Log(sc.Text())
	}
}
