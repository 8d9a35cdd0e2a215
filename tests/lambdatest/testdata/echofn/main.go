// Command echofn is a buffered Lambda function for lambdatest's own tests: it
// answers an API Gateway proxy request with 200 and the request's body. A request
// whose body is "error" makes it return an error instead, "exit" makes the process
// exit with status 3, and "env:NAME" answers with the value of the environment
// variable NAME.
package main

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(handle)
}

func handle(_ context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	if req.Body == "error" {
		return events.APIGatewayProxyResponse{}, errors.New("echofn: asked to fail")
	}
	if req.Body == "exit" {
		os.Exit(3)
	}
	body := req.Body
	if name, ok := strings.CutPrefix(body, "env:"); ok {
		body = os.Getenv(name)
	}
	return events.APIGatewayProxyResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "text/plain"},
		Body:       body,
	}, nil
}
