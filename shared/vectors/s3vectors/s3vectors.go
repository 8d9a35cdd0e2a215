// Package s3vectors keeps vector stores' chunks in Amazon S3 Vectors, through
// the AWS SDK's s3vectors client: one vector index per vector store, all in
// one vector bucket. *Store implements vectors.Store.
//
// # Index names
//
// Our index names (vector store ids such as "vs_0123abcd…": letters, digits
// and underscores) become S3 Vectors index names, which must be 3 to 63
// lowercase letters, digits, hyphens and dots, beginning and ending with a
// letter or digit. IndexName maps them: a name that is already 3 to 63
// lowercase letters, digits and underscores, beginning and ending with a
// letter or digit, keeps its letters and digits and has each underscore
// replaced by a hyphen ("vs_0123abcd" → "vs-0123abcd"); any other name
// becomes a readable prefix (its first 24 bytes, lowercased, every byte but
// a letter or digit a hyphen, hyphens trimmed from both ends, "x" if none is
// left) joined by a dot to the first 32 hex digits of its SHA-256: "Docs_A"
// becomes "docs-a.936784ecbb95e055e8984476a0bdf223". Direct names contain no
// dot and hashed names do, so two names never map to one index (bar a
// 128-bit hash collision).
//
// # Metadata
//
// A chunk is one vector, keyed by Chunk.Key, whose metadata holds:
//
//   - "text": Chunk.Text (left out when empty);
//   - "chunk": the JSON {"file_id":…,"filename":…,"n":…} of the chunk's other
//     fields;
//   - "a_"+k: attribute k, a string, number or boolean.
//
// "text" and "chunk" are the index's non-filterable metadata keys, declared
// at CreateIndex, so a chunk's text counts only against the 40 KB of all its
// metadata, never against the 2 KB of filterable metadata. Attributes are
// filterable. Their prefix keeps them apart from our keys (no attribute can
// be named "text" in S3's eyes) and from S3's operators (an attribute named
// "$and" is "a_$and"); it is an underscore, not a dot, in case a filter key's
// dots are ever read as a path.
//
// # Filters
//
// A vectors.Filter becomes S3's filter document: eq, gt, gte, lt, lte and in
// become {"a_k": {"$eq": v}} and so on, and and/or become "$and"/"$or" over
// the translated filters. ne and nin become {"$or": [{"a_k": {"$ne": v}},
// {"a_k": {"$exists": false}}]} (likewise "$nin"): vectors.Filter.Match
// passes a chunk that lacks k, and S3 does not document what "$ne" does with
// a missing key, so the translation does not depend on it. A filter that
// does not validate is refused (vectors.ErrBadFilter) before any request.
//
// # Limits
//
// From the Amazon S3 User Guide, "Limitations and restrictions"
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-vectors-limitations.html),
// and the service model (aws-sdk-go-v2 codegen/sdk-codegen/aws-models/s3vectors.json):
// at most 500 vectors per PutVectors and 500 keys per DeleteVectors, so Put
// and Delete send batches of up to 500; at most 100 results per QueryVectors
// (the guide's "Top-K results per QueryVectors request"; the model only says
// topK ≥ 1), so Query asks for min(topK, 100) and never returns more than
// 100 matches; dimensions from 1 to 4,096; 2 KB of filterable and 40 KB of
// all metadata per vector; 50 metadata keys per vector. The service's error
// for a chunk over a metadata limit is returned (wrapped) by Put.
//
// Scores are 1 − the cosine distance S3 Vectors returns, a float32: within
// about 1e-7 of the cosine similarity. QueryVectors is an approximate
// nearest-neighbour search, so a query may miss a close chunk, or return
// fewer than topK chunks when a filter passes few of them.
//
// A NotFoundException is taken to mean a missing index: Put, Query and
// Delete return it wrapped with vectors.ErrNoIndex, and DeleteIndex returns
// nil. The service model has one NotFoundException for a missing index and a
// missing vector bucket alike, so a misconfigured bucket looks the same.
package s3vectors

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3vectors"
	"github.com/aws/aws-sdk-go-v2/service/s3vectors/document"
	"github.com/aws/aws-sdk-go-v2/service/s3vectors/types"

	"github.com/tollgate/tollgate/shared/vectors"
)

