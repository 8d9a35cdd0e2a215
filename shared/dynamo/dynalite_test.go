package dynamo_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
)

// TestDynaliteSurvivesAbortedRequests: clients that hang up before sending the
// whole body (a gateway killed mid-write, a cancelled SDK call) do not end the
// local DynamoDB-compatible server the tests and `make run` use: dynalite 4.0.0
// alone exits on the first one.
func TestDynaliteSurvivesAbortedRequests(t *testing.T) {
	srv := dynamotest.Require(t, ddb)
	addr := strings.TrimPrefix(srv.URL, "http://")
	for range 2 { // the second round's request meets the first round's aborts handled
		for range 5 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.Write([]byte("POST / HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-amz-json-1.0\r\n" +
				"X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 100000\r\n\r\n{\"Limit\":"))
			_ = c.Close()
		}
		if _, err := srv.Client().ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
			t.Fatalf("dynalite after aborted requests: %v", err)
		}
	}
}
