// Package lambdahttp serves a net/http handler as a streaming Lambda function.
//
// Stream serves an API Gateway REST API route whose integration uses response
// streaming (ResponseTransferMode STREAM); StreamURL serves a function URL with
// InvokeMode RESPONSE_STREAM. Both return a handler for lambda.Start:
//
//	lambda.Start(lambdahttp.Stream(h))
//
// The http.ResponseWriter given to h is unbuffered and implements http.Flusher:
// every Write reaches the Lambda runtime at once, so Server-Sent Events stream to
// the client as they are written. Status and headers are committed by the first
// Write, WriteHeader or Flush; later header changes are ignored, as with net/http.
//
// A handler that panics before committing produces a 500 response with an
// OpenAI-style JSON error body. A handler that panics after committing ends the
// body with a *PanicError, which the runtime reports to Lambda in the
// Lambda-Runtime-Function-Error-Type and -Body trailers, so the invocation counts
// as failed. Either way the process keeps serving. The adapter logs nothing, so a
// panic before commit leaves no trace but the 500: recover and log in middleware
// where that matters.
//
// The request's context is the invocation's, with its deadline. If it ends before
// the handler commits, the invocation fails with the context's error and the
// handler's later writes fail.
package lambdahttp

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
)

// internalErrorBody is the response body after a panic before commit; it has the
// shape of shared/apierr's Internal error without importing it.
const internalErrorBody = `{"error":{"message":"internal error","type":"server_error","code":null,"param":null}}`

// Stream adapts h to an API Gateway REST API route with response streaming
// (integration URI .../response-streaming-invocations, ResponseTransferMode
// STREAM).
//
// The request is built by aws-lambda-go-api-proxy, so
// core.GetAPIGatewayContextFromContext(r.Context()) returns the event's request
// context (and RequestID works). The request's context is the invocation context.
// An event whose body cannot be decoded is returned as an error, which the runtime
// reports to Lambda.
func Stream(h http.Handler) func(context.Context, events.APIGatewayProxyRequest) (*events.APIGatewayProxyStreamingResponse, error) {
	var acc core.RequestAccessor
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (*events.APIGatewayProxyStreamingResponse, error) {
		if ev.IsBase64Encoded {
			// Decode here: core logs decoding errors, and the adapter logs nothing.
			body, err := base64.StdEncoding.DecodeString(ev.Body)
			if err != nil {
				return nil, fmt.Errorf("lambdahttp: decode request body: %w", err)
			}
			ev.Body, ev.IsBase64Encoded = string(body), false
		}
		req, err := acc.EventToRequestWithContext(ctx, ev)
		if err != nil {
			return nil, fmt.Errorf("lambdahttp: convert event: %w", err)
		}
		hd, err := serve(ctx, h, req)
		if err != nil {
			return nil, err
		}
		cookies := hd.header.Values("Set-Cookie")
		hd.header.Del("Set-Cookie")
		resp := &events.APIGatewayProxyStreamingResponse{
			StatusCode: hd.code, // no default in aws-lambda-go: always set
			Cookies:    cookies,
			Body:       hd.body,
		}
		if len(hd.header) > 0 {
			resp.MultiValueHeaders = hd.header
		}
		return resp, nil
	}
}

// StreamURL adapts h to a Lambda function URL with InvokeMode RESPONSE_STREAM.
//
// The request carries the event's method, raw path and query string, headers,
// cookies (as one Cookie header) and body; RemoteAddr is the source IP. The event
// is available to h through URLRequestFromContext, and its request id through
// RequestID. Multiple values of a response header are joined with commas, except
// Set-Cookie, which becomes the response's cookies.
func StreamURL(h http.Handler) func(context.Context, events.LambdaFunctionURLRequest) (*events.LambdaFunctionURLStreamingResponse, error) {
	return func(ctx context.Context, ev events.LambdaFunctionURLRequest) (*events.LambdaFunctionURLStreamingResponse, error) {
		req, err := urlRequest(ctx, &ev)
		if err != nil {
			return nil, err
		}
		hd, err := serve(ctx, h, req)
		if err != nil {
			return nil, err
		}
		resp := &events.LambdaFunctionURLStreamingResponse{
			StatusCode: hd.code,
			Cookies:    hd.header.Values("Set-Cookie"),
			Body:       hd.body,
		}
		hd.header.Del("Set-Cookie")
		if len(hd.header) > 0 {
			resp.Headers = make(map[string]string, len(hd.header))
			for k, v := range hd.header {
				resp.Headers[k] = strings.Join(v, ",")
			}
		}
		return resp, nil
	}
}

type urlEventKey struct{}

// URLRequestFromContext returns the function URL event of a request served by
// StreamURL.
func URLRequestFromContext(ctx context.Context) (*events.LambdaFunctionURLRequest, bool) {
	ev, ok := ctx.Value(urlEventKey{}).(*events.LambdaFunctionURLRequest)
	return ev, ok
}

