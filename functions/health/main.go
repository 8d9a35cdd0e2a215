// Command health serves GET /health behind API Gateway (buffered): the deployment's
// version, models and providers, and whether DynamoDB answers.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/tollgate/tollgate/shared/app"
)

func main() {
	a, err := app.FromEnv(context.Background(), os.Getenv)
	if err != nil {
		os.Exit(1) // FromEnv logged why; fail the init phase loudly
	}
	lambda.Start(httpadapter.New(a.Health()).ProxyWithContext)
}
