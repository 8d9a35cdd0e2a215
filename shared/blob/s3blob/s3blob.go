// Package s3blob is the blob.Store of the AWS deployment: objects in an Amazon
// S3 bucket, one object per key. Encryption at rest is the bucket's default
// encryption, so requests name none.
//
// The role needs s3:PutObject, s3:GetObject and s3:DeleteObject on the
// bucket's objects. The template grants no s3:ListBucket (it would let a
// function list every tenant's keys), so S3 answers a Get of a missing key
// with 403 AccessDenied rather than 404 NoSuchKey: an error, not
// blob.ErrNotFound. The knowledge base reads a file's bytes only while its
// item exists, so that is a missing object it never expects.
package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tollgate/tollgate/shared/blob"
)

// MaxObject is the largest object Put stores and Get reads. Get holds the
// whole object in memory, so a bound keeps one odd object from exhausting the
// function's memory; Put refuses what Get would refuse, so that nothing is
// stored that cannot be read back.
const MaxObject = 64 << 20

// API is the part of *s3.Client that Store uses, so that tests can stand in
// for it.
type API interface {
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(ctx context.Context, params *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

var _ API = (*s3.Client)(nil)

// Store keeps objects in one bucket; it is safe for concurrent use as its
// client is.
type Store struct {
	client API
	bucket string
}

var _ blob.Store = (*Store)(nil)

// New returns a Store of bucket through client.
func New(client API, bucket string) *Store { return &Store{client: client, bucket: bucket} }

// checkKey refuses the keys blob.Dir refuses, before any request, so that a
// key means the same in every store and no request is spent on a bad one.
func checkKey(key string) error {
	if !blob.ValidKey(key) {
		return fmt.Errorf("s3blob: bad key %q", key)
	}
	return nil
}

// Put stores data under key; S3 replaces an object whole, so a reader sees
// the old bytes or the new, never a mix. An empty contentType is stored as
// application/octet-stream.
func (s *Store) Put(ctx context.Context, key string, data []byte, contentType string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(data) > MaxObject {
		return fmt.Errorf("s3blob: put %s: %d bytes is over the %d-byte limit", key, len(data), MaxObject)
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String(contentType),
	})
	if err != nil {
		return fmt.Errorf("s3blob: put %s: %w", key, err)
	}
	return nil
}

// Get returns the object's bytes, or an error wrapping blob.ErrNotFound if
// the bucket has no object under key.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if notFound(err) {
		return nil, fmt.Errorf("s3blob: %w: %s", blob.ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("s3blob: get %s: %w", key, err)
	}
	defer out.Body.Close()
	if n := aws.ToInt64(out.ContentLength); n > MaxObject {
		return nil, fmt.Errorf("s3blob: get %s: %d bytes is over the %d-byte limit", key, n, MaxObject)
	}
	b, err := io.ReadAll(io.LimitReader(out.Body, MaxObject+1))
	if err != nil {
		return nil, fmt.Errorf("s3blob: get %s: %w", key, err)
	}
	if len(b) > MaxObject {
		return nil, fmt.Errorf("s3blob: get %s: over the %d-byte limit", key, MaxObject)
	}
	return b, nil
}

// notFound reports whether err is S3's answer for a missing key: NoSuchKey,
// or a bare 404 (a response whose body did not parse). A missing bucket is
// also a 404, but it is a misconfiguration, not a missing file, so it stays
// an error.
func notFound(err error) bool {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusNotFound {
		return false
	}
	var ae smithy.APIError
	return !errors.As(err, &ae) || ae.ErrorCode() != "NoSuchBucket"
}

// Delete removes the object under key. S3 answers 204 whether or not there
// was one, so a missing key is no error, as blob.Store wants.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("s3blob: delete %s: %w", key, err)
	}
	return nil
}