// RequestID returns the front door's id for the request being served: API
// Gateway's requestContext.requestId under Stream (or aws-lambda-go-api-proxy's
// httpadapter), the function URL's requestContext.requestId under StreamURL, and
// "" otherwise. It is not the Lambda invocation id, which lambdacontext holds.
func RequestID(ctx context.Context) string {
	if rc, ok := core.GetAPIGatewayContextFromContext(ctx); ok {
		return rc.RequestID
	}
	if ev, ok := URLRequestFromContext(ctx); ok {
		return ev.RequestContext.RequestID
	}
	return ""
}

// urlRequest converts a function URL event into a server-side *http.Request.
func urlRequest(ctx context.Context, ev *events.LambdaFunctionURLRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, fmt.Errorf("lambdahttp: decode request body: %w", err)
		}
	}
	u := "https://" + ev.RequestContext.DomainName + ev.RawPath
	if ev.RawQueryString != "" {
		u += "?" + ev.RawQueryString
	}
	ctx = context.WithValue(ctx, urlEventKey{}, ev)
	req, err := http.NewRequestWithContext(ctx, ev.RequestContext.HTTP.Method, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("lambdahttp: convert event: %w", err)
	}
	for k, v := range ev.Headers {
		req.Header.Add(k, v)
	}
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host // as net/http servers do, Host lives in req.Host only
	}
	req.Header.Del("Host")
	if len(ev.Cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	req.RemoteAddr = ev.RequestContext.HTTP.SourceIP
	req.RequestURI = req.URL.RequestURI()
	return req, nil
}

// PanicError ends the response body when the handler panics after committing
// status and headers. The runtime reports it in the trailers as error type
// "PanicError".
type PanicError struct {
	Value any // the value passed to panic
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("lambdahttp: handler panic: %v", e.Value)
}

// head is what the handler committed: status, a copy of its headers, and the body.
type head struct {
	code   int
	header http.Header
	body   io.Reader
}

// writer is the unbuffered http.ResponseWriter given to handlers.
type writer struct {
	header http.Header
	pw     *io.PipeWriter
	pr     *io.PipeReader
	once   sync.Once // guards the commit
	ready  chan head // receives the single commit; buffered
}

func (w *writer) Header() http.Header { return w.header }

// WriteHeader commits status and headers. Informational (1xx) codes cannot be
// sent through Lambda and are ignored, as are calls after the commit.
func (w *writer) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		return
	}
	w.commit(code, nil)
}

// Write commits status 200 if nothing is committed yet, then blocks until the
// runtime has read p.
func (w *writer) Write(p []byte) (int, error) {
	w.commit(http.StatusOK, p)
	return w.pw.Write(p)
}

// Flush commits status and headers. The body needs no flushing: Write is
// unbuffered.
func (w *writer) Flush() { w.commit(http.StatusOK, nil) }

// commit sends status, headers and the body reader once. Like net/http, it
// sniffs a Content-Type from the first write when the handler set none, but only
// if that write commits: net/http buffers, so it also sniffs after WriteHeader.
func (w *writer) commit(code int, first []byte) {
	w.once.Do(func() {
		if _, ok := w.header["Content-Type"]; !ok && len(first) > 0 {
			w.header.Set("Content-Type", http.DetectContentType(first))
		}
		hdr := w.header.Clone()
		for k, v := range hdr {
			if len(v) == 0 {
				delete(hdr, k) // a nil Content-Type only suppresses sniffing
			}
		}
		w.ready <- head{code: code, header: hdr, body: w.pr}
	})
}

// serve runs h in a goroutine and returns what it commits; the body streams from
// there. The body ends when h returns, so no goroutine outlives the invocation
// longer than h runs. If ctx ends before h commits, serve returns ctx's error and
// h's later writes fail.
func serve(ctx context.Context, h http.Handler, req *http.Request) (head, error) {
	pr, pw := io.Pipe()
	w := &writer{header: http.Header{}, pw: pw, pr: pr, ready: make(chan head, 1)}
	go func() {
		defer func() {
			p := recover()
			if p == nil {
				w.commit(http.StatusOK, nil) // a handler that wrote nothing
				pw.Close()
				return
			}
			// Committing here wins only if the handler had not committed: then
			// the client gets a clean 500. Otherwise end the body with an error.
			early := false
			w.once.Do(func() {
				early = true
				hdr := http.Header{"Content-Type": {"application/json"}}
				w.ready <- head{code: http.StatusInternalServerError, header: hdr, body: strings.NewReader(internalErrorBody)}
			})
			if early {
				pw.Close() // nobody reads pr
				return
			}
			pw.CloseWithError(&PanicError{Value: p})
		}()
		h.ServeHTTP(w, req)
	}()
	select {
	case hd := <-w.ready:
		return hd, nil
	case <-ctx.Done():
		err := fmt.Errorf("lambdahttp: handler did not respond: %w", context.Cause(ctx))
		pr.CloseWithError(err) // unblock the handler's writes
		return head{}, err
	}
}
