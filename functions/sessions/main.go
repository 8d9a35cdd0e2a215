// Command sessions serves a tenant's server-side conversations (GET /sessions,
// GET and DELETE /sessions/{id}) behind API Gateway (buffered).
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
	lambda.Start(httpadapter.New(a.Sessions()).ProxyWithContext)
}
