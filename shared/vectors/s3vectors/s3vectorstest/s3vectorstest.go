// Package s3vectorstest is a fake Amazon S3 Vectors that speaks the real wire
// protocol, so that the real s3vectors client reaches it through
// BaseEndpoint: restJson1, every operation a POST /{Operation} with a JSON
// body (the paths and member names of aws-sdk-go-v2/service/s3vectors
// v1.7.2's serializers), and every error an X-Amzn-ErrorType header with a
// {"message": …} body and the status of the service model's httpError trait
// (ValidationException 400, NotFoundException 404, ConflictException 409,
// ServiceQuotaExceededException 402, …).
//
// It serves CreateIndex, GetIndex, DeleteIndex, PutVectors, DeleteVectors,
// QueryVectors, GetVectors and ListVectors, over vector buckets made with
// CreateBucket (New and NewHandler make Bucket). Each request must carry a
// SigV4 Authorization header scoped to the s3vectors service, with an
// X-Amz-Date of the scope's day (the signature itself is not checked):
// without one the fake answers 403 MissingAuthenticationTokenException, the
// error of AWS's REST front ends, and 403 InvalidSignatureException for a
// malformed one or another service's.
//
// Like the service, it refuses (ValidationException unless said otherwise):
//   - index names that are not 3 to 63 lowercase letters, digits, hyphens and
//     dots beginning and ending with a letter or digit; a data type other
//     than float32, a metric other than cosine or euclidean, a dimension
//     outside 1 to 4,096; 1 to 10 non-filterable metadata keys of 1 to 63
//     characters, without repeats; an index that exists (ConflictException);
//     more than 10,000 indexes in a bucket (ServiceQuotaExceededException);
//   - PutVectors of no vector or more than 500, two vectors with one key,
//     keys of 0 or more than 1,024 characters, vectors of the wrong
//     dimension, with NaN or infinite values, or all zeros under cosine;
//     metadata that is not an object of strings, numbers, booleans and lists
//     of them, more than 50 keys, more than 2,048 bytes of filterable or
//     40,960 bytes of all metadata (measured as compact JSON);
//   - DeleteVectors of no key or more than 500; GetVectors of more than 100;
//   - QueryVectors with topK outside 1 to 100, a query vector as PutVectors
//     refuses one, or a filter that does not parse;
//   - request bodies over 20 MiB; operations on a missing bucket or index
//     (NotFoundException).
//
// Limits are from the Amazon S3 User Guide's "Limitations and restrictions"
// (s3-vectors-limitations.html) and the service model (aws-sdk-go-v2
// codegen/sdk-codegen/aws-models/s3vectors.json); filter syntax and
// semantics from the guide's "Metadata filtering"
// (s3-vectors-metadata-filtering.html). The fake evaluates filters itself:
//   - {"k": v} is {"k": {"$eq": v}}; several keys in one object, or several
//     operators on one key, must all hold; "$and" and "$or" take non-empty
//     arrays of filters; any other key beginning with "$" is refused, as is
//     a key that is one of the index's non-filterable metadata keys;
//   - $eq and $ne take a string, number or boolean; $gt, $gte, $lt and $lte
//     a number; $in and $nin a non-empty array of them; $exists a boolean;
//     an array in place of a value ({"k": ["a"]}) is refused;
//   - values compare only with values of their type (the string "1" is not
//     the number 1); $gt and the like are false on non-numbers; on a list,
//     $eq, $in and $gt and the like hold when one element does, $ne and $nin
//     when none does (the guide documents $eq; the rest follow MongoDB);
//   - every operator but $exists is false on a missing key, $ne and $nin
//     included. The guide does not say what $ne and $nin do there; this is
//     the stricter reading, so that a client that needs a missing key to
//     pass must say so with {"$exists": false}.
//
// It searches exhaustively: QueryVectors filters first, then returns the
// topK nearest by exact distance (cosine distance 1 − cos θ, or Euclidean),
// closest first, ties broken by key.
package s3vectorstest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3vectors"
)

// The fake's identity: the bucket New and NewHandler make, and what its ARNs
// and test clients use.
const (
	Bucket          = "s3vectorstest"
	Region          = "us-east-1"
	Account         = "123456789012"
	AccessKeyID     = "AKIDS3VECTORSTEST"
	SecretAccessKey = "s3vectorstest-secret"
)

// The service's limits, which the fake enforces.
const (
	MaxBatch             = 500      // vectors per PutVectors, keys per DeleteVectors
	MaxGetKeys           = 100      // keys per GetVectors
	MaxTopK              = 100      // topK of QueryVectors
	MaxDimension         = 4096     // values per vector
	MaxKeyLength         = 1024     // characters of a vector key
	MaxFilterableBytes   = 2048     // filterable metadata per vector
	MaxMetadataBytes     = 40960    // all metadata per vector
	MaxMetadataKeys      = 50       // metadata keys per vector
	MaxNonFilterableKeys = 10       // non-filterable metadata keys per index
	MaxIndexes           = 10000    // indexes per bucket
	MaxListResults       = 1000     // vectors per ListVectors page
	MaxPayload           = 20 << 20 // bytes of a request body
)

