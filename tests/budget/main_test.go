// Package budget_test proves Tollgate's budgets and rate limits against dynalite:
// under concurrency, across gateway processes, near the end of a budget and when a
// client walks away mid-stream.
package budget_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/tests/gatewaytest"
	"github.com/tollgate/tollgate/tests/lambdatest"
)

var ddb *dynamotest.Server

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m, &ddb)) }

// process is one gateway process: its base URL and its output.
type process struct {
	URL    string
	Out    *gatewaytest.SyncBuffer
	Cmd    *exec.Cmd
	Exited <-chan struct{} // closed once the process has exited
}

// startProcesses runs n local gateway processes (the real functions/local binary)
// on one table and returns their base URLs.
func startProcesses(t *testing.T, n int, table string) []string {
	t.Helper()
	var urls []string
	for _, p := range startLogged(t, n, table, "error") {
		urls = append(urls, p.URL)
	}
	return urls
}

// startLogged is startProcesses at the given LOG_LEVEL, keeping each process's
// output; env adds or overrides variables ("MODELS=...").
func startLogged(t *testing.T, n int, table, logLevel string, env ...string) []process {
	t.Helper()
	srv := dynamotest.Require(t, ddb)
	bin := lambdatest.Build(t, "local")
	var procs []process
	for i := range n {
		// A free port may be taken before the process binds it (by any
		// outgoing connection of the machine): a process that exits at once is
		// started again on another.
		for attempt := 1; ; attempt++ {
			port, err := dynamotest.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin)
			cmd.Env = []string{
				"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
				"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
				"AWS_ENDPOINT_URL_DYNAMODB=" + srv.URL, "TABLE_NAME=" + table,
				"ADMIN_API_KEY=test-admin-key", "MODELS=echo/echo-1", "LOG_LEVEL=" + logLevel,
				fmt.Sprintf("PORT=%d", port),
			}
			cmd.Env = append(cmd.Env, env...) // later entries win
			out := &gatewaytest.SyncBuffer{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
				if t.Failed() {
					t.Logf("gateway process %d output:\n%s", i, out.String())
				}
			})
			url := fmt.Sprintf("http://127.0.0.1:%d", port)
			if waitHealthy(t, url, exited) {
				procs = append(procs, process{URL: url, Out: out, Cmd: cmd, Exited: exited})
				break
			}
			if attempt == 5 {
				t.Fatalf("gateway process %d exited %d times before it became healthy:\n%s", i, attempt, out.String())
			}
		}
	}
	return procs
}

// waitHealthy waits until the gateway at url answers /health with 200 (true)
// or its process exits (false); it fails the test after 60 s of neither.
func waitHealthy(t *testing.T, url string, exited <-chan struct{}) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", url+"/health", nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return true
			}
		}
		select {
		case <-exited:
			return false
		case <-ctx.Done():
			t.Fatalf("gateway at %s not healthy: %v", url, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
