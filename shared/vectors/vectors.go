// Package vectors is where a vector store's chunks live: one index per vector
// store, so that isolation is structural (a query names one index and can reach
// nothing else). Backends implement Store: Amazon S3 Vectors on AWS
// (shared/vectors/s3vectors), an embedded persistent database locally
// (shared/vectors/embedded). Vectors are compared by cosine similarity.
package vectors

import (
	"context"
	"errors"
	"fmt"
)

// Chunk is one piece of a file, its vector and what a search returns with it.
type Chunk struct {
	// Key identifies the chunk in its index: ChunkKey(FileID, N). Putting a
	// chunk whose key exists replaces it, so a retried ingestion writes each
	// chunk once.
	Key      string
	FileID   string
	Filename string
	N        int // the chunk's position in its file, from 0
	Text     string
	Vector   []float32
	// Attributes are the file's attributes (OpenAI's vector store file
	// attributes): string, float64 or bool values, what Filter tests.
	Attributes map[string]any
}

// ChunkKey is the key of chunk n of file fileID.
func ChunkKey(fileID string, n int) string { return fmt.Sprintf("%s#%d", fileID, n) }

// Match is a chunk a query found (Vector unset) and its cosine similarity to
// the query vector, in [-1, 1], higher is closer.
type Match struct {
	Chunk
	Score float64
}

// Filter is OpenAI's attribute filter: a comparison (Type one of eq, ne, gt,
// gte, lt, lte, in, nin, on Key and Value) or a compound (Type and/or over
// Filters). Value is a string, float64 or bool, or for in/nin a []any of
// strings and float64s.
type Filter struct {
	Type    string
	Key     string
	Value   any
	Filters []Filter
}

// Store keeps indexes of chunks.
type Store interface {
	// CreateIndex creates index name for vectors of dim dimensions; creating
	// an index that exists with the same dimension succeeds.
	CreateIndex(ctx context.Context, name string, dim int) error
	// DeleteIndex removes index name and its chunks; a missing index is no error.
	DeleteIndex(ctx context.Context, name string) error
	// Put writes chunks into index name, replacing those with the same keys.
	Put(ctx context.Context, name string, chunks []Chunk) error
	// Delete removes the chunks with keys from index name; missing keys are no error.
	Delete(ctx context.Context, name string, keys []string) error
	// Query returns the topK chunks of index name closest to vector that pass
	// filter (nil: all), closest first, without their vectors.
	Query(ctx context.Context, name string, vector []float32, topK int, filter *Filter) ([]Match, error)
}

// Querier is the read side of a Store: all that a chat request's retrieval
// needs.
type Querier interface {
	Query(ctx context.Context, name string, vector []float32, topK int, filter *Filter) ([]Match, error)
}

// ReadOnly returns a Store that queries through q and refuses every write
// with ErrReadOnly: the chat function's, which searches and never indexes, so
// that its bootstrap links (and its role grants) no write.
func ReadOnly(q Querier) Store { return readOnly{q} }

// ErrReadOnly is returned by the writes of a ReadOnly store.
var ErrReadOnly = errors.New("vectors: this store is read-only")

type readOnly struct{ Querier }

func (readOnly) CreateIndex(context.Context, string, int) error { return ErrReadOnly }
func (readOnly) DeleteIndex(context.Context, string) error      { return ErrReadOnly }
func (readOnly) Put(context.Context, string, []Chunk) error     { return ErrReadOnly }
func (readOnly) Delete(context.Context, string, []string) error { return ErrReadOnly }

// ErrNoIndex is returned (wrapped) by Put and Query on an index that does not exist.
var ErrNoIndex = errors.New("vectors: no such index")

// MaxTopK is the most results one Query returns (OpenAI's max_num_results).
const MaxTopK = 50
