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
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/tests/lambdatest"
)

var ddb *dynamotest.Server

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m, &ddb)) }

// startProcesses runs n local gateway processes (the real functions/local binary)
// on one table and returns their base URLs.
func startProcesses(t *testing.T, n int, table string) []string {
	t.Helper()
	srv := dynamotest.Require(t, ddb)
	bin := lambdatest.Build(t, "local")
	var urls []string
	for i := range n {
		port, err := dynamotest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin)
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
			"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
			"AWS_ENDPOINT_URL_DYNAMODB=" + srv.URL, "TABLE_NAME=" + table,
			"ADMIN_API_KEY=test-admin-key", "MODELS=echo/echo-1", "LOG_LEVEL=error",
			fmt.Sprintf("PORT=%d", port),
		}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("gateway process %d output:\n%s", i, out.String())
			}
		})
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		waitHealthy(t, url)
		urls = append(urls, url)
	}
	return urls
}

func waitHealthy(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", url+"/health", nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("gateway at %s not healthy: %v", url, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