// Request is a request the fake received.
type Request struct {
	Op     string // the operation, e.g. "PutVectors"
	Body   []byte // the JSON body
	Status int    // the status answered
}

// Handler is the fake as an http.Handler. Its methods are safe for concurrent
// use.
type Handler struct {
	mu       sync.Mutex
	buckets  map[string]*bucket
	requests []Request
	fail     map[string][]*apiError
	seq      int
}

type bucket struct {
	name    string
	indexes map[string]*index
}

type index struct {
	bucket, name  string
	dim           int
	metric        string
	nonFilterable []string
	created       time.Time
	vectors       map[string]*vector
}

type vector struct {
	key      string
	data     []float32
	metadata map[string]any // string, float64, bool, or []any of them
}

// NewHandler returns a fake holding one empty vector bucket, Bucket.
func NewHandler() *Handler {
	h := &Handler{buckets: map[string]*bucket{}, fail: map[string][]*apiError{}}
	h.CreateBucket(Bucket)
	return h
}

// CreateBucket makes an empty vector bucket; one that exists is kept as it is.
func (h *Handler) CreateBucket(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.buckets[name] == nil {
		h.buckets[name] = &bucket{name: name, indexes: map[string]*index{}}
	}
}

// Calls returns how many requests for op (e.g. "PutVectors") the fake
// received, answered with success or not.
func (h *Handler) Calls(op string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.requests {
		if r.Op == op {
			n++
		}
	}
	return n
}

// Requests returns the requests for op received so far, in order of arrival;
// op "" means every request.
func (h *Handler) Requests(op string) []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Request
	for _, r := range h.requests {
		if op == "" || r.Op == op {
			r.Body = slices.Clone(r.Body)
			out = append(out, r)
		}
	}
	return out
}

