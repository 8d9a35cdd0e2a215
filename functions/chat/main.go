// Command chat serves POST /v1/chat/completions, POST /chat, GET /v1/models and
// the Responses API (POST /v1/responses, GET and DELETE /v1/responses/{id}, GET
// /v1/responses/{id}/input_items) as responses streamed chunk by chunk (Server-Sent Events for streamed answers),
// behind either front door template.yaml offers: the API Gateway REST API in
// response-streaming mode, or the optional function URL in RESPONSE_STREAM mode.
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
	lambda.Start(lambdahttp.StreamAny(a.Chat()))
}
