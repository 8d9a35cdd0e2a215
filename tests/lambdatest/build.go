// Package lambdatest runs Tollgate's Lambda function binaries in integration
// tests, the way Lambda runs them.
//
// Build compiles a function into a bootstrap binary. StartRIE runs a bootstrap
// under the Lambda Runtime Interface Emulator, which suits buffered functions:
// the emulator buffers responses and drops trailers. StartRuntime runs a bootstrap
// against a fake Lambda Runtime API served by the test itself, which sees a
// streaming response as Lambda does: the prelude, each body chunk as it arrives,
// and the error trailers.
//
//	func TestHealth(t *testing.T) {
//		rie := lambdatest.StartRIE(t, lambdatest.Build(t, "health"), nil)
//		resp := rie.InvokeAPI(t, events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/health"})
//		if resp.StatusCode != 200 { ... }
//	}
//
// The harnesses need Linux, where bootstraps run; elsewhere they skip the test.
// Functions run with a small environment (PATH, HOME, TMPDIR and a few Go
// variables from the test process), fake AWS credentials, AWS_REGION us-east-1
// and the Lambda variables a function expects, overridden by the env argument,
// so that a developer's AWS configuration never reaches a function under test.
package lambdatest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Module is the module path that marks the repository root.
const Module = "github.com/tollgate/tollgate"

// rieModule is the package of the emulator, pinned in tests/tools/go.mod.
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

var (
	rootOnce sync.Once
	root     string
	rootErr  error

	buildsMu sync.Mutex
	builds   = map[string]*build{} // by package path relative to the root
)

type build struct {
	once sync.Once
	path string
	err  error
}

// Root returns the repository root: the nearest directory above the working
// directory whose go.mod declares module Module.
func Root(tb testing.TB) string {
	tb.Helper()
	rootOnce.Do(func() { root, rootErr = findRoot() })
	if rootErr != nil {
		tb.Fatal(rootErr)
	}
	return root
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("lambdatest: find repository root: %w", err)
	}
	for {
		if isRoot(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("lambdatest: no go.mod with module %s above the working directory", Module)
		}
		dir = parent
	}
}

func isRoot(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "module" && strings.Trim(fields[1], `"`) == Module {
			return true
		}
	}
	return false
}

// Build compiles a Lambda function for Linux on the host's architecture, with
// CGO_ENABLED=0 and -tags lambda.norpc as for deployment, and returns the path of
// the binary, named bootstrap. pkg is either a bare function name ("health" means
// ./functions/health) or a package path relative to the repository root
// ("./tests/lambdatest/testdata/echofn"; an absolute path or an import path in
// module Module works too).
//
// Each package is built once per test binary. The binary lives under the system's
// temporary directory, one file per repository and package, replaced atomically
// by each build, so concurrent test binaries can share it and disk use stays
// bounded.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	requireLinux(tb)
	r := Root(tb)
	rel := packagePath(r, pkg)
	buildsMu.Lock()
	b, ok := builds[rel]
	if !ok {
		b = &build{}
		builds[rel] = b
	}
	buildsMu.Unlock()
	b.once.Do(func() {
		out := filepath.Join(cacheDir(r), strings.NewReplacer("/", "_", ".", "_").Replace(strings.TrimPrefix(rel, "./")), "bootstrap")
		b.path, b.err = goBuild(r, out, []string{"GOOS=linux", "GOARCH=" + runtime.GOARCH, "CGO_ENABLED=0"},
			"-tags", "lambda.norpc", rel)
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.path
}

// packagePath turns Build's argument into a "./"-prefixed path relative to root.
func packagePath(root, pkg string) string {
	if !strings.ContainsAny(pkg, `/\`) {
		return "./functions/" + pkg
	}
	if filepath.IsAbs(pkg) {
		if rel, err := filepath.Rel(root, pkg); err == nil {
			pkg = rel
		}
	}
	return "./" + filepath.ToSlash(filepath.Clean(strings.TrimPrefix(pkg, Module+"/")))
}

var (
	rieOnce sync.Once
	riePath string
	rieErr  error
)

// RIEBinary returns the Runtime Interface Emulator, built once per test binary
// from the version pinned in tests/tools/go.mod. It is the binary that
// `go tool -modfile=tests/tools/go.mod aws-lambda-rie` runs.
func RIEBinary(tb testing.TB) string {
	tb.Helper()
	requireLinux(tb)
	r := Root(tb)
	rieOnce.Do(func() {
		out := filepath.Join(cacheDir(r), "aws-lambda-rie")
		riePath, rieErr = goBuild(filepath.Join(r, "tests", "tools"), out, []string{"GOWORK=off"}, rieModule)
	})
	if rieErr != nil {
		tb.Fatal(rieErr)
	}
	return riePath
}

// goBuild runs go build in dir and moves the result to out atomically.
func goBuild(dir, out string, env []string, args ...string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("lambdatest: build: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("lambdatest: build: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing left to remove

	// go test puts its own toolchain first in PATH.
	cmd := exec.Command("go", append([]string{"build", "-buildvcs=false", "-o", tmp.Name()}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("lambdatest: %s (in %s): %w\n%s", strings.Join(cmd.Args, " "), dir, err, stderr.Bytes())
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", fmt.Errorf("lambdatest: build: %w", err)
	}
	return out, nil
}

// cacheDir is where builds for the repository at root go.
func cacheDir(root string) string {
	sum := sha256.Sum256([]byte(root))
	return filepath.Join(os.TempDir(), fmt.Sprintf("tollgate-lambdatest-%d", os.Getuid()), hex.EncodeToString(sum[:6]))
}

func requireLinux(tb testing.TB) {
	tb.Helper()
	if runtime.GOOS != "linux" {
		tb.Skipf("lambdatest: bootstraps are Linux binaries; this is %s", runtime.GOOS)
	}
}

// baseEnv is the environment every function starts with; env overrides it.
func baseEnv(env map[string]string) []string {
	m := map[string]string{
		"AWS_REGION":                      "us-east-1",
		"AWS_DEFAULT_REGION":              "us-east-1",
		"AWS_ACCESS_KEY_ID":               "test",
		"AWS_SECRET_ACCESS_KEY":           "test",
		"AWS_EC2_METADATA_DISABLED":       "true",
		"AWS_LAMBDA_FUNCTION_NAME":        "function",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/function",
		"AWS_LAMBDA_LOG_STREAM_NAME":      "test",
		"TZ":                              "UTC",
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GORACE", "GOTRACEBACK", "GODEBUG", "GOCOVERDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			m[k] = v
		}
	}
	for k, v := range env {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// output collects a child process's stdout and stderr.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// ErrExited reports that a function process, or the emulator, ended while a
// harness needed it.
var ErrExited = errors.New("lambdatest: process exited")