// S3 Vectors' limits; see the package comment.
const (
	maxBatch     = 500  // vectors per PutVectors, keys per DeleteVectors
	maxTopK      = 100  // results per QueryVectors
	maxDimension = 4096 // values per vector
)

// Metadata keys; see the package comment.
const (
	metaText   = "text"
	metaChunk  = "chunk"
	attrPrefix = "a_"
)

// nonFilterable are the non-filterable metadata keys every index declares.
var nonFilterable = []string{metaText, metaChunk}

// chunkMeta is the JSON of metaChunk.
type chunkMeta struct {
	FileID   string `json:"file_id"`
	Filename string `json:"filename"`
	N        int    `json:"n"`
}

// Store keeps vector stores' chunks in the indexes of one vector bucket. It is
// safe for concurrent use.
type Store struct {
	client *s3vectors.Client
	bucket string
}

// New returns a Store of the indexes of the vector bucket named bucket, which
// must exist.
func New(client *s3vectors.Client, bucket string) *Store {
	return &Store{client: client, bucket: bucket}
}

var _ vectors.Store = (*Store)(nil)

// IndexName returns the S3 Vectors index that holds index name; see the
// package comment. It maps every name, even "", onto a valid, distinct index
// name, though Store's methods refuse "".
func IndexName(name string) string {
	if direct(name) {
		return strings.ReplaceAll(name, "_", "-")
	}
	var prefix []byte
	for i := 0; i < len(name) && len(prefix) < 24; i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			prefix = append(prefix, c)
		case 'A' <= c && c <= 'Z':
			prefix = append(prefix, c+'a'-'A')
		default:
			prefix = append(prefix, '-')
		}
	}
	p := strings.Trim(string(prefix), "-")
	if p == "" {
		p = "x"
	}
	sum := sha256.Sum256([]byte(name))
	return p + "." + hex.EncodeToString(sum[:16])
}

// direct reports whether name maps to an index name by replacing its
// underscores with hyphens: 3 to 63 lowercase letters, digits and
// underscores, beginning and ending with a letter or digit.
func direct(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (c != '_' || i == 0 || i == len(name)-1) {
			return false
		}
	}
	return true
}

// index returns the index name of name, refusing "".
func index(op, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("s3vectors: %s: no index name", op)
	}
	return IndexName(name), nil
}

// CreateIndex creates index name for vectors of dim dimensions, compared by
// cosine distance. If the index exists, CreateIndex succeeds when it has dim
// dimensions, the cosine metric and our non-filterable keys, and fails
// otherwise.
func (s *Store) CreateIndex(ctx context.Context, name string, dim int) error {
	idx, err := index("create index", name)
	if err != nil {
		return err
	}
	if dim < 1 || dim > maxDimension {
		return fmt.Errorf("s3vectors: create index %q: dimension %d, want 1 to %d", name, dim, maxDimension)
	}
	for attempt := 0; ; attempt++ {
		_, err := s.client.CreateIndex(ctx, &s3vectors.CreateIndexInput{
			VectorBucketName: aws.String(s.bucket),
			IndexName:        aws.String(idx),
			DataType:         types.DataTypeFloat32,
			Dimension:        aws.Int32(int32(dim)),
			DistanceMetric:   types.DistanceMetricCosine,
			MetadataConfiguration: &types.MetadataConfiguration{
				NonFilterableMetadataKeys: slices.Clone(nonFilterable),
			},
		})
		var conflict *types.ConflictException
		if err == nil {
			return nil
		}
		if !errors.As(err, &conflict) {
			return fmt.Errorf("s3vectors: create index %q: %w", name, err)
		}
		// It exists: check that it is what we would have created.
		out, err := s.client.GetIndex(ctx, &s3vectors.GetIndexInput{
			VectorBucketName: aws.String(s.bucket),
			IndexName:        aws.String(idx),
		})
		var notFound *types.NotFoundException
		if errors.As(err, &notFound) && attempt == 0 {
			continue // deleted meanwhile: create it again, once
		}
		if err != nil {
			return fmt.Errorf("s3vectors: create index %q: it exists; reading it: %w", name, err)
		}
		if err := compatible(out.Index, dim); err != nil {
			return fmt.Errorf("s3vectors: create index %q: %w", name, err)
		}
		return nil
	}
}

