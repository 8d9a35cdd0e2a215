// Package s3blobtest is a fake Amazon S3 that speaks the REST wire protocol
// of PutObject, GetObject and DeleteObject, so that the real s3 client
// reaches it through BaseEndpoint. Requests are path-style
// (/{bucket}/{key}, the key decoded as S3 decodes it), which the SDK uses
// by itself for an endpoint whose host is an IP address, as httptest's is.
//
// Like S3 it refuses:
//   - a request without SigV4 (403 AccessDenied), or whose Authorization
//     header is not AWS4-HMAC-SHA256 scoped to <day>/us-east-1/s3/aws4_request
//     with SignedHeaders naming host, x-amz-date and x-amz-content-sha256
//     (400 AuthorizationHeaderMalformed); the signature itself is not checked;
//   - a missing x-amz-content-sha256 (400 InvalidRequest), one that is neither
//     a SHA-256 nor UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER
//     (400 InvalidArgument; the signed streaming forms are 501), and one
//     that does not match the body (400 XAmzContentSHA256Mismatch);
//   - a body whose Content-MD5 or x-amz-checksum-{crc32,crc32c,crc64nvme,
//     sha1,sha256}, as a header or an aws-chunked trailer, does not match
//     (400 BadDigest), or that names two checksums (400 InvalidRequest);
//   - a missing bucket (404 NoSuchBucket) or key (404 NoSuchKey), a key over
//     1,024 bytes (400 KeyTooLongError), a body over MaxBody (400
//     EntityTooLarge).
//
// Anything else S3 would do (other operations, subresources, copies,
// conditional or ranged requests) is 501 NotImplemented, or 405
// MethodNotAllowed for a method S3 has no use for, so that a client that
// relies on it fails here rather than passing against a fake that ignored
// what it asked. As S3 does today, an object stored without a checksum gets
// a CRC64NVME one, and GetObject returns the checksum when asked with
// x-amz-checksum-mode: ENABLED.
package s3blobtest

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The fake's identity: the bucket New and NewHandler make, and what test
// clients use.
const (
	Bucket          = "s3blobtest"
	Region          = "us-east-1"
	AccessKeyID     = "AKIDS3BLOBTEST"
	SecretAccessKey = "s3blobtest-secret"
	MaxBody         = 256 << 20 // bytes of a request body the fake reads
)

// Request is a request the fake received.
type Request struct {
	Op     string // "PutObject", "GetObject", "DeleteObject", or "" for one the fake does not serve
	Path   string // the URL path as sent
	Header http.Header
	Status int // the status answered
}

// Handler is the fake as an http.Handler; its methods are safe for
// concurrent use.
type Handler struct {
	mu       sync.Mutex
	buckets  map[string]map[string]*object
	requests []Request
	fail     map[string][]*s3Error
	seq      int
}

type object struct {
	data               []byte
	contentType, etag  string
	checksumAlg, check string // e.g. "CRC32" and its base64 value
	modified           time.Time
}

// NewHandler returns a fake holding one empty bucket, Bucket.
func NewHandler() *Handler {
	h := &Handler{buckets: map[string]map[string]*object{}, fail: map[string][]*s3Error{}}
	h.CreateBucket(Bucket)
	return h
}

// CreateBucket makes an empty bucket; one that exists is kept as it is.
func (h *Handler) CreateBucket(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.buckets[name] == nil {
		h.buckets[name] = map[string]*object{}
	}
}

// Calls returns how many requests for op (e.g. "PutObject") the fake
// received, answered with success or not.
func (h *Handler) Calls(op string) int { return len(h.Requests(op)) }

// Requests returns the requests for op received so far, in order; op "" means
// every request.
func (h *Handler) Requests(op string) []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Request
	for _, r := range h.requests {
		if op == "" || r.Op == op {
			r.Header = r.Header.Clone()
			out = append(out, r)
		}
	}
	return out
}

