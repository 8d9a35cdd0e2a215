package s3blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tollgate/tollgate/shared/blob"
	"github.com/tollgate/tollgate/shared/blob/blobtest"
	"github.com/tollgate/tollgate/shared/blob/s3blob"
	"github.com/tollgate/tollgate/shared/blob/s3blob/s3blobtest"
)

func newFake(t *testing.T) (*s3blobtest.Server, *s3blob.Store) {
	srv := s3blobtest.New()
	t.Cleanup(srv.Close)
	return srv, s3blob.New(srv.Client(), s3blobtest.Bucket)
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { _, s := newFake(t); return s })
}

// TestWire checks what the SDK sends and the fake keeps: a path-style
// request (automatic for an IP endpoint), the key escaped in the path and
// decoded back, a checksum, and the content type.
func TestWire(t *testing.T) {
	srv, s := newFake(t)
	key := "tenants/t1/files/a b+c%d é"
	if err := s.Put(t.Context(), key, []byte("hello"), "text/plain; charset=utf-8"); err != nil {
		t.Fatal(err)
	}
	if got, ok := srv.Object(s3blobtest.Bucket, key); !ok || string(got) != "hello" {
		t.Fatalf("fake holds %q, %v", got, ok)
	}
	put := srv.Requests("PutObject")[0]
	if want := "/s3blobtest/tenants/t1/files/a%20b%2Bc%25d%20%C3%A9"; put.Path != want {
		t.Errorf("path %s, want %s", put.Path, want)
	}
	for _, h := range []string{"Authorization", "X-Amz-Content-Sha256", "X-Amz-Checksum-Crc32", "X-Amz-Sdk-Checksum-Algorithm", "Content-Encoding", "Content-Md5", "Content-Type"} {
		t.Logf("PutObject %s: %q", h, put.Header.Get(h))
	}
	out, err := srv.Client().GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(s3blobtest.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(body) != "hello" || aws.ToString(out.ContentType) != "text/plain; charset=utf-8" || aws.ToString(out.ETag) == "" || out.LastModified == nil {
		t.Errorf("GetObject = %q, %q, ETag %q, Last-Modified %v", body, aws.ToString(out.ContentType), aws.ToString(out.ETag), out.LastModified)
	}
	if got := srv.Requests("GetObject")[0].Header.Get("X-Amz-Checksum-Mode"); got != "ENABLED" {
		t.Errorf("GetObject x-amz-checksum-mode %q: the SDK did not validate the fake's checksum", got)
	}
}

// TestChunked puts over TLS, where the SDK sends aws-chunked with a trailing
// checksum rather than a checksum header.
func TestChunked(t *testing.T) {
	h := s3blobtest.NewHandler()
	ts := httptest.NewTLSServer(h)
	defer ts.Close()
	cfg := s3blobtest.Config(ts.URL)
	cfg.HTTPClient = ts.Client()
	s := s3blob.New(s3.NewFromConfig(cfg), s3blobtest.Bucket)
	data := bytes.Repeat([]byte{0, 1, 2, 0xfe, 0xff}, 1<<20)
	if err := s.Put(t.Context(), "tenants/t1/files/big", data, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(t.Context(), "tenants/t1/files/big"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %d bytes, %v", len(got), err)
	}
	hd := h.Requests("PutObject")[0].Header
	if hd.Get("Content-Encoding") != "aws-chunked" || hd.Get("X-Amz-Trailer") == "" {
		t.Errorf("PutObject over TLS: Content-Encoding %q, X-Amz-Trailer %q", hd.Get("Content-Encoding"), hd.Get("X-Amz-Trailer"))
	}
	t.Logf("PutObject over TLS: x-amz-content-sha256 %q, x-amz-trailer %q, x-amz-decoded-content-length %q",
		hd.Get("X-Amz-Content-Sha256"), hd.Get("X-Amz-Trailer"), hd.Get("X-Amz-Decoded-Content-Length"))
}

func TestBadKeysAndSizeMakeNoCall(t *testing.T) {
	srv, s := newFake(t)
	for _, key := range blobtest.BadKeys {
		_ = s.Put(t.Context(), key, nil, "")
		_, _ = s.Get(t.Context(), key)
		_ = s.Delete(t.Context(), key)
	}
	if err := s.Put(t.Context(), "tenants/t1/files/huge", make([]byte, s3blob.MaxObject+1), ""); err == nil {
		t.Error("Put over MaxObject succeeded")
	}
	if n := len(srv.Requests("")); n != 0 {
		t.Errorf("%d requests reached S3", n)
	}
}

func TestErrors(t *testing.T) {
	srv, s := newFake(t)
	srv.FailNext("GetObject", "InternalError", http.StatusInternalServerError)
	_, err := s.Get(t.Context(), "tenants/t1/files/x")
	if err == nil || errors.Is(err, blob.ErrNotFound) || !strings.Contains(err.Error(), "InternalError") || !strings.HasPrefix(err.Error(), "s3blob: get ") {
		t.Errorf("scripted InternalError: %v", err)
	}
	_, err = s3blob.New(srv.Client(), "no-such-bucket").Get(t.Context(), "tenants/t1/files/x")
	if err == nil || errors.Is(err, blob.ErrNotFound) || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Errorf("missing bucket: %v, want NoSuchBucket and not ErrNotFound", err)
	}

	// The SDK's default retryer (3 attempts) outlasts two scripted failures.
	srv.FailNext("PutObject", "InternalError", http.StatusInternalServerError)
	srv.FailNext("PutObject", "SlowDown", http.StatusServiceUnavailable)
	cfg := s3blobtest.Config(srv.URL)
	cfg.RetryMaxAttempts = 0
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(so *retry.StandardOptions) {
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	}
	retrying := s3blob.New(s3.NewFromConfig(cfg), s3blobtest.Bucket)
	if err := retrying.Put(t.Context(), "tenants/t1/files/x", []byte("x"), ""); err != nil || srv.Calls("PutObject") != 3 {
		t.Errorf("Put with retries: %v after %d calls, want success on the 3rd", err, srv.Calls("PutObject"))
	}
}

// TestFakeRefuses drives the fake with hand-made requests, so that it is
// known not to pass whatever it is sent.
func TestFakeRefuses(t *testing.T) {
	srv := s3blobtest.New()
	defer srv.Close()
	const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	creds := aws.Credentials{AccessKeyID: s3blobtest.AccessKeyID, SecretAccessKey: s3blobtest.SecretAccessKey}
	for _, c := range []struct {
		name, method, path, body, sha string
		header                        map[string]string
		unsigned                      bool
		status                        int
		code                          string
	}{
		{"unsigned", "PUT", "/s3blobtest/k", "x", emptySHA, nil, true, 403, "AccessDenied"},
		{"wrong payload hash", "PUT", "/s3blobtest/k", "x", emptySHA, nil, false, 400, "XAmzContentSHA256Mismatch"},
		{"no payload hash", "PUT", "/s3blobtest/k", "x", "", nil, false, 400, "InvalidRequest"},
		{"wrong crc32", "PUT", "/s3blobtest/k", "x", "UNSIGNED-PAYLOAD", map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA=="}, false, 400, "BadDigest"},
		{"wrong md5", "PUT", "/s3blobtest/k", "x", "UNSIGNED-PAYLOAD", map[string]string{"Content-Md5": "1B2M2Y8AsgTpgAmY7PhCfg=="}, false, 400, "BadDigest"},
		{"two checksums", "PUT", "/s3blobtest/k", "", emptySHA, map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA==", "X-Amz-Checksum-Sha1": "2jmj7l5rSw0yVb/vlWAYkK/YBwk="}, false, 400, "InvalidRequest"},
		{"wrong trailer", "PUT", "/s3blobtest/k", "1\r\nx\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
			map[string]string{"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": "1", "X-Amz-Trailer": "x-amz-checksum-crc32"}, false, 400, "BadDigest"},
		{"missing trailer", "PUT", "/s3blobtest/k", "1\r\nx\r\n0\r\n\r\n", "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
			map[string]string{"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": "1", "X-Amz-Trailer": "x-amz-checksum-crc32"}, false, 400, "MalformedTrailerError"},
		{"no checksum is stored with a CRC64NVME", "PUT", "/s3blobtest/plain", "plain", "UNSIGNED-PAYLOAD", nil, false, 200, ""},
		{"'+' is a space", "PUT", "/s3blobtest/a+b%2Bc", "", emptySHA, nil, false, 200, ""},
		{"missing key", "GET", "/s3blobtest/nothing", "", emptySHA, nil, false, 404, "NoSuchKey"},
		{"missing bucket", "DELETE", "/nobucket/k", "", emptySHA, nil, false, 404, "NoSuchBucket"},
		{"subresource", "GET", "/s3blobtest/k?acl", "", emptySHA, nil, false, 501, "NotImplemented"},
		{"list", "GET", "/s3blobtest", "", emptySHA, nil, false, 501, "NotImplemented"},
		{"method", "PATCH", "/s3blobtest/k", "", emptySHA, nil, false, 405, "MethodNotAllowed"},
	} {
		req, _ := http.NewRequestWithContext(context.Background(), c.method, srv.URL+c.path, strings.NewReader(c.body))
		req.Header.Set("X-Amz-Content-Sha256", c.sha)
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		if !c.unsigned {
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, c.sha, "s3", s3blobtest.Region, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || c.code != "" && !strings.Contains(string(b), "<Code>"+c.code+"</Code>") {
			t.Errorf("%s: %d %s, want %d %s", c.name, resp.StatusCode, b, c.status, c.code)
		}
	}
	if _, ok := srv.Object(s3blobtest.Bucket, "k"); ok {
		t.Error("a refused PUT stored its object")
	}
	if _, ok := srv.Object(s3blobtest.Bucket, "a b+c"); !ok {
		t.Error(`PUT /s3blobtest/a+b%2Bc did not store "a b+c"`)
	}
	// The SDK checks the CRC64NVME the fake made against the bytes it gets.
	if got, err := s3blob.New(srv.Client(), s3blobtest.Bucket).Get(t.Context(), "plain"); err != nil || string(got) != "plain" {
		t.Errorf("Get of an object put without a checksum: %q, %v", got, err)
	}
}