// compatible reports whether x, an index that exists, is one CreateIndex(dim)
// would have made.
func compatible(x *types.Index, dim int) error {
	switch {
	case x == nil:
		return errors.New("it exists, but GetIndex returned no index")
	case x.Dimension == nil || int(*x.Dimension) != dim:
		got := "unknown"
		if x.Dimension != nil {
			got = fmt.Sprint(*x.Dimension)
		}
		return fmt.Errorf("it exists with %s dimensions, not %d", got, dim)
	case x.DistanceMetric != types.DistanceMetricCosine:
		return fmt.Errorf("it exists with distance metric %q, not %q", x.DistanceMetric, types.DistanceMetricCosine)
	}
	var keys []string
	if x.MetadataConfiguration != nil {
		keys = x.MetadataConfiguration.NonFilterableMetadataKeys
	}
	for _, k := range nonFilterable {
		if !slices.Contains(keys, k) {
			return fmt.Errorf("it exists without non-filterable metadata key %q", k)
		}
	}
	return nil
}

// DeleteIndex deletes index name and its chunks; a missing index is no error.
func (s *Store) DeleteIndex(ctx context.Context, name string) error {
	idx, err := index("delete index", name)
	if err != nil {
		return err
	}
	_, err = s.client.DeleteIndex(ctx, &s3vectors.DeleteIndexInput{
		VectorBucketName: aws.String(s.bucket),
		IndexName:        aws.String(idx),
	})
	var notFound *types.NotFoundException
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("s3vectors: delete index %q: %w", name, err)
	}
	return nil
}

// Put writes chunks into index name, in batches of up to 500, replacing the
// chunks with the same keys; of chunks sharing a key, the last is written.
// Batches are written in order, so an error leaves the batches before it
// written.
func (s *Store) Put(ctx context.Context, name string, chunks []vectors.Chunk) error {
	idx, err := index("put", name)
	if err != nil {
		return err
	}
	in := make([]types.PutInputVector, 0, len(chunks))
	at := make(map[string]int, len(chunks)) // key → its place in in
	for i := range chunks {
		v, err := putVector(&chunks[i])
		if err != nil {
			return fmt.Errorf("s3vectors: put into %q: chunk %d (%q): %w", name, i, chunks[i].Key, err)
		}
		if j, ok := at[chunks[i].Key]; ok {
			in[j] = v
			continue
		}
		at[chunks[i].Key] = len(in)
		in = append(in, v)
	}
	for start := 0; start < len(in); start += maxBatch {
		end := min(start+maxBatch, len(in))
		_, err := s.client.PutVectors(ctx, &s3vectors.PutVectorsInput{
			VectorBucketName: aws.String(s.bucket),
			IndexName:        aws.String(idx),
			Vectors:          in[start:end],
		})
		if err != nil {
			return s.wrap(err, "put chunks %d to %d of %d into %q", start, end-1, len(in), name)
		}
	}
	return nil
}

// putVector returns the vector of c.
func putVector(c *vectors.Chunk) (types.PutInputVector, error) {
	chunk, err := json.Marshal(chunkMeta{FileID: c.FileID, Filename: c.Filename, N: c.N})
	if err != nil {
		return types.PutInputVector{}, err
	}
	md := make(map[string]any, len(c.Attributes)+2)
	if c.Text != "" {
		md[metaText] = c.Text
	}
	md[metaChunk] = string(chunk)
	for k, v := range c.Attributes {
		a, err := attribute(v)
		if err != nil {
			return types.PutInputVector{}, fmt.Errorf("attribute %q: %w", k, err)
		}
		md[attrPrefix+k] = a
	}
	return types.PutInputVector{
		Key: aws.String(c.Key),
		// The SDK serializes the request before PutVectors returns, so the
		// caller's vector and attributes are not kept.
		Data:     &types.VectorDataMemberFloat32{Value: c.Vector},
		Metadata: document.NewLazyDocument(md),
	}, nil
}

