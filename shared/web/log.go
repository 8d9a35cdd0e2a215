package web

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// LogHandler wraps h so that every record logged with a request's context carries
// that request's requestId, traceId (X-Amzn-Trace-Id), tenantId once known, and,
// on Lambda, the invocation's awsRequestId: one request's lines can be found by
// any of them.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if i, ok := ctx.Value(infoKey{}).(*Info); ok {
		if !hasAttr(r, "requestId") { // a line that names it already says it once
			r.AddAttrs(slog.String("requestId", i.RequestID))
		}
		if i.TraceID != "" {
			r.AddAttrs(slog.String("traceId", i.TraceID))
		}
		if t := i.Tenant(); t != "" {
			r.AddAttrs(slog.String("tenantId", t))
		}
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		r.AddAttrs(slog.String("awsRequestId", lc.AwsRequestID))
	}
	return l.Handler.Handle(ctx, r)
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func (l logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{l.Handler.WithAttrs(as)}
}

func (l logHandler) WithGroup(name string) slog.Handler { return logHandler{l.Handler.WithGroup(name)} }
