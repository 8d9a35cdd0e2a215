package template_test

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/tests/lambdatest"
)

// buildDir holds the bootstraps TestBuild makes; TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tollgate-template-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// arches are the architectures every function must build for: arm64, which the
// template deploys, and amd64, which the Lambda tests run on most machines.
var arches = map[string]elf.Machine{"arm64": elf.EM_AARCH64, "amd64": elf.EM_X86_64}

var (
	buildOnce sync.Once
	built     map[string]map[string]string // arch -> logical id -> bootstrap
	buildErr  error
)

// buildAll runs `make build-<LogicalId> ARTIFACTS_DIR=...` for every function,
// as sam build does: with the Makefile's own recipe for arm64, and with its
// LAMBDA_ENV switched to GOARCH=amd64 for amd64. It first compiles the packages
// once per architecture, so the parallel make runs only link.
func buildAll(t *testing.T) map[string]map[string]string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("building Lambda bootstraps is checked on Linux")
	}
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("make is not installed")
		}
		t.Skip("make is not installed: the Makefile's build targets are not checked")
	}
	root := lambdatest.Root(t)
	dirs := functionDirs(t)
	buildOnce.Do(func() { built, buildErr = runBuilds(root, dirs) })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

func runBuilds(root string, dirs []string) (map[string]map[string]string, error) {
	var pkgs []string
	for _, d := range dirs {
		pkgs = append(pkgs, "./functions/"+d)
	}
	for arch := range arches {
		// Compile (not link) every function's packages in one go command, into
		// the build cache the make runs then share.
		cmd := exec.Command("go", append([]string{"build", "-tags", "lambda.norpc", "-trimpath"}, pkgs...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("compile for linux/%s: %v\n%s", arch, err, out)
		}
	}
	out := map[string]map[string]string{}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, max(2, runtime.NumCPU()))
	)
	for arch := range arches {
		out[arch] = map[string]string{}
	}
	for arch := range arches {
		for _, d := range dirs {
			id := logicalID(d)
			dir := filepath.Join(buildDir, arch, id)
			args := []string{"--no-print-directory", "build-" + id, "ARTIFACTS_DIR=" + dir}
			if arch != "arm64" {
				args = append(args, "LAMBDA_ENV=CGO_ENABLED=0 GOOS=linux GOARCH="+arch)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				b, err := makeCmd(root, args...).CombinedOutput()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("make %s: %v\n%s", strings.Join(args, " "), err, b))
					return
				}
				out[arch][id] = filepath.Join(dir, "bootstrap")
			}()
		}
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// makeCmd runs make in root as sam build does: without the variables and flags
// of a make that may be running this test (make test).
func makeCmd(root string, args ...string) *exec.Cmd {
	cmd := exec.Command("make", args...)
	cmd.Dir = root
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" && k != "ARTIFACTS_DIR" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// TestBuildRecipe checks, without running it, that each build-<LogicalId> target
// runs the recipe the issue specifies.
func TestBuildRecipe(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	root := lambdatest.Root(t)
	for _, d := range functionDirs(t) {
		id := logicalID(d)
		b, err := makeCmd(root, "--no-print-directory", "-n", "build-"+id, "ARTIFACTS_DIR=/artifacts").CombinedOutput()
		if err != nil {
			t.Errorf("make -n build-%s: %v\n%s", id, err, b)
			continue
		}
		got := strings.Join(strings.Fields(string(b)), " ")
		for _, want := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "go build", "-tags lambda.norpc", "-trimpath",
			"-ldflags='-s -w'", "-o /artifacts/bootstrap ./functions/" + d} {
			if !strings.Contains(got, want) {
				t.Errorf("make build-%s runs %q, missing %q", id, got, want)
			}
		}
	}
}

func TestBuild(t *testing.T) {
	for arch, bins := range buildAll(t) {
		for id, path := range bins {
			f, err := elf.Open(path)
			if err != nil {
				t.Errorf("%s %s: %v", id, arch, err)
				continue
			}
			if f.Machine != arches[arch] {
				t.Errorf("%s built for %s is a %v binary", id, arch, f.Machine)
			}
			if slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
				t.Errorf("%s %s: dynamically linked; want a static binary (CGO_ENABLED=0)", id, arch)
			}
			if f.Section(".symtab") != nil {
				t.Errorf("%s %s: has a symbol table; the recipe strips it (-ldflags '-s -w')", id, arch)
			}
			f.Close()
		}
		if len(bins) != len(functionDirs(t)) {
			t.Errorf("%s: %d bootstraps built, want %d", arch, len(bins), len(functionDirs(t)))
		}
	}
}

