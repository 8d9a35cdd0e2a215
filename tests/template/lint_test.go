package template_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/tests/lambdatest"
)

// TestCfnLint runs cfn-lint, which applies the SAM transform and validates the
// result against CloudFormation's schemas and rules.
func TestCfnLint(t *testing.T) {
	t.Parallel()
	path, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not installed, so template.yaml was not linted: pip install cfn-lint (with the SAM translator, its default)")
	}
	cmd := exec.Command(path, "--", "template.yaml")
	cmd.Dir = lambdatest.Root(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("cfn-lint template.yaml: %v\n%s", err, out)
	}
}

// python returns an interpreter that can import cfn-lint and the SAM
// translator: the one running cfn-lint, or python3.
func python(t *testing.T) string {
	t.Helper()
	var candidates []string
	if p, err := exec.LookPath("cfn-lint"); err == nil {
		if f, err := os.Open(p); err == nil {
			line, _ := bufio.NewReader(f).ReadString('\n')
			f.Close()
			if interp, ok := strings.CutPrefix(strings.TrimSpace(line), "#!"); ok && strings.Contains(interp, "python") {
				candidates = append(candidates, strings.Fields(interp)...)
			}
		}
	}
	candidates = append(candidates, "python3")
	for _, c := range candidates {
		if strings.HasSuffix(c, "env") {
			continue
		}
		if exec.Command(c, "-c", "import cfnlint, samtranslator").Run() == nil {
			return c
		}
	}
	t.Skip("no Python with cfn-lint and aws-sam-translator: the SAM translation of template.yaml was not checked")
	return ""
}

// TestSAMTranslation translates the template with the SAM translator and
// checks what API Gateway and CloudFormation will really be given: the SAM
// shorthand is easy to get subtly wrong (ResponseTransferMode: STREAM silently
// buffers; AWS_IAM without InvokeRole passes the caller's credentials).
func TestSAMTranslation(t *testing.T) {
	t.Parallel()
	py := python(t)
	root := lambdatest.Root(t)
	cmd := exec.Command(py, filepath.Join("tests", "template", "testdata", "translate.py"), "template.yaml")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("translate template.yaml: %v\n%s", err, stderr.Bytes())
	}
	var cfn m
	if err := json.Unmarshal(out, &cfn); err != nil {
		t.Fatal(err)
	}
	res := getMap(cfn, "Resources")

	paths := getMap(res, "GatewayApi", "Properties", "Body", "paths")
	if len(paths) == 0 {
		t.Fatal("the translated API has no paths")
	}
	target := regexp.MustCompile(`/functions/\$\{([A-Za-z0-9]+)\.Arn\}/([a-z-]+)$`)
	streamed := []string{"post /chat", "post /v1/chat/completions"}
	for path, ops := range paths {
		for method, op := range ops.(m) {
			route := strings.TrimPrefix(method, "x-amazon-apigateway-") + " " + path
			in := getMap(op, "x-amazon-apigateway-integration")
			mt := target.FindStringSubmatch(sub(in["uri"]))
			if mt == nil || getString(in, "type") != "aws_proxy" {
				t.Errorf("%s: integration %v, want an AWS_PROXY Lambda integration", route, in)
				continue
			}
			fn, invocation := mt[1], mt[2]
			if fn == chatFunction {
				if invocation != "response-streaming-invocations" || in["responseTransferMode"] != "STREAM" {
					t.Errorf("%s: the integration calls %s with transfer mode %v; want response-streaming-invocations and STREAM", route, invocation, in["responseTransferMode"])
				}
			} else if invocation != "invocations" || in["responseTransferMode"] != nil {
				t.Errorf("%s: %s is buffered, but the integration calls %s with transfer mode %v", route, fn, invocation, in["responseTransferMode"])
			}
			if slices.Contains(streamed, route) {
				if ms, _ := in["timeoutInMillis"].(float64); time.Duration(ms)*time.Millisecond != streamMax {
					t.Errorf("%s: timeoutInMillis %v, want %d", route, in["timeoutInMillis"], streamMax.Milliseconds())
				}
			}
			if in["credentials"] != nil {
				t.Errorf("%s: the integration invokes with credentials %v; want the function's resource policy (InvokeRole: NONE)", route, in["credentials"])
			}
			iam := strings.Contains(string(must(json.Marshal(get(op, "security")))), "AWS_IAM")
			if admin := strings.HasPrefix(path, "/admin/") || path == "/admin"; admin != iam {
				t.Errorf("%s: AWS_IAM authorization %v, want %v", route, iam, admin)
			}
		}
	}
	for id, r := range res {
		switch getString(r, "Type") {
		case "AWS::ApiGateway::Deployment":
			if get(r, "Properties", "StageName") != nil {
				t.Errorf("%s: the deployment creates a stage %v besides StageName (set OpenApiVersion)", id, get(r, "Properties", "StageName"))
			}
		case "AWS::Scheduler::Schedule":
			if get(r, "Properties", "Name") != nil {
				t.Errorf("%s: fixed name %v; two stacks in one region would collide", id, get(r, "Properties", "Name"))
			}
		case "AWS::IAM::Role":
			for _, pol := range getList(r, "Properties", "Policies") {
				for _, s := range getList(pol, "PolicyDocument", "Statement") {
					acts := get(s, "Action")
					if list, ok := acts.([]any); ok {
						for _, a := range list {
							if strings.Contains(a.(string), "*") {
								t.Errorf("%s: wildcard action %s", id, a)
							}
						}
					} else if strings.Contains(acts.(string), "*") {
						t.Errorf("%s: wildcard action %s", id, acts)
					}
				}
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