// FailNext makes the next request for op answer errorType (e.g.
// "ServiceUnavailableException") with message, at the status the service
// gives that error (500 when it has none). Calls queue up.
func (h *Handler) FailNext(op, errorType, message string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if message == "" {
		message = "s3vectorstest: scripted " + errorType
	}
	h.fail[op] = append(h.fail[op], &apiError{status: errorStatus(errorType), code: errorType, msg: message})
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.URL.Path, "/")
	if !known(op) {
		writeError(w, "", &apiError{http.StatusNotFound, "UnknownOperationException",
			fmt.Sprintf("s3vectorstest: unknown operation %s %s", r.Method, r.URL.Path)})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, "", &apiError{http.StatusMethodNotAllowed, "UnknownOperationException",
			fmt.Sprintf("s3vectorstest: %s takes POST, not %s", op, r.Method)})
		return
	}
	body, readErr := io.ReadAll(io.LimitReader(r.Body, MaxPayload+1))

	h.mu.Lock()
	h.seq++
	id := fmt.Sprintf("s3vectorstest-%d", h.seq)
	h.requests = append(h.requests, Request{Op: op, Body: body})
	rec := &h.requests[len(h.requests)-1]
	out, e := h.serve(r, op, body, readErr)
	status := http.StatusOK
	if e != nil {
		status = e.status
	}
	rec.Status = status
	h.mu.Unlock()

	if e != nil {
		writeError(w, id, e)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(w, id, errf("InternalServerException", "s3vectorstest: encode answer: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", id)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// serve answers one request; h.mu is held.
func (h *Handler) serve(r *http.Request, op string, body []byte, readErr error) (any, *apiError) {
	if e := checkAuth(r); e != nil {
		return nil, e
	}
	if readErr != nil {
		return nil, errf("ValidationException", "could not read the request body: %v", readErr)
	}
	if len(body) > MaxPayload {
		return nil, errf("ValidationException", "request payload is over %d bytes", MaxPayload)
	}
	if q := h.fail[op]; len(q) > 0 {
		h.fail[op] = q[1:]
		return nil, q[0]
	}
	switch op {
	case "CreateIndex":
		return h.createIndex(body)
	case "GetIndex":
		return h.getIndex(body)
	case "DeleteIndex":
		return h.deleteIndex(body)
	case "PutVectors":
		return h.putVectors(body)
	case "DeleteVectors":
		return h.deleteVectors(body)
	case "QueryVectors":
		return h.queryVectors(body)
	case "GetVectors":
		return h.getVectors(body)
	default: // "ListVectors"
		return h.listVectors(body)
	}
}

func known(op string) bool {
	switch op {
	case "CreateIndex", "GetIndex", "DeleteIndex", "PutVectors", "DeleteVectors",
		"QueryVectors", "GetVectors", "ListVectors":
		return true
	}
	return false
}

// apiError is an error answer.
type apiError struct {
	status int
	code   string // the X-Amzn-ErrorType
	msg    string
}

// statuses are the HTTP statuses of the service model's errors (httpError
// traits; ValidationException has none, so a client error's 400), and of the
// AWS front end's authentication and routing errors.
var statuses = map[string]int{
	"AccessDeniedException":               http.StatusForbidden,
	"ConflictException":                   http.StatusConflict,
	"InternalServerException":             http.StatusInternalServerError,
	"KmsDisabledException":                http.StatusBadRequest,
	"KmsInvalidKeyUsageException":         http.StatusBadRequest,
	"KmsInvalidStateException":            http.StatusBadRequest,
	"KmsNotFoundException":                http.StatusBadRequest,
	"NotFoundException":                   http.StatusNotFound,
	"RequestTimeoutException":             http.StatusRequestTimeout,
	"ServiceQuotaExceededException":       http.StatusPaymentRequired,
	"ServiceUnavailableException":         http.StatusServiceUnavailable,
	"TooManyRequestsException":            http.StatusTooManyRequests,
	"ValidationException":                 http.StatusBadRequest,
	"MissingAuthenticationTokenException": http.StatusForbidden,
	"InvalidSignatureException":           http.StatusForbidden,
	"UnknownOperationException":           http.StatusNotFound,
}

func errorStatus(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

func errf(code, format string, args ...any) *apiError {
	return &apiError{status: errorStatus(code), code: code, msg: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *apiError {
	return errf("ValidationException", format, args...)
}

// writeError answers e the way the SDK's restJson1 deserializers read it: the
// code from the X-Amzn-ErrorType header, the message from the body.
func writeError(w http.ResponseWriter, id string, e *apiError) {
	w.Header().Set("X-Amzn-Errortype", e.code)
	if id != "" {
		w.Header().Set("X-Amzn-Requestid", id)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": e.msg})
}

// checkAuth checks that r carries a SigV4 Authorization header scoped to
// s3vectors, as the SDK signs every request; the signature itself is not
// verified.
func checkAuth(r *http.Request) *apiError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errf("MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return errf("InvalidSignatureException", "the Authorization header must use AWS4-HMAC-SHA256")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] == "" || len(scope[1]) != 8 || scope[2] == "" || scope[4] != "aws4_request" {
		return errf("InvalidSignatureException", "malformed Credential %q in the Authorization header", fields["Credential"])
	}
	if scope[3] != "s3vectors" {
		return errf("InvalidSignatureException", "Credential should be scoped to correct service: 's3vectors'.")
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !slices.Contains(signed, "host") || !slices.Contains(signed, "x-amz-date") {
		return errf("InvalidSignatureException", "the signed headers %q must include host and x-amz-date", fields["SignedHeaders"])
	}
	if sig := fields["Signature"]; len(sig) != 64 || strings.Trim(sig, "0123456789abcdef") != "" {
		return errf("InvalidSignatureException", "malformed Signature in the Authorization header")
	}
	if d := r.Header.Get("X-Amz-Date"); !strings.HasPrefix(d, scope[1]) {
		return errf("InvalidSignatureException", "X-Amz-Date %q does not match the credential scope's date %s", d, scope[1])
	}
	return nil
}

// decode decodes a request body into v.
func decode(body []byte, v any) *apiError {
	if err := json.Unmarshal(body, v); err != nil {
		return invalid("malformed request body: %v", err)
	}
	return nil
}

// indexRef names an index, by bucket and name or by ARN.
type indexRef struct {
	VectorBucketName *string `json:"vectorBucketName"`
	IndexName        *string `json:"indexName"`
	IndexArn         *string `json:"indexArn"`
}

var (
	indexNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	indexArnRE  = regexp.MustCompile(`^arn:aws[-a-z0-9]*:s3vectors:[a-z0-9-]+:[0-9]{12}:bucket/([a-z0-9][a-z0-9-.]{1,61}[a-z0-9])/index/([a-z0-9][a-z0-9-.]{1,61}[a-z0-9])$`)
	bucketArnRE = regexp.MustCompile(`^arn:aws[-a-z0-9]*:s3vectors:[a-z0-9-]+:[0-9]{12}:bucket/([a-z0-9][a-z0-9-.]{1,61}[a-z0-9])$`)
)

// lookup returns the index ref names; h.mu is held.
func (h *Handler) lookup(ref indexRef) (*index, *apiError) {
	var bucketName, indexName string
	switch {
	case ref.IndexArn != nil && (ref.VectorBucketName != nil || ref.IndexName != nil):
		return nil, invalid("specify either indexArn, or vectorBucketName and indexName, not both")
	case ref.IndexArn != nil:
		m := indexArnRE.FindStringSubmatch(*ref.IndexArn)
		if m == nil {
			return nil, invalid("indexArn %q is not a vector index ARN", *ref.IndexArn)
		}
		bucketName, indexName = m[1], m[2]
	case ref.VectorBucketName != nil && ref.IndexName != nil:
		bucketName, indexName = *ref.VectorBucketName, *ref.IndexName
	default:
		return nil, invalid("specify indexArn, or vectorBucketName and indexName")
	}
	if n := utf8.RuneCountInString(indexName); n < 3 || n > 63 {
		return nil, invalid("indexName must be 3 to 63 characters long, not %d", n)
	}
	b := h.buckets[bucketName]
	if b == nil {
		return nil, errf("NotFoundException", "vector bucket %q not found", bucketName)
	}
	x := b.indexes[indexName]
	if x == nil {
		return nil, errf("NotFoundException", "vector index %q not found in vector bucket %q", indexName, bucketName)
	}
	return x, nil
}

func (x *index) arn() string {
	return fmt.Sprintf("arn:aws:s3vectors:%s:%s:bucket/%s/index/%s", Region, Account, x.bucket, x.name)
}

func (h *Handler) createIndex(body []byte) (any, *apiError) {
	var in struct {
		VectorBucketName        *string           `json:"vectorBucketName"`
		VectorBucketArn         *string           `json:"vectorBucketArn"`
		IndexName               *string           `json:"indexName"`
		DataType                *string           `json:"dataType"`
		Dimension               *int              `json:"dimension"`
		DistanceMetric          *string           `json:"distanceMetric"`
		EncryptionConfiguration json.RawMessage   `json:"encryptionConfiguration"`
		Tags                    map[string]string `json:"tags"`
		MetadataConfiguration   *struct {
			NonFilterableMetadataKeys []string `json:"nonFilterableMetadataKeys"`
		} `json:"metadataConfiguration"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	var bucketName string
	switch {
	case in.VectorBucketName != nil && in.VectorBucketArn != nil:
		return nil, invalid("specify either vectorBucketName or vectorBucketArn, not both")
	case in.VectorBucketName != nil:
		bucketName = *in.VectorBucketName
	case in.VectorBucketArn != nil:
		m := bucketArnRE.FindStringSubmatch(*in.VectorBucketArn)
		if m == nil {
			return nil, invalid("vectorBucketArn %q is not a vector bucket ARN", *in.VectorBucketArn)
		}
		bucketName = m[1]
	default:
		return nil, invalid("specify vectorBucketName or vectorBucketArn")
	}
	switch {
	case in.IndexName == nil:
		return nil, invalid("indexName is required")
	case !indexNameRE.MatchString(*in.IndexName):
		return nil, invalid("invalid indexName %q: index names are 3 to 63 lowercase letters, numbers, hyphens and dots, beginning and ending with a letter or number", *in.IndexName)
	case in.DataType == nil:
		return nil, invalid("dataType is required")
	case *in.DataType != "float32":
		return nil, invalid("dataType %q is not supported (float32)", *in.DataType)
	case in.Dimension == nil:
		return nil, invalid("dimension is required")
	case *in.Dimension < 1 || *in.Dimension > MaxDimension:
		return nil, invalid("dimension %d is out of range: it must be from 1 to %d", *in.Dimension, MaxDimension)
	case in.DistanceMetric == nil:
		return nil, invalid("distanceMetric is required")
	case *in.DistanceMetric != "cosine" && *in.DistanceMetric != "euclidean":
		return nil, invalid("distanceMetric %q is not supported (cosine, euclidean)", *in.DistanceMetric)
	}
	var nonFilterable []string
	if mc := in.MetadataConfiguration; mc != nil {
		keys := mc.NonFilterableMetadataKeys
		if len(keys) < 1 || len(keys) > MaxNonFilterableKeys {
			return nil, invalid("metadataConfiguration.nonFilterableMetadataKeys must have 1 to %d keys, not %d", MaxNonFilterableKeys, len(keys))
		}
		for i, k := range keys {
			if n := utf8.RuneCountInString(k); n < 1 || n > 63 {
				return nil, invalid("metadataConfiguration.nonFilterableMetadataKeys[%d] must be 1 to 63 characters long", i)
			}
			if slices.Contains(keys[:i], k) {
				return nil, invalid("metadataConfiguration.nonFilterableMetadataKeys has %q twice", k)
			}
		}
		nonFilterable = slices.Clone(keys)
	}
	b := h.buckets[bucketName]
	if b == nil {
		return nil, errf("NotFoundException", "vector bucket %q not found", bucketName)
	}
	if b.indexes[*in.IndexName] != nil {
		return nil, errf("ConflictException", "a vector index named %q already exists in vector bucket %q", *in.IndexName, bucketName)
	}
	if len(b.indexes) >= MaxIndexes {
		return nil, errf("ServiceQuotaExceededException", "vector bucket %q holds %d indexes, the most it can", bucketName, MaxIndexes)
	}
	x := &index{
		bucket: bucketName, name: *in.IndexName, dim: *in.Dimension, metric: *in.DistanceMetric,
		nonFilterable: nonFilterable, created: time.Now(), vectors: map[string]*vector{},
	}
	b.indexes[x.name] = x
	return map[string]any{"indexArn": x.arn()}, nil
}

func (h *Handler) getIndex(body []byte) (any, *apiError) {
	var in indexRef
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	x, e := h.lookup(in)
	if e != nil {
		return nil, e
	}
	out := map[string]any{
		"vectorBucketName": x.bucket,
		"indexName":        x.name,
		"indexArn":         x.arn(),
		"creationTime":     float64(x.created.UnixMilli()) / 1000,
		"dataType":         "float32",
		"dimension":        x.dim,
		"distanceMetric":   x.metric,
	}
	if x.nonFilterable != nil {
		out["metadataConfiguration"] = map[string]any{"nonFilterableMetadataKeys": x.nonFilterable}
	}
	return map[string]any{"index": out}, nil
}

func (h *Handler) deleteIndex(body []byte) (any, *apiError) {
	var in indexRef
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	x, e := h.lookup(in)
	if e != nil {
		return nil, e
	}
	delete(h.buckets[x.bucket].indexes, x.name)
	return map[string]any{}, nil
}

func (h *Handler) putVectors(body []byte) (any, *apiError) {
	var in struct {
		indexRef
		Vectors []struct {
			Key      *string         `json:"key"`
			Data     json.RawMessage `json:"data"`
			Metadata json.RawMessage `json:"metadata"`
		} `json:"vectors"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if len(in.Vectors) < 1 || len(in.Vectors) > MaxBatch {
		return nil, invalid("vectors must have 1 to %d members, not %d", MaxBatch, len(in.Vectors))
	}
	x, e := h.lookup(in.indexRef)
	if e != nil {
		return nil, e
	}
	put := make([]*vector, len(in.Vectors))
	seen := make(map[string]bool, len(in.Vectors))
	for i, v := range in.Vectors {
		path := fmt.Sprintf("vectors[%d]", i)
		if v.Key == nil {
			return nil, invalid("%s.key is required", path)
		}
		key := *v.Key
		if e := checkKey(path+".key", key); e != nil {
			return nil, e
		}
		if seen[key] {
			return nil, invalid("duplicate vector key %q in one request", key)
		}
		seen[key] = true
		data, e := parseVector(v.Data, x, path+".data")
		if e != nil {
			return nil, e
		}
		md, e := parseMetadata(v.Metadata, key, x)
		if e != nil {
			return nil, e
		}
		put[i] = &vector{key: key, data: data, metadata: md}
	}
	for _, v := range put { // all or nothing
		x.vectors[v.key] = v
	}
	return map[string]any{}, nil
}

func checkKey(path, key string) *apiError {
	if n := utf8.RuneCountInString(key); n < 1 || n > MaxKeyLength {
		return invalid("%s must be 1 to %d characters long, not %d", path, MaxKeyLength, n)
	}
	return nil
}

// parseVector decodes a VectorData union for index x.
func parseVector(raw json.RawMessage, x *index, path string) ([]float32, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, invalid("%s is required", path)
	}
	var union map[string]json.RawMessage
	if err := json.Unmarshal(raw, &union); err != nil || union == nil {
		return nil, invalid("%s must be a VectorData object", path)
	}
	if len(union) != 1 || union["float32"] == nil {
		return nil, invalid("%s must have exactly one member, float32", path)
	}
	d := json.NewDecoder(bytes.NewReader(union["float32"]))
	d.UseNumber()
	var values []any
	if err := d.Decode(&values); err != nil {
		return nil, invalid("%s.float32 must be an array of numbers", path)
	}
	if len(values) != x.dim {
		return nil, invalid("%s has %d dimensions, but vector index %q has %d", path, len(values), x.name, x.dim)
	}
	out := make([]float32, len(values))
	zero := true
	for i, v := range values {
		n, ok := v.(json.Number)
		if !ok { // the SDK sends NaN and infinities as strings
			return nil, invalid("%s.float32[%d] = %v: vector data must contain only valid floating-point values", path, i, v)
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil || math.Abs(f) > math.MaxFloat32 {
			return nil, invalid("%s.float32[%d] = %s is not a valid float32", path, i, n)
		}
		out[i] = float32(f)
		zero = zero && out[i] == 0
	}
	if zero && x.metric == "cosine" {
		return nil, invalid("%s: zero vectors are not allowed with the cosine distance metric", path)
	}
	return out, nil
}

// parseMetadata decodes and checks the metadata of vector key for index x.
func parseMetadata(raw json.RawMessage, key string, x *index) (map[string]any, *apiError) {
	md := map[string]any{}
	if len(raw) == 0 || string(raw) == "null" {
		return md, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, invalid("Invalid record for key '%s': malformed metadata", key)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("Invalid record for key '%s': metadata must be a JSON object", key)
	}
	if len(obj) > MaxMetadataKeys {
		return nil, invalid("Invalid record for key '%s': metadata must have at most %d keys, not %d", key, MaxMetadataKeys, len(obj))
	}
	filterable := map[string]any{}
	for k, v := range obj {
		val, ok := metadataValue(v)
		if !ok {
			return nil, invalid("Invalid record for key '%s': metadata %q must be a string, a number, a boolean or a list of them", key, k)
		}
		md[k] = val
		if !slices.Contains(x.nonFilterable, k) {
			filterable[k] = val
		}
	}
	if n := jsonSize(filterable); n > MaxFilterableBytes {
		return nil, invalid("Invalid record for key '%s': Filterable metadata must have at most %d bytes", key, MaxFilterableBytes)
	}
	if n := jsonSize(md); n > MaxMetadataBytes {
		return nil, invalid("Invalid record for key '%s': Total metadata must have at most %d bytes", key, MaxMetadataBytes)
	}
	return md, nil
}

// metadataValue returns a decoded metadata value as the fake keeps it.
func metadataValue(v any) (any, bool) {
	if l, ok := v.([]any); ok {
		out := make([]any, len(l))
		for i, e := range l {
			p, ok := primitive(e)
			if !ok {
				return nil, false
			}
			out[i] = p
		}
		return out, true
	}
	return primitive(v)
}

// primitive returns a decoded string, finite number (as a float64) or
// boolean.
func primitive(v any) (any, bool) {
	switch v := v.(type) {
	case string, bool:
		return v, true
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		return f, err == nil
	}
	return nil, false
}

// jsonSize is the size of v as compact JSON, HTML characters unescaped.
func jsonSize(v any) int {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.Len() - 1 // the newline Encode adds
}

func (h *Handler) deleteVectors(body []byte) (any, *apiError) {
	var in struct {
		indexRef
		Keys []string `json:"keys"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if len(in.Keys) < 1 || len(in.Keys) > MaxBatch {
		return nil, invalid("keys must have 1 to %d members, not %d", MaxBatch, len(in.Keys))
	}
	for i, k := range in.Keys {
		if e := checkKey(fmt.Sprintf("keys[%d]", i), k); e != nil {
			return nil, e
		}
	}
	x, e := h.lookup(in.indexRef)
	if e != nil {
		return nil, e
	}
	for _, k := range in.Keys {
		delete(x.vectors, k)
	}
	return map[string]any{}, nil
}

func (h *Handler) queryVectors(body []byte) (any, *apiError) {
	var in struct {
		indexRef
		TopK           *int            `json:"topK"`
		QueryVector    json.RawMessage `json:"queryVector"`
		Filter         json.RawMessage `json:"filter"`
		ReturnMetadata bool            `json:"returnMetadata"`
		ReturnDistance bool            `json:"returnDistance"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.TopK == nil {
		return nil, invalid("topK is required")
	}
	if *in.TopK < 1 || *in.TopK > MaxTopK {
		return nil, invalid("topK %d is out of range: it must be from 1 to %d", *in.TopK, MaxTopK)
	}
	x, e := h.lookup(in.indexRef)
	if e != nil {
		return nil, e
	}
	q, e := parseVector(in.QueryVector, x, "queryVector")
	if e != nil {
		return nil, e
	}
	var f cond
	if len(in.Filter) > 0 && string(in.Filter) != "null" {
		d := json.NewDecoder(bytes.NewReader(in.Filter))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, invalid("filter: malformed JSON")
		}
		var err error
		if f, err = compile(v, "filter", x.nonFilterable); err != nil {
			return nil, invalid("invalid filter: %v", err)
		}
	}
	type scored struct {
		v *vector
		d float64
	}
	var hits []scored
	for _, v := range x.vectors {
		if f == nil || f.eval(v.metadata) {
			hits = append(hits, scored{v, distance(x.metric, q, v.data)})
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].d != hits[j].d {
			return hits[i].d < hits[j].d
		}
		return hits[i].v.key < hits[j].v.key
	})
	out := make([]map[string]any, 0, min(len(hits), *in.TopK))
	for _, s := range hits[:min(len(hits), *in.TopK)] {
		m := map[string]any{"key": s.v.key}
		if in.ReturnDistance {
			m["distance"] = s.d
		}
		if in.ReturnMetadata {
			m["metadata"] = s.v.metadata
		}
		out = append(out, m)
	}
	return map[string]any{"vectors": out, "distanceMetric": x.metric}, nil
}

// distance is the distance between a and b under metric: 1 − their cosine
// similarity, or their Euclidean distance, computed in float64.
func distance(metric string, a, b []float32) float64 {
	var dot, na, nb, sq float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		dot += x * y
		na += x * x
		nb += y * y
		sq += (x - y) * (x - y)
	}
	if metric == "euclidean" {
		return math.Sqrt(sq)
	}
	return 1 - dot/math.Sqrt(na*nb)
}

func (h *Handler) getVectors(body []byte) (any, *apiError) {
	var in struct {
		indexRef
		Keys           []string `json:"keys"`
		ReturnData     bool     `json:"returnData"`
		ReturnMetadata bool     `json:"returnMetadata"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if len(in.Keys) < 1 || len(in.Keys) > MaxGetKeys {
		return nil, invalid("keys must have 1 to %d members, not %d", MaxGetKeys, len(in.Keys))
	}
	for i, k := range in.Keys {
		if e := checkKey(fmt.Sprintf("keys[%d]", i), k); e != nil {
			return nil, e
		}
	}
	x, e := h.lookup(in.indexRef)
	if e != nil {
		return nil, e
	}
	out := []map[string]any{}
	for _, k := range in.Keys {
		if v := x.vectors[k]; v != nil {
			out = append(out, output(v, in.ReturnData, in.ReturnMetadata))
		}
	}
	return map[string]any{"vectors": out}, nil
}

// output is v as GetVectors and ListVectors answer it.
func output(v *vector, data, metadata bool) map[string]any {
	m := map[string]any{"key": v.key}
	if data {
		m["data"] = map[string]any{"float32": v.data}
	}
	if metadata {
		m["metadata"] = v.metadata
	}
	return m
}

func (h *Handler) listVectors(body []byte) (any, *apiError) {
	var in struct {
		indexRef
		MaxResults     *int    `json:"maxResults"`
		NextToken      *string `json:"nextToken"`
		SegmentCount   *int    `json:"segmentCount"`
		SegmentIndex   *int    `json:"segmentIndex"`
		ReturnData     bool    `json:"returnData"`
		ReturnMetadata bool    `json:"returnMetadata"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	limit, segments, segment := 500, 1, 0
	if in.MaxResults != nil {
		if limit = *in.MaxResults; limit < 1 || limit > MaxListResults {
			return nil, invalid("maxResults %d is out of range: it must be from 1 to %d", limit, MaxListResults)
		}
	}
	if (in.SegmentCount == nil) != (in.SegmentIndex == nil) {
		return nil, invalid("segmentCount and segmentIndex go together")
	}
	if in.SegmentCount != nil {
		segments, segment = *in.SegmentCount, *in.SegmentIndex
		if segments < 1 || segments > 16 || segment < 0 || segment >= segments {
			return nil, invalid("segmentCount must be from 1 to 16 and segmentIndex from 0 to segmentCount-1")
		}
	}
	after := ""
	if in.NextToken != nil {
		b, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		if err != nil || len(b) == 0 {
			return nil, invalid("invalid nextToken")
		}
		after = string(b)
	}
	x, e := h.lookup(in.indexRef)
	if e != nil {
		return nil, e
	}
	var keys []string
	for k := range x.vectors {
		if k > after && segmentOf(k, segments) == segment {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := map[string]any{}
	if len(keys) > limit {
		keys = keys[:limit]
		out["nextToken"] = base64.RawURLEncoding.EncodeToString([]byte(keys[limit-1]))
	}
	vs := make([]map[string]any, len(keys))
	for i, k := range keys {
		vs[i] = output(x.vectors[k], in.ReturnData, in.ReturnMetadata)
	}
	out["vectors"] = vs
	return out, nil
}

func segmentOf(key string, segments int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(segments))
}

// cond is a compiled filter.
type cond interface {
	eval(md map[string]any) bool
}

type allOf []cond

func (c allOf) eval(md map[string]any) bool {
	for _, x := range c {
		if !x.eval(md) {
			return false
		}
	}
	return true
}

type anyOf []cond

func (c anyOf) eval(md map[string]any) bool {
	for _, x := range c {
		if x.eval(md) {
			return true
		}
	}
	return false
}

// test is one operator on one metadata key. v is a string, float64 or bool,
// []any of them for $in and $nin, a bool for $exists.
type test struct {
	key, op string
	v       any
}

func (t test) eval(md map[string]any) bool {
	m, ok := md[t.key]
	if t.op == "$exists" {
		return ok == t.v.(bool)
	}
	if !ok {
		return false
	}
	elems := []any{m}
	if l, isList := m.([]any); isList {
		elems = l
	}
	some := func(pred func(e any) bool) bool { return slices.ContainsFunc(elems, pred) }
	in := func(e any) bool {
		return slices.ContainsFunc(t.v.([]any), func(w any) bool { return e == w })
	}
	eq := func(e any) bool { return e == t.v } // same dynamic type and value
	switch t.op {
	case "$eq":
		return some(eq)
	case "$ne":
		return !some(eq)
	case "$in":
		return some(in)
	case "$nin":
		return !some(in)
	}
	y := t.v.(float64)
	return some(func(e any) bool {
		x, ok := e.(float64)
		if !ok {
			return false
		}
		switch t.op {
		case "$gt":
			return x > y
		case "$gte":
			return x >= y
		case "$lt":
			return x < y
		default: // "$lte"
			return x <= y
		}
	})
}

// compile parses filter v, at path, refusing keys in nonFilterable.
func compile(v any, path string, nonFilterable []string) (cond, error) {
	obj, ok := v.(map[string]any)
	if !ok || len(obj) == 0 {
		return nil, fmt.Errorf("%s: a filter is a non-empty JSON object", path)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var all allOf
	for _, k := range keys {
		val := obj[k]
		switch {
		case k == "$and" || k == "$or":
			l, ok := val.([]any)
			if !ok || len(l) == 0 {
				return nil, fmt.Errorf("%s.%s: takes a non-empty array of filters", path, k)
			}
			subs := make([]cond, len(l))
			for i, s := range l {
				c, err := compile(s, fmt.Sprintf("%s.%s[%d]", path, k, i), nonFilterable)
				if err != nil {
					return nil, err
				}
				subs[i] = c
			}
			if k == "$and" {
				all = append(all, allOf(subs))
			} else {
				all = append(all, anyOf(subs))
			}
		case strings.HasPrefix(k, "$"):
			return nil, fmt.Errorf("%s: unknown operator %q where a metadata key, $and or $or belongs", path, k)
		case slices.Contains(nonFilterable, k):
			return nil, fmt.Errorf("%s: metadata key %q is non-filterable", path, k)
		default:
			tests, err := compileKey(k, val, path+"."+k)
			if err != nil {
				return nil, err
			}
			all = append(all, tests...)
		}
	}
	if len(all) == 1 {
		return all[0], nil
	}
	return all, nil
}

// compileKey parses the condition val on metadata key k, at path.
func compileKey(k string, val any, path string) ([]cond, error) {
	if p, ok := primitive(val); ok {
		return []cond{test{k, "$eq", p}}, nil
	}
	ops, ok := val.(map[string]any)
	if !ok || len(ops) == 0 {
		return nil, fmt.Errorf("%s: want a string, a number, a boolean or an object of operators, not %s", path, describe(val))
	}
	names := make([]string, 0, len(ops))
	for op := range ops {
		names = append(names, op)
	}
	slices.Sort(names)
	var out []cond
	for _, op := range names {
		arg := ops[op]
		p := path + "." + op
		switch op {
		case "$eq", "$ne":
			v, ok := primitive(arg)
			if !ok {
				return nil, fmt.Errorf("%s: takes a string, a number or a boolean, not %s", p, describe(arg))
			}
			out = append(out, test{k, op, v})
		case "$gt", "$gte", "$lt", "$lte":
			v, ok := primitive(arg)
			if _, isNum := v.(float64); !ok || !isNum {
				return nil, fmt.Errorf("%s: takes a number, not %s", p, describe(arg))
			}
			out = append(out, test{k, op, v})
		case "$in", "$nin":
			l, ok := arg.([]any)
			if !ok || len(l) == 0 {
				return nil, fmt.Errorf("%s: takes a non-empty array, not %s", p, describe(arg))
			}
			vs := make([]any, len(l))
			for i, e := range l {
				if vs[i], ok = primitive(e); !ok {
					return nil, fmt.Errorf("%s[%d]: takes a string, a number or a boolean, not %s", p, i, describe(e))
				}
			}
			out = append(out, test{k, op, vs})
		case "$exists":
			b, ok := arg.(bool)
			if !ok {
				return nil, fmt.Errorf("%s: takes a boolean, not %s", p, describe(arg))
			}
			out = append(out, test{k, op, b})
		default:
			return nil, fmt.Errorf("%s: unknown operator %q", path, op)
		}
	}
	return out, nil
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case map[string]any:
		if len(v) == 0 {
			return "an empty object"
		}
		return "an object"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number" // json.Number that does not parse
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

// Config returns an AWS configuration for the fake; see Config.
func (s *Server) Config() aws.Config { return Config(s.URL) }

// Client returns a real S3 Vectors client of the fake.
func (s *Server) Client() *s3vectors.Client { return s3vectors.NewFromConfig(s.Config()) }

// Config returns an AWS configuration for the fake at baseURL: region
// us-east-1, static test credentials (requests are SigV4 signed), one attempt
// per call, so that scripted errors are not retried, and an HTTP client that
// hands the transport its own copy of each request body (see ownBodies).
func Config(baseURL string) aws.Config {
	return aws.Config{
		Region:           Region,
		BaseEndpoint:     aws.String(baseURL),
		Credentials:      credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       ownBodies{awshttp.NewBuildableClient()},
	}
}

// ownBodies gives net/http its own copy of each request body. smithy-go
// (v1.28.9) closes the body it passed to the transport as soon as Do
// returns, that is once the response's headers arrive, and the closed body's
// WriteTo then returns io.EOF. net/http's writeLoop, still checking with
// io.Copy that no bytes follow Content-Length, takes that io.EOF for a failed
// write and closes the connection, under the response body being read: "use
// of closed network connection". A service across a network answers after
// that check; an in-process fake can answer before it, and the SDK retries
// that error, but not with this Config's single attempt.
type ownBodies struct{ client aws.HTTPClient }

func (c ownBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return c.client.Do(r)
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(b))
	return c.client.Do(r)
}