// A Go binary, stripped or not, names in its function table (pclntab) every
// function the linker kept, including inlined ones. The AWS SDK builds each
// operation's middleware stack in its own method, so the operations a bootstrap
// can call are the methods the linker kept.
var (
	sdkOperation = regexp.MustCompile(`github\.com/aws/aws-sdk-go-v2/service/([a-z0-9]+)\.\(\*Client\)\.addOperation([A-Za-z0-9]+)Middlewares`)
	storeMethod  = regexp.MustCompile(`github\.com/tollgate/tollgate/shared/dynamo\.\(\*Store\)\.([A-Za-z0-9_]+)`)
)

// iamActions maps an SDK operation to the IAM actions it needs; ok is false for
// operations that need none in Lambda.
func iamActions(service, op string) (actions []string, ok bool, err error) {
	switch service {
	case "dynamodb":
		if op == "DescribeEndpoints" {
			return nil, false, nil // endpoint discovery, off unless configured
		}
		return []string{"dynamodb:" + op}, true, nil
	case "bedrockruntime":
		switch op {
		case "Converse", "InvokeModel":
			return []string{"bedrock:InvokeModel"}, true, nil
		case "ConverseStream", "InvokeModelWithResponseStream":
			return []string{"bedrock:InvokeModelWithResponseStream"}, true, nil
		}
	case "s3":
		switch op {
		case "PutObject", "GetObject", "DeleteObject":
			return []string{"s3:" + op}, true, nil
		case "CreateSession":
			// S3 Express One Zone's session credentials, for directory buckets
			// only; the files bucket is a general purpose bucket.
			return nil, false, nil
		}
	case "s3vectors":
		if op == "QueryVectors" {
			// QueryVectors returning metadata, or with a filter, needs GetVectors too.
			return []string{"s3vectors:QueryVectors", "s3vectors:GetVectors"}, true, nil
		}
		return []string{"s3vectors:" + op}, true, nil
	case "sqs":
		if op == "SendMessage" {
			return []string{"sqs:SendMessage"}, true, nil
		}
	case "sts", "sso", "ssooidc", "signin":
		// The SDK's credential chain, for profiles in shared config files; in
		// Lambda the credentials are in the environment.
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("%s.%s: this test does not know its IAM action; add it to iamActions", service, op)
}

// indexMethods returns the *dynamo.Store methods that read the table through
// its secondary index: those that mention dynamo.IndexGSI1.
func indexMethods(t *testing.T) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(lambdatest.Root(t), "shared", "dynamo", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok && id.Name == "IndexGSI1" {
					out[fd.Name.Name] = true
				}
				return true
			})
		}
	}
	if len(out) == 0 {
		t.Fatal("no Store method uses IndexGSI1: is the index still used?")
	}
	return out
}

// grant is what a function's policies allow.
type grant struct {
	table   map[string]bool // DynamoDB actions on the table
	index   map[string]bool // DynamoDB actions on the index
	bedrock map[string]bool
	files   map[string]bool // S3 actions on the files bucket's tenant objects
	vectors map[string]bool // S3 Vectors actions on the vector bucket's indexes
	queue   map[string]bool // SQS actions on the ingestion queue
}

func newGrant() grant {
	return grant{table: map[string]bool{}, index: map[string]bool{}, bedrock: map[string]bool{},
		files: map[string]bool{}, vectors: map[string]bool{}, queue: map[string]bool{}}
}

