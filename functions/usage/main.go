// Command usage serves GET /usage behind API Gateway (buffered): the calling
// tenant's token usage, budgets and history.
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
	lambda.Start(httpadapter.New(a.Usage()).ProxyWithContext)
}
