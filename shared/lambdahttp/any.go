package lambdahttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
)

// StreamAny serves h behind either streaming front door from one function: the
// API Gateway REST API in response-streaming mode (Stream) and a function URL in
// RESPONSE_STREAM mode (StreamURL). The two deliver different events and expect
// different preludes, so each event is told apart by its shape: a function URL
// event (payload 2.0) has requestContext.http, a REST API event has httpMethod.
//
// The result is returned as an io.Reader: aws-lambda-go streams a returned reader
// whose JSON encoding fails, as both streaming response types' does by design
// (lambda/handler.go, v1.55.1).
func StreamAny(h http.Handler) func(context.Context, json.RawMessage) (io.Reader, error) {
	rest, url := Stream(h), StreamURL(h)
	return func(ctx context.Context, raw json.RawMessage) (io.Reader, error) {
		var s struct {
			HTTPMethod     string `json:"httpMethod"`
			RequestContext struct {
				HTTP *struct{} `json:"http"`
			} `json:"requestContext"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("lambdahttp: decode event: %w", err)
		}
		switch {
		case s.RequestContext.HTTP != nil:
			var ev events.LambdaFunctionURLRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("lambdahttp: decode function URL event: %w", err)
			}
			resp, err := url(ctx, ev)
			if err != nil || resp == nil { // never a typed nil in the interface
				return nil, err
			}
			return resp, nil
		case s.HTTPMethod != "":
			var ev events.APIGatewayProxyRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("lambdahttp: decode REST API event: %w", err)
			}
			resp, err := rest(ctx, ev)
			if err != nil || resp == nil {
				return nil, err
			}
			return resp, nil
		}
		return nil, errors.New("lambdahttp: the event is neither an API Gateway REST API request nor a function URL request")
	}
}