// Object returns a copy of the object under key in bucket.
func (h *Handler) Object(bucket, key string) ([]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o := h.buckets[bucket][key]
	if o == nil {
		return nil, false
	}
	return slices.Clone(o.data), true
}

// FailNext makes the next well-formed request for op answer code (e.g.
// "InternalError") at status. Calls queue up, so that n calls outlast n
// attempts of the SDK's retryer.
func (h *Handler) FailNext(op, code string, status int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail[op] = append(h.fail[op], &s3Error{status: status, Code: code, Message: "s3blobtest: scripted " + code})
}

// s3Error is an error answer, marshalled as S3's <Error> document.
type s3Error struct {
	XMLName    xml.Name `xml:"Error"`
	status     int
	Code       string
	Message    string
	Key        string `xml:",omitempty"`
	BucketName string `xml:",omitempty"`
	RequestID  string `xml:"RequestId"`
}

func errf(status int, code, format string, args ...any) *s3Error {
	return &s3Error{status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// S3 reads a '+' in the path as a space, as in a form (so the SDK sends
	// a key's '+' as %2B), then percent-decodes; %2F is a '/' like any other.
	path, _ := url.PathUnescape(strings.ReplaceAll(r.URL.EscapedPath(), "+", "%20"))
	bucket, key, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	op, e := route(r, bucket, key)
	var p *payload
	if e == nil {
		p, e = readBody(r)
	}

	h.mu.Lock()
	h.seq++
	id := fmt.Sprintf("S3BLOBTEST%08d", h.seq)
	h.requests = append(h.requests, Request{Op: op, Path: r.URL.EscapedPath(), Header: r.Header.Clone()})
	rec := &h.requests[len(h.requests)-1]
	if q := h.fail[op]; e == nil && len(q) > 0 {
		h.fail[op], e = q[1:], q[0]
	}
	var o *object
	if e == nil {
		o, e = h.serve(r, op, bucket, key, p)
	}
	rec.Status = http.StatusOK
	if e != nil {
		rec.Status = e.status
	} else if op == "DeleteObject" {
		rec.Status = http.StatusNoContent
	}
	h.mu.Unlock()

	w.Header().Set("X-Amz-Request-Id", id)
	w.Header().Set("X-Amz-Id-2", base64.StdEncoding.EncodeToString([]byte(id)))
	if e != nil {
		e.RequestID = id
		b, _ := xml.Marshal(e)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(e.status)
		_, _ = w.Write(append([]byte(xml.Header), b...))
		return
	}
	switch op {
	case "DeleteObject":
		w.WriteHeader(http.StatusNoContent)
	case "PutObject":
		w.Header().Set("ETag", o.etag)
		w.Header().Set("X-Amz-Server-Side-Encryption", "AES256")
		w.Header().Set("X-Amz-Checksum-"+o.checksumAlg, o.check)
		w.Header().Set("X-Amz-Checksum-Type", "FULL_OBJECT")
		w.Header().Set("Content-Length", "0")
	case "GetObject":
		w.Header().Set("Content-Type", o.contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(o.data)))
		w.Header().Set("ETag", o.etag)
		w.Header().Set("Last-Modified", o.modified.UTC().Format(http.TimeFormat))
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("X-Amz-Server-Side-Encryption", "AES256")
		if strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
			w.Header().Set("X-Amz-Checksum-"+o.checksumAlg, o.check)
			w.Header().Set("X-Amz-Checksum-Type", "FULL_OBJECT")
		}
		_, _ = w.Write(o.data)
	}
}