// attribute returns an attribute's value as S3 Vectors metadata: a string, a
// boolean, or a finite number as a float64.
func attribute(v any) (any, error) {
	var x float64
	switch v := v.(type) {
	case string, bool:
		return v, nil
	case float64:
		x = v
	case float32:
		x = float64(v)
	case int:
		x = float64(v)
	case int8:
		x = float64(v)
	case int16:
		x = float64(v)
	case int32:
		x = float64(v)
	case int64:
		x = float64(v)
	case uint:
		x = float64(v)
	case uint8:
		x = float64(v)
	case uint16:
		x = float64(v)
	case uint32:
		x = float64(v)
	case uint64:
		x = float64(v)
	default:
		return nil, fmt.Errorf("a Go %T, want a string, a number or a boolean", v)
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil, fmt.Errorf("%v is not a finite number", x)
	}
	return x, nil
}

// Delete removes the chunks with keys from index name, in batches of up to
// 500; missing keys are no error. On a missing index it returns an error
// matching vectors.ErrNoIndex.
func (s *Store) Delete(ctx context.Context, name string, keys []string) error {
	idx, err := index("delete", name)
	if err != nil {
		return err
	}
	uniq := make([]string, 0, len(keys))
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, k)
		}
	}
	for start := 0; start < len(uniq); start += maxBatch {
		end := min(start+maxBatch, len(uniq))
		_, err := s.client.DeleteVectors(ctx, &s3vectors.DeleteVectorsInput{
			VectorBucketName: aws.String(s.bucket),
			IndexName:        aws.String(idx),
			Keys:             uniq[start:end],
		})
		if err != nil {
			return s.wrap(err, "delete keys %d to %d of %d from %q", start, end-1, len(uniq), name)
		}
	}
	return nil
}

// Reader queries the indexes of one vector bucket and can do nothing else: a
// bootstrap that only searches (the chat function) links QueryVectors alone.
type Reader struct{ s Store }

// NewReader returns a Reader of the indexes of the vector bucket named bucket.
func NewReader(client *s3vectors.Client, bucket string) *Reader {
	return &Reader{Store{client: client, bucket: bucket}}
}

// Query is Store.Query.
func (r *Reader) Query(ctx context.Context, name string, vector []float32, topK int, filter *vectors.Filter) ([]vectors.Match, error) {
	return r.s.Query(ctx, name, vector, topK, filter)
}

// Query returns the chunks of index name closest to vector that pass filter
// (nil: all), closest first: min(topK, 100) of them at most.
func (s *Store) Query(ctx context.Context, name string, vector []float32, topK int, filter *vectors.Filter) ([]vectors.Match, error) {
	idx, err := index("query", name)
	if err != nil {
		return nil, err
	}
	if topK < 1 {
		return nil, fmt.Errorf("s3vectors: query %q: topK %d, want at least 1", name, topK)
	}
	in := &s3vectors.QueryVectorsInput{
		VectorBucketName: aws.String(s.bucket),
		IndexName:        aws.String(idx),
		QueryVector:      &types.VectorDataMemberFloat32{Value: vector},
		TopK:             aws.Int32(int32(min(topK, maxTopK))),
		ReturnMetadata:   true,
		ReturnDistance:   true,
	}
	if filter != nil {
		if err := filter.Validate(); err != nil {
			return nil, fmt.Errorf("s3vectors: query %q: filter: %w", name, err)
		}
		in.Filter = document.NewLazyDocument(filterDoc(filter))
	}
	out, err := s.client.QueryVectors(ctx, in)
	if err != nil {
		return nil, s.wrap(err, "query %q", name)
	}
	ms := make([]vectors.Match, 0, len(out.Vectors))
	for i := range out.Vectors {
		m, err := match(&out.Vectors[i])
		if err != nil {
			return nil, fmt.Errorf("s3vectors: query %q: result %d: %w", name, i, err)
		}
		ms = append(ms, m)
	}
	// S3 Vectors answers closest first; make sure of it.
	slices.SortStableFunc(ms, func(a, b vectors.Match) int { return cmp.Compare(b.Score, a.Score) })
	return ms, nil
}

