package bedrock

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tollgate/tollgate/shared/chat"
)

// authCodes are error codes of the AWS front end (not in Bedrock's schema, so the
// SDK reports them as smithy.GenericAPIError) that mean our credentials were refused.
var authCodes = map[string]bool{
	"UnrecognizedClientException": true,
	"InvalidSignatureException":   true,
	"SignatureDoesNotMatch":       true,
	"IncompleteSignature":         true,
	"MissingAuthenticationToken":  true,
	"InvalidClientTokenId":        true,
	"ExpiredToken":                true,
	"ExpiredTokenException":       true,
	"AccessDenied":                true,
	"UnauthorizedException":       true,
}

// classify turns an error from the Bedrock SDK into a *chat.ProviderError. An
// error caused by a cancelled context stays a plain error wrapping
// context.Canceled: the caller went away, and no provider failed.
//
//	ThrottlingException, ModelNotReadyException,
//	ServiceQuotaExceededException                          → ErrRateLimited
//	ModelTimeoutException, context.DeadlineExceeded        → ErrTimeout
//	ServiceUnavailableException, InternalServerException,
//	ModelErrorException, ModelStreamErrorException         → ErrUnavailable
//	ValidationException, ConflictException, invalid params → ErrBadRequest
//	AccessDeniedException, authCodes                       → ErrAuth
//	ResourceNotFoundException                              → ErrNotFound
//	other API errors: by HTTP status (401/403 auth, 404 not found,
//	408 timeout, 429 rate limited), else                   → ErrUnavailable
//	anything else (connection refused, reset, ...)         → ErrUnavailable
func classify(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("bedrock: %s: %w", op, err)
	}
	pe := &chat.ProviderError{Class: chat.ErrUnavailable, Err: fmt.Errorf("bedrock: %s: %w", op, err)}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		pe.Status = re.HTTPStatusCode()
		pe.RetryAfter = retryAfter(re.Response.Header)
	}
	var apiErr smithy.APIError
	hasAPIErr := errors.As(err, &apiErr)
	if hasAPIErr {
		pe.Message = apiErr.ErrorMessage()
	}

	switch {
	case is[*types.ThrottlingException](err),
		is[*types.ModelNotReadyException](err),
		// ServiceQuotaExceededException is a 400 in Bedrock's schema, but it means
		// a quota (tokens or requests per minute) is used up: the request itself is
		// fine and another model, or a later attempt, may succeed.
		is[*types.ServiceQuotaExceededException](err):
		pe.Class = chat.ErrRateLimited
	case is[*types.ModelTimeoutException](err):
		pe.Class = chat.ErrTimeout
	case is[*types.ServiceUnavailableException](err),
		is[*types.InternalServerException](err),
		is[*types.ModelErrorException](err),
		is[*types.ModelStreamErrorException](err):
		pe.Class = chat.ErrUnavailable
	case is[*types.ValidationException](err),
		is[*types.ConflictException](err),
		is[smithy.InvalidParamsError](err):
		pe.Class = chat.ErrBadRequest
	case is[*types.AccessDeniedException](err):
		pe.Class = chat.ErrAuth
	case is[*types.ResourceNotFoundException](err):
		pe.Class = chat.ErrNotFound
	case hasAPIErr && authCodes[apiErr.ErrorCode()]:
		pe.Class = chat.ErrAuth
	case hasAPIErr:
		pe.Class = statusClass(pe.Status)
	case errors.Is(err, context.DeadlineExceeded):
		pe.Class = chat.ErrTimeout
	}
	return pe
}

// is reports whether err's chain holds an error of type T.
func is[T error](err error) bool {
	var t T
	return errors.As(err, &t)
}

// statusClass classifies an API error Bedrock's schema does not name.
func statusClass(status int) chat.ErrorClass {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return chat.ErrAuth
	case http.StatusNotFound:
		return chat.ErrNotFound
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return chat.ErrTimeout
	case http.StatusTooManyRequests:
		return chat.ErrRateLimited
	}
	return chat.ErrUnavailable
}

// retryAfter reads a Retry-After header given in seconds; 0 when absent or not
// in seconds.
func retryAfter(h http.Header) time.Duration {
	s, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || s <= 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

// badRequest is a request Bedrock would refuse, caught before calling it.
func badRequest(msg string) error {
	return &chat.ProviderError{Class: chat.ErrBadRequest, Message: msg}
}

// errCut is the cause when a stream ends without messageStop or metadata: when the
// connection drops, the SDK closes the event channel without an error.
var errCut = errors.New("bedrock: event stream closed early")

// cut reports a stream that ended early.
func cut() error {
	return &chat.ProviderError{
		Class:   chat.ErrUnavailable,
		Message: "stream ended before messageStop/metadata",
		Err:     errCut,
	}
}

// malformed reports an answer from Bedrock that cannot be read.
func malformed(what string, err error) error {
	return &chat.ProviderError{
		Class:   chat.ErrUnavailable,
		Message: "malformed answer: " + what,
		Err:     fmt.Errorf("bedrock: %s: %w", what, err),
	}
}