// route names the operation of r, or refuses what the fake does not serve.
func route(r *http.Request, bucket, key string) (string, *s3Error) {
	ops := map[string]string{http.MethodPut: "PutObject", http.MethodGet: "GetObject", http.MethodDelete: "DeleteObject"}
	op := ops[r.Method]
	if e := checkAuth(r); e != nil {
		return op, e
	}
	switch {
	case r.Method != http.MethodHead && r.Method != http.MethodPost && op == "":
		return "", errf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	case op == "" || bucket == "" || key == "":
		return "", errf(http.StatusNotImplemented, "NotImplemented", "s3blobtest: %s %s is not implemented", r.Method, r.URL.EscapedPath())
	}
	for q, v := range r.URL.Query() {
		if q != "x-id" || v[0] != op { // the SDK names the operation in x-id
			return "", errf(http.StatusNotImplemented, "NotImplemented", "s3blobtest: query parameter %q is not implemented", q)
		}
	}
	for _, hd := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "Range", "X-Amz-Copy-Source"} {
		if r.Header.Get(hd) != "" {
			return "", errf(http.StatusNotImplemented, "NotImplemented", "s3blobtest: header %s is not implemented", hd)
		}
	}
	return op, nil
}

// checkAuth checks that r is SigV4 signed for s3 in Region, as the SDK signs
// every request; the signature itself is not verified.
func checkAuth(r *http.Request) *s3Error {
	rest, ok := strings.CutPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ")
	if r.Header.Get("Authorization") == "" {
		return errf(http.StatusForbidden, "AccessDenied", "Access Denied")
	} else if !ok {
		return errf(http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed; it must use AWS4-HMAC-SHA256.")
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	signed := strings.Split(fields["SignedHeaders"], ";")
	sig := fields["Signature"]
	switch {
	case len(scope) != 5 || scope[0] == "" || len(scope[1]) != 8 || scope[4] != "aws4_request":
		return errf(http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed; the Credential is mal-formed.")
	case scope[2] != Region:
		return errf(http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed; the region '%s' is wrong; expecting '%s'", scope[2], Region)
	case scope[3] != "s3":
		return errf(http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed; incorrect service \"%s\". This endpoint belongs to \"s3\".", scope[3])
	case !slices.Contains(signed, "host") || !slices.Contains(signed, "x-amz-date") || !slices.Contains(signed, "x-amz-content-sha256"):
		return errf(http.StatusBadRequest, "AuthorizationHeaderMalformed", "s3blobtest: SignedHeaders %q must include host, x-amz-date and x-amz-content-sha256", fields["SignedHeaders"])
	case len(sig) != 64 || strings.Trim(sig, "0123456789abcdef") != "":
		return errf(http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed; the Signature is mal-formed.")
	case !strings.HasPrefix(r.Header.Get("X-Amz-Date"), scope[1]):
		return errf(http.StatusForbidden, "AccessDenied", "s3blobtest: X-Amz-Date %q is not of the credential scope's day %s", r.Header.Get("X-Amz-Date"), scope[1])
	}
	return nil
}

// payload is a request body as checked: its bytes, decoded, and the
// checksum it came with ("" if none).
type payload struct {
	data       []byte
	alg, check string
}

// readBody reads r's body, decoding aws-chunked, and checks it against
// x-amz-content-sha256 and the checksums r carries.
func readBody(r *http.Request) (*payload, *s3Error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, errf(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header: %v", err)
	}
	if len(raw) > MaxBody {
		return nil, errf(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
	}
	body, trailers := raw, http.Header{}
	sha := r.Header.Get("X-Amz-Content-Sha256")
	chunked := slices.Contains(strings.Split(strings.ReplaceAll(r.Header.Get("Content-Encoding"), " ", ""), ","), "aws-chunked")
	switch {
	case sha == "":
		return nil, errf(http.StatusBadRequest, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
	case strings.HasPrefix(sha, "STREAMING-") && sha != "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
		return nil, errf(http.StatusNotImplemented, "NotImplemented", "s3blobtest: x-amz-content-sha256 %s is not implemented", sha)
	case chunked != (sha == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"):
		return nil, errf(http.StatusBadRequest, "InvalidRequest", "s3blobtest: Content-Encoding aws-chunked goes with STREAMING-UNSIGNED-PAYLOAD-TRAILER, not %s", sha)
	case chunked:
		if body, trailers, err = decodeChunked(raw); err != nil {
			return nil, errf(http.StatusBadRequest, "IncompleteBody", "s3blobtest: malformed aws-chunked body: %v", err)
		}
		if n := r.Header.Get("X-Amz-Decoded-Content-Length"); n != strconv.Itoa(len(body)) {
			return nil, errf(http.StatusBadRequest, "IncompleteBody", "s3blobtest: x-amz-decoded-content-length %q, but the body decodes to %d bytes", n, len(body))
		}
		for _, t := range strings.Split(r.Header.Get("X-Amz-Trailer"), ",") {
			if t = strings.TrimSpace(t); t != "" && trailers.Get(t) == "" {
				return nil, errf(http.StatusBadRequest, "MalformedTrailerError", "The request contained trailing data that was not well-formed or did not conform to our published schema.")
			}
		}
	case sha == "UNSIGNED-PAYLOAD":
	case len(sha) != 64 || strings.Trim(sha, "0123456789abcdef") != "":
		return nil, errf(http.StatusBadRequest, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, or a valid sha256 value.")
	default:
		if got := sum(sha256.New(), body, hex.EncodeToString); got != sha {
			return nil, errf(http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	}
	if md := r.Header.Get("Content-Md5"); md != "" {
		if d, err := base64.StdEncoding.DecodeString(md); err != nil || len(d) != md5.Size {
			return nil, errf(http.StatusBadRequest, "InvalidDigest", "The Content-MD5 you specified was invalid.")
		} else if md != sum(md5.New(), body, base64.StdEncoding.EncodeToString) {
			return nil, errf(http.StatusBadRequest, "BadDigest", "The Content-MD5 you specified did not match what we received.")
		}
	}
	alg, want, e := requestChecksum(r.Header, trailers)
	if e == nil && alg != "" && want != sum(checksums[alg](), body, base64.StdEncoding.EncodeToString) {
		e = errf(http.StatusBadRequest, "BadDigest", "The %s you specified did not match the calculated checksum.", alg)
	}
	if e != nil {
		return nil, e
	}
	return &payload{body, alg, want}, nil
}

// checksums are the hashes of S3's x-amz-checksum-* headers.
var checksums = map[string]func() hash.Hash{
	"CRC32":     func() hash.Hash { return crc32.NewIEEE() },
	"CRC32C":    func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"CRC64NVME": func() hash.Hash { return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5)) },
	"SHA1":      sha1.New,
	"SHA256":    sha256.New,
}

// requestChecksum returns the one x-amz-checksum-* of the headers and
// trailers, as its algorithm and value; none is "", "".
func requestChecksum(header, trailers http.Header) (alg, value string, e *s3Error) {
	for _, hs := range []http.Header{header, trailers} {
		for k, v := range hs {
			a, ok := strings.CutPrefix(strings.ToUpper(k), "X-AMZ-CHECKSUM-")
			if !ok || a == "MODE" || a == "TYPE" || a == "ALGORITHM" {
				continue
			}
			if checksums[a] == nil {
				return "", "", errf(http.StatusBadRequest, "InvalidRequest", "s3blobtest: unknown checksum header %s", k)
			}
			if alg != "" {
				return "", "", errf(http.StatusBadRequest, "InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
			}
			alg, value = a, v[0]
		}
	}
	if sdk := header.Get("X-Amz-Sdk-Checksum-Algorithm"); sdk != "" && !strings.EqualFold(sdk, alg) {
		return "", "", errf(http.StatusBadRequest, "InvalidRequest", "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.")
	}
	return alg, value, nil
}

func sum(h hash.Hash, b []byte, enc func([]byte) string) string {
	h.Write(b)
	return enc(h.Sum(nil))
}

// decodeChunked decodes an unsigned aws-chunked body: chunks of
// "<hex size>\r\n<data>\r\n", a "0\r\n" chunk, "name:value\r\n" trailers and
// a closing "\r\n".
func decodeChunked(raw []byte) ([]byte, http.Header, error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	line := func() (string, error) {
		s, err := br.ReadString('\n')
		if err != nil || !strings.HasSuffix(s, "\r\n") {
			return "", fmt.Errorf("unterminated line %q", s)
		}
		return strings.TrimSuffix(s, "\r\n"), nil
	}
	var body []byte
	for {
		s, err := line()
		if err != nil {
			return nil, nil, err
		}
		size, _, _ := strings.Cut(s, ";") // chunk extensions are for signed chunks
		n, err := strconv.ParseInt(size, 16, 64)
		if err != nil || n < 0 || n > MaxBody {
			return nil, nil, fmt.Errorf("bad chunk size %q", s)
		}
		if n == 0 {
			break
		}
		chunk := make([]byte, n+2)
		if _, err := io.ReadFull(br, chunk); err != nil || !bytes.HasSuffix(chunk, []byte("\r\n")) {
			return nil, nil, fmt.Errorf("chunk of %d bytes not followed by CRLF", n)
		}
		body = append(body, chunk[:n]...)
	}
	trailers := http.Header{}
	for {
		s, err := line()
		if err != nil {
			return nil, nil, err
		}
		if s == "" {
			break
		}
		k, v, ok := strings.Cut(s, ":")
		if !ok {
			return nil, nil, fmt.Errorf("bad trailer %q", s)
		}
		trailers.Set(k, strings.TrimSpace(v))
	}
	if br.Buffered() != 0 {
		return nil, nil, fmt.Errorf("%d bytes after the final CRLF", br.Buffered())
	}
	return body, trailers, nil
}

// serve carries out op; h.mu is held.
func (h *Handler) serve(r *http.Request, op, bucket, key string, p *payload) (*object, *s3Error) {
	b := h.buckets[bucket]
	switch {
	case b == nil:
		e := errf(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		e.BucketName = bucket
		return nil, e
	case len(key) > 1024:
		return nil, errf(http.StatusBadRequest, "KeyTooLongError", "Your key is too long")
	}
	switch op {
	case "PutObject":
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			ct = "binary/octet-stream" // what S3 stores when none is given
		}
		o := &object{data: p.data, contentType: ct, modified: time.Now(),
			etag: `"` + sum(md5.New(), p.data, hex.EncodeToString) + `"`, checksumAlg: p.alg, check: p.check}
		if o.checksumAlg == "" {
			o.checksumAlg, o.check = "CRC64NVME", sum(checksums["CRC64NVME"](), p.data, base64.StdEncoding.EncodeToString)
		}
		b[key] = o
		return o, nil
	case "GetObject":
		if o := b[key]; o != nil {
			return o, nil
		}
		e := errf(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		e.Key = key
		return nil, e
	default: // "DeleteObject"
		delete(b, key)
		return nil, nil
	}
}

// Server is a Handler served on a loopback httptest server.
type Server struct {
	*Handler
	URL string // base URL, e.g. http://127.0.0.1:1234

	ts *httptest.Server
}

// New starts a fake on a loopback port; Close stops it.
func New() *Server {
	h := NewHandler()
	ts := httptest.NewServer(h)
	return &Server{Handler: h, URL: ts.URL, ts: ts}
}

// Close shuts the server down.
func (s *Server) Close() { s.ts.Close() }

// Client returns a real S3 client of the fake; see Config.
func (s *Server) Client() *s3.Client { return s3.NewFromConfig(Config(s.URL)) }

// Config returns an AWS configuration for the fake at baseURL: static test
// credentials, region us-east-1, and one attempt per call, so that a
// scripted error is not retried away. Request checksums and response
// validation are "when supported", as config.LoadDefaultConfig resolves them
// and production therefore runs; a bare aws.Config leaves them unset, which
// the s3 client takes for "when required" and sends no checksum at all.
func Config(baseURL string) aws.Config {
	return aws.Config{
		Region:                     Region,
		BaseEndpoint:               aws.String(baseURL),
		Credentials:                credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		RetryMaxAttempts:           1,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}
}
