// Command chat serves POST /v1/chat/completions, POST /chat and GET /v1/models
// behind an API Gateway REST API in response-streaming mode, so answers stream as
// Server-Sent Events chunk by chunk.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/lambdahttp"
)

func main() {
	a, err := app.FromEnv(context.Background(), os.Getenv)
	if err != nil {
		os.Exit(1) // FromEnv logged why; fail the init phase loudly
	}
	lambda.Start(lambdahttp.Stream(a.Chat()))
}
