// Command embeddings serves POST /v1/embeddings behind API Gateway (buffered):
// vectors for the calling tenant's texts, metered against its budgets.
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
		os.Exit(1)
	}
	lambda.Start(httpadapter.New(a.Embeddings()).ProxyWithContext)
}
