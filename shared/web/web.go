// Package web is the HTTP plumbing every Tollgate route shares: request ids, the
// one structured log line per request, panic recovery, body limits and JSON
// responses. Handlers are plain net/http; Lambda adapters and the local server run
// the same ones.
package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/lambdahttp"
)

// HeaderRequestID is the response header carrying the request id.
const HeaderRequestID = "x-request-id"

// Info is what a request's log line reports; handlers fill in what they learn.
type Info struct {
	RequestID string
	TraceID   string
	tenant    atomic.Pointer[string]
	key       atomic.Pointer[string]
	attrs     atomic.Pointer[[]slog.Attr]
}

// SetTenant records the authenticated tenant for the log line.
func (i *Info) SetTenant(id string) { i.tenant.Store(&id) }

// Tenant returns the tenant recorded by SetTenant, or "".
func (i *Info) Tenant() string {
	if p := i.tenant.Load(); p != nil {
		return *p
	}
	return ""
}

// SetKey records the id of the API key the request authenticated with.
func (i *Info) SetKey(id string) { i.key.Store(&id) }

// Key returns the key id recorded by SetKey, or "".
func (i *Info) Key() string {
	if p := i.key.Load(); p != nil {
		return *p
	}
	return ""
}

// AddAttrs adds attributes to the request's log line. Not for secrets or content.
func (i *Info) AddAttrs(a ...slog.Attr) {
	for {
		old := i.attrs.Load()
		var next []slog.Attr
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, a...)
		if i.attrs.CompareAndSwap(old, &next) {
			return
		}
	}
}

type infoKey struct{}

// InfoFrom returns the request's Info. Outside Wrap it returns a throwaway Info,
// so callers never check for nil.
func InfoFrom(ctx context.Context) *Info {
	if i, ok := ctx.Value(infoKey{}).(*Info); ok {
		return i
	}
	return &Info{}
}

// Wrap adds to h: a request id (the API Gateway or Lambda request id when there is
// one, else a random one) in the x-request-id header; the trace id from
// X-Amzn-Trace-Id; recovery from panics (500, logged); and one log line per request.
func Wrap(h http.Handler, log *slog.Logger, function string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &Info{RequestID: requestID(r), TraceID: traceID(r)}
		ctx := context.WithValue(r.Context(), infoKey{}, info)
		rw := &recorder{ResponseWriter: w}
		rw.Header().Set(HeaderRequestID, info.RequestID)
		req := r.WithContext(ctx)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(ctx, "panic", "panic", p, "stack", string(debug.Stack()))
				if rw.wrote {
					// The status is gone: abort the response so the client sees a cut
					// stream (and Lambda's error trailers), never a clean end.
					defer panic(p)
				} else {
					apierr.Write(rw, errors.New("panic"))
				}
			}
			attrs := []slog.Attr{ // requestId, traceId and tenantId: added by LogHandler
				slog.String("function", function),
				slog.String("route", req.Pattern), // set by ServeMux on req
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", rw.statusCode()),
				slog.Float64("durationMs", float64(time.Since(start).Microseconds())/1000),
			}
			if extra := info.attrs.Load(); extra != nil {
				attrs = append(attrs, *extra...)
			}
			log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
		}()
		h.ServeHTTP(rw, req)
	})
}

func requestID(r *http.Request) string {
	if id := lambdahttp.RequestID(r.Context()); id != "" { // REST API or function URL
		return id
	}
	if lc, ok := lambdacontext.FromContext(r.Context()); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func traceID(r *http.Request) string {
	if t := r.Header.Get("X-Amzn-Trace-Id"); t != "" {
		return t
	}
	if t, ok := r.Context().Value("x-amzn-trace-id").(string); ok { // set by aws-lambda-go
		return t
	}
	return ""
}

// recorder remembers the status for the log line. It keeps Flush (and Unwrap, for
// http.ResponseController) so streaming passes through untouched.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Flush() {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) statusCode() int {
	if !r.wrote {
		return http.StatusOK
	}
	return r.status
}

// JSON writes v with status.
func JSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b) // writes the trailing newline
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		apierr.Write(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// ReadBody reads a request body of at most max bytes: 413 past it. An empty body
// is a 400 when required.
func ReadBody(r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, tooLarge(max)
	}
	// One buffer of the announced size (plus room to see EOF): io.ReadAll
	// would grow it by doubling, copying the body each time.
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, max))
	b := buf.Bytes()
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge(max)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, apierr.New(apierr.Invalid, "body_timeout", "the request body did not arrive in time (READ_TIMEOUT)")
	}
	if err != nil {
		return nil, apierr.New(apierr.Invalid, "invalid_body", "could not read the request body")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, apierr.New(apierr.Invalid, "invalid_json", "the request body must be a JSON object")
	}
	return b, nil
}

func tooLarge(max int64) error {
	return apierr.New(apierr.TooLarge, "request_too_large",
		"the request body is larger than the limit of "+strconv.FormatInt(max, 10)+" bytes (MAX_REQUEST_BYTES)")
}

// BearerToken returns the token of an "Authorization: Bearer <token>" header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// NotFound answers unknown routes with an OpenAI-shaped 404.
func NotFound(w http.ResponseWriter, r *http.Request) {
	apierr.Write(w, apierr.New(apierr.NotFound, "route_not_found", "no route for "+r.Method+" "+r.URL.Path))
}

// Routes returns mux with OpenAI-shaped answers for requests no pattern matches:
// 404 route_not_found, or 405 method_not_allowed with the Allow header.
func Routes(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &probeWriter{h: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.h.Get("Allow"))
			apierr.Write(w, apierr.New(apierr.MethodNotAllowed, "method_not_allowed",
				r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+probe.h.Get("Allow")))
			return
		}
		NotFound(w, r)
	})
}

// probeWriter captures what ServeMux's own not-found or not-allowed handler says.
type probeWriter struct {
	h    http.Header
	code int
}

func (p *probeWriter) Header() http.Header         { return p.h }
func (p *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *probeWriter) WriteHeader(code int)        { p.code = code }
