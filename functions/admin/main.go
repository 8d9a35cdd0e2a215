// Command admin serves the operators' API (/admin/tenants...) behind API Gateway
// with AWS_IAM authorization (buffered).
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
	lambda.Start(httpadapter.New(a.Admin()).ProxyWithContext)
}