func grants(t *testing.T, id string, fn m) grant {
	t.Helper()
	g := newGrant()
	indexARN := "${Table.Arn}/index/" + dynamo.IndexGSI1
	for _, pol := range getList(fn, "Properties", "Policies") {
		stmts := getList(pol, "Statement")
		if stmts == nil {
			t.Errorf("%s: policy %v is not an inline Statement list; this test (and a reviewer) can only check inline statements", id, pol)
			continue
		}
		for _, s := range stmts {
			if getString(s, "Effect") != "Allow" {
				continue
			}
			var actions []string
			switch a := get(s, "Action").(type) {
			case string:
				actions = []string{a}
			case []any:
				for _, x := range a {
					actions = append(actions, fmt.Sprint(x))
				}
			}
			res := get(s, "Resource")
			if l, ok := res.([]any); ok && len(l) == 1 {
				res = l[0]
			}
			for _, a := range actions {
				if strings.Contains(a, "*") {
					t.Errorf("%s: wildcard action %q", id, a)
				}
				svc, _, _ := strings.Cut(a, ":")
				switch svc {
				case "dynamodb":
					if r, attr := getAtt(res); r == "Table" && attr == "Arn" {
						g.table[a] = true
					} else if sub(res) == indexARN {
						g.index[a] = true
					} else {
						t.Errorf("%s: %s on %v; want the table (!GetAtt Table.Arn) or its index (!Sub %s)", id, a, res, indexARN)
					}
				case "bedrock":
					// Chat models for chat, embedding models for embeddings
					// (file_search's query embedding in chat included).
					for _, r := range getList(s, "Resource") {
						if !strings.Contains(sub(r), "${BedrockModels}") && !strings.Contains(sub(r), "${BedrockEmbeddingModels}") {
							t.Errorf("%s: %s on %v; want resources scoped by the BedrockModels or BedrockEmbeddingModels parameter", id, a, r)
						}
						if id != chatFunction && !strings.Contains(sub(r), "${BedrockEmbeddingModels}") {
							t.Errorf("%s: %s on %v; only the chat function calls chat models", id, a, r)
						}
					}
					g.bedrock[a] = true
				case "s3":
					if sub(res) != "${FilesBucket.Arn}/tenants/*" {
						t.Errorf("%s: %s on %v; want the files bucket's tenant objects (!Sub ${FilesBucket.Arn}/tenants/*)", id, a, res)
					}
					g.files[a] = true
				case "s3vectors":
					if sub(res) != "${VectorBucket.VectorBucketArn}/index/*" {
						t.Errorf("%s: %s on %v; want the vector bucket's indexes (!Sub ${VectorBucket.VectorBucketArn}/index/*)", id, a, res)
					}
					g.vectors[a] = true
				case "sqs":
					if r, attr := getAtt(res); r != "IngestQueue" || attr != "Arn" {
						t.Errorf("%s: %s on %v; want the ingestion queue (!GetAtt IngestQueue.Arn)", id, a, res)
					}
					g.queue[a] = true
				default:
					t.Errorf("%s: action %s of a service this test does not check", id, a)
				}
			}
		}
	}
	return g
}

// TestPermissions checks least privilege against the code: each function's
// policies grant exactly the DynamoDB and Bedrock actions its deployable
// bootstrap (the arm64 build of the Makefile recipe) can call, on the table, on
// its index only when the function queries it, and on the Bedrock models the
// BedrockModels parameter names.
func TestPermissions(t *testing.T) {
	tmpl := loadTemplate(t)
	bins := buildAll(t)["arm64"]
	viaIndex := indexMethods(t)
	set := func(mm map[string]bool) []string { return keys(mm) }
	for id, fn := range resources(tmpl, "AWS::Serverless::Function") {
		bin, err := os.ReadFile(bins[id])
		if err != nil {
			t.Fatal(err)
		}
		need := newGrant()
		for _, mt := range sdkOperation.FindAllSubmatch(bin, -1) {
			actions, ok, err := iamActions(string(mt[1]), string(mt[2]))
			if err != nil {
				t.Errorf("%s: %v", id, err)
			}
			if !ok {
				continue
			}
			for _, a := range actions {
				svc, _, _ := strings.Cut(a, ":")
				switch svc {
				case "dynamodb":
					need.table[a] = true
				case "bedrock":
					need.bedrock[a] = true
				case "s3":
					need.files[a] = true
				case "s3vectors":
					need.vectors[a] = true
				case "sqs":
					need.queue[a] = true
				}
			}
		}
		var indexUsers []string
		for _, mt := range storeMethod.FindAllSubmatch(bin, -1) {
			if viaIndex[string(mt[1])] && !slices.Contains(indexUsers, string(mt[1])) {
				indexUsers = append(indexUsers, string(mt[1]))
				need.index["dynamodb:Query"] = true
			}
		}
		got := grants(t, id, fn)
		for what, pair := range map[string][2][]string{
			"DynamoDB actions on the table":                     {set(need.table), set(got.table)},
			"DynamoDB actions on index " + dynamo.IndexGSI1:     {set(need.index), set(got.index)},
			"Bedrock actions":                                   {set(need.bedrock), set(got.bedrock)},
			"S3 actions on the files bucket's tenants/*":        {set(need.files), set(got.files)},
			"S3 Vectors actions on the vector bucket's indexes": {set(need.vectors), set(got.vectors)},
			"SQS actions on the ingestion queue":                {set(need.queue), set(got.queue)},
		} {
			if !slices.Equal(pair[0], pair[1]) {
				t.Errorf("%s: %s: the bootstrap calls %v, the template grants %v (index readers in the binary: %v)", id, what, pair[0], pair[1], indexUsers)
			}
		}
		if bytes.Contains(bin, []byte("github.com/aws/aws-sdk-go-v2/service/secretsmanager.")) && !strings.Contains(fmt.Sprint(fn), "secretsmanager:GetSecretValue") {
			t.Errorf("%s: the bootstrap uses Secrets Manager but has no secretsmanager:GetSecretValue", id)
		}
	}
}