// match returns the chunk of a query result.
func match(v *types.QueryOutputVector) (vectors.Match, error) {
	if v.Key == nil {
		return vectors.Match{}, errors.New("no key")
	}
	if v.Distance == nil {
		return vectors.Match{}, fmt.Errorf("key %q: no distance", *v.Key)
	}
	d := float64(*v.Distance)
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return vectors.Match{}, fmt.Errorf("key %q: distance %v", *v.Key, d)
	}
	c, err := chunkOf(*v.Key, v.Metadata)
	if err != nil {
		return vectors.Match{}, fmt.Errorf("key %q: %w", *v.Key, err)
	}
	return vectors.Match{Chunk: c, Score: 1 - d}, nil
}

// chunkOf decodes the chunk of key from its metadata.
func chunkOf(key string, md document.Interface) (vectors.Chunk, error) {
	if md == nil {
		return vectors.Chunk{}, errors.New("no metadata")
	}
	b, err := md.MarshalSmithyDocument()
	if err != nil {
		return vectors.Chunk{}, fmt.Errorf("metadata: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return vectors.Chunk{}, fmt.Errorf("metadata is not an object: %.100s", b)
	}
	c := vectors.Chunk{Key: key}
	if raw, ok := fields[metaText]; ok {
		if err := json.Unmarshal(raw, &c.Text); err != nil {
			return vectors.Chunk{}, fmt.Errorf("metadata %q is not a string", metaText)
		}
	}
	var chunk string
	raw, ok := fields[metaChunk]
	if !ok {
		return vectors.Chunk{}, fmt.Errorf("metadata has no %q: not a chunk of this package", metaChunk)
	}
	if err := json.Unmarshal(raw, &chunk); err != nil {
		return vectors.Chunk{}, fmt.Errorf("metadata %q is not a string", metaChunk)
	}
	var cm chunkMeta
	if err := json.Unmarshal([]byte(chunk), &cm); err != nil {
		return vectors.Chunk{}, fmt.Errorf("metadata %q: %w", metaChunk, err)
	}
	c.FileID, c.Filename, c.N = cm.FileID, cm.Filename, cm.N
	for k, raw := range fields {
		name, ok := strings.CutPrefix(k, attrPrefix)
		if !ok {
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return vectors.Chunk{}, fmt.Errorf("metadata %q: %w", k, err)
		}
		if c.Attributes == nil {
			c.Attributes = make(map[string]any)
		}
		c.Attributes[name] = v
	}
	return c, nil
}

// filterDoc returns f, which must validate, as an S3 Vectors filter document
// (for document.NewLazyDocument); see the package comment.
func filterDoc(f *vectors.Filter) map[string]any {
	switch f.Type {
	case "and", "or":
		subs := make([]any, len(f.Filters))
		for i := range f.Filters {
			subs[i] = filterDoc(&f.Filters[i])
		}
		return map[string]any{"$" + f.Type: subs}
	case "ne", "nin":
		k := attrPrefix + f.Key
		return map[string]any{"$or": []any{
			map[string]any{k: map[string]any{"$" + f.Type: f.Value}},
			map[string]any{k: map[string]any{"$exists": false}},
		}}
	default: // eq, gt, gte, lt, lte, in
		return map[string]any{attrPrefix + f.Key: map[string]any{"$" + f.Type: f.Value}}
	}
}

// wrap returns err, an error of the operation format and args describe (nil:
// nil), wrapping vectors.ErrNoIndex too when S3 Vectors found no index.
func (s *Store) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	op := fmt.Sprintf(format, args...)
	var notFound *types.NotFoundException
	if errors.As(err, &notFound) {
		return fmt.Errorf("s3vectors: %s: %w: %w", op, vectors.ErrNoIndex, err)
	}
	return fmt.Errorf("s3vectors: %s: %w", op, err)
}
