// Command chat serves POST /v1/chat/completions, POST /chat, GET /v1/models and
// the Responses API (POST /v1/responses, GET and DELETE /v1/responses/{id}, GET
// /v1/responses/{id}/input_items) as responses streamed chunk by chunk (Server-Sent Events for streamed answers),
// behind either front door template.yaml offers: the API Gateway REST API in
// response-streaming mode, or the optional function URL in RESPONSE_STREAM mode.
// With VECTOR_BUCKET set, a request's file_search retrieves from the tenant's
// vector stores there (read only: the knowledge function manages them).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	s3vectorsapi "github.com/aws/aws-sdk-go-v2/service/s3vectors"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/lambdahttp"
	"github.com/tollgate/tollgate/shared/vectors"
	"github.com/tollgate/tollgate/shared/vectors/s3vectors"
)

func main() {
	a, err := app.FromEnv(context.Background(), os.Getenv)
	if err != nil {
		os.Exit(1) // FromEnv logged why; fail the init phase loudly
	}
	if b := a.Config.VectorBucket; b != "" {
		a.UseKnowledge(app.KnowledgeBackends{Vectors: vectors.ReadOnly(s3vectors.NewReader(s3vectorsapi.NewFromConfig(a.AWS), b))})
	}
	lambda.Start(lambdahttp.StreamAny(a.Chat()))
}
