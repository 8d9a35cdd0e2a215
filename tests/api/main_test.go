// Package api_test drives the local server's handlers over real HTTP against
// dynalite: the admin API, tenant authentication and health.
package api_test

import (
	"os"
	"testing"

	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/tests/gatewaytest"
)

var ddb *dynamotest.Server

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m, &ddb)) }

const adminKey = gatewaytest.AdminKey

var wantError = gatewaytest.WantError

func newGateway(t *testing.T, env map[string]string) *gatewaytest.Gateway {
	return gatewaytest.Start(t, ddb, env, nil)
}
