package s3vectors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	sdk "github.com/aws/aws-sdk-go-v2/service/s3vectors"
	"github.com/aws/aws-sdk-go-v2/service/s3vectors/document"
	"github.com/aws/aws-sdk-go-v2/service/s3vectors/types"
	"github.com/aws/smithy-go"
	smithyauth "github.com/aws/smithy-go/auth"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate/tollgate/shared/vectors"
	"github.com/tollgate/tollgate/shared/vectors/s3vectors"
	"github.com/tollgate/tollgate/shared/vectors/s3vectors/s3vectorstest"
	"github.com/tollgate/tollgate/shared/vectors/vectorstest"
)

// newStore returns a Store of a fresh fake's bucket, and the fake.
func newStore(t *testing.T) (*s3vectors.Store, *s3vectorstest.Server) {
	t.Helper()
	srv := s3vectorstest.New()
	t.Cleanup(srv.Close)
	return s3vectors.New(srv.Client(), s3vectorstest.Bucket), srv
}

func TestConformance(t *testing.T) {
	vectorstest.Run(t, func(t *testing.T) vectors.Store {
		s, _ := newStore(t)
		return s
	})
}

// indexRule is S3 Vectors' rule for index names (the pattern in the service
// model's index ARN).
var indexRule = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func TestIndexName(t *testing.T) {
	direct := []struct{ name, want string }{
		{"vs_0123abcd", "vs-0123abcd"},
		{"vs_0123456789abcdef0123456789abcdef", "vs-0123456789abcdef0123456789abcdef"},
		{"idx", "idx"},
		{"a_b_c", "a-b-c"},
		{"a__b", "a--b"},
		{strings.Repeat("z", 63), strings.Repeat("z", 63)},
	}
	for _, tt := range direct {
		if got := s3vectors.IndexName(tt.name); got != tt.want {
			t.Errorf("IndexName(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
	hashed := []struct{ name, prefix string }{
		{"a", "a."},
		{"ab", "ab."},
		{"", "x."},
		{"___", "x."},
		{"VS_0123ABCD", "vs-0123abcd."},
		{"_abc", "abc."},
		{"abc_", "abc."},
		{"a-b", "a-b."},
		{"a.b", "a-b."},
		{"vs_ÄÖ", "vs."},
		{strings.Repeat("z", 64), strings.Repeat("z", 24) + "."},
	}
	for _, tt := range hashed {
		got := s3vectors.IndexName(tt.name)
		if !strings.HasPrefix(got, tt.prefix) || len(got) != len(tt.prefix)+32 {
			t.Errorf("IndexName(%q) = %q, want %q and 32 hex digits", tt.name, got, tt.prefix)
		}
	}
	// Every name maps to a valid index name, and distinct names to distinct
	// ones, including names alike but for case, underscores and hyphens.
	names := []string{"a_b", "a-b", "a.b", "A_B", "vs_x", "VS_X", "vs_X", "abc", "ABC", "Abc", "_abc", "abc_", "ab_", "ab", "a", ""}
	for _, tt := range direct {
		names = append(names, tt.name)
	}
	for _, tt := range hashed {
		names = append(names, tt.name)
	}
	for i := range 200 {
		names = append(names, fmt.Sprintf("vs_%032x", i), fmt.Sprintf("VS_%032X", i), strings.Repeat("q", i%80))
	}
	seen := map[string]string{}
	for _, n := range names {
		got := s3vectors.IndexName(n)
		if !indexRule.MatchString(got) {
			t.Errorf("IndexName(%q) = %q, not a valid S3 Vectors index name", n, got)
		}
		if other, ok := seen[got]; ok && other != n {
			t.Errorf("IndexName(%q) = IndexName(%q) = %q", n, other, got)
		}
		seen[got] = n
	}
}

// TestIndexNameOnTheWire checks that every operation names the mapped index,
// in the store's bucket.
func TestIndexNameOnTheWire(t *testing.T) {
	s, srv := newStore(t)
	ctx := t.Context()
	const name = "vs_Mixed_Case"
	if err := s.CreateIndex(ctx, name, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, name, []vectors.Chunk{{Key: "k", Vector: []float32{1, 0}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Query(ctx, name, []float32{1, 0}, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, name, []string{"k"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteIndex(ctx, name); err != nil {
		t.Fatal(err)
	}
	want := s3vectors.IndexName(name)
	for _, r := range srv.Requests("") {
		var body struct{ VectorBucketName, IndexName string }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.IndexName != want || body.VectorBucketName != s3vectorstest.Bucket {
			t.Errorf("%s named bucket %q, index %q; want %q, %q", r.Op, body.VectorBucketName, body.IndexName, s3vectorstest.Bucket, want)
		}
	}
	if s3vectors.IndexName("ab") == s3vectors.IndexName("AB") {
		t.Errorf("IndexName maps ab and AB to one index")
	}
}

// batchSizes returns how many vectors (or keys) each recorded request held.
func batchSizes(t *testing.T, reqs []s3vectorstest.Request, field string) []int {
	t.Helper()
	var out []int
	for _, r := range reqs {
		var body map[string]json.RawMessage
		var list []json.RawMessage
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("%s body: %v", r.Op, err)
		}
		if err := json.Unmarshal(body[field], &list); err != nil {
			t.Fatalf("%s body's %s: %v", r.Op, field, err)
		}
		out = append(out, len(list))
	}
	return out
}

// listKeys lists every key of index name through the SDK.
func listKeys(t *testing.T, c *sdk.Client, name string) []string {
	t.Helper()
	var keys []string
	p := sdk.NewListVectorsPaginator(c, &sdk.ListVectorsInput{
		VectorBucketName: aws.String(s3vectorstest.Bucket),
		IndexName:        aws.String(s3vectors.IndexName(name)),
		MaxResults:       aws.Int32(1000),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("ListVectors: %v", err)
		}
		for _, v := range out.Vectors {
			keys = append(keys, aws.ToString(v.Key))
		}
	}
	slices.Sort(keys)
	return keys
}

func TestBatches(t *testing.T) {
	s, srv := newStore(t)
	ctx := t.Context()
	if err := s.CreateIndex(ctx, "vs_batch", 3); err != nil {
		t.Fatal(err)
	}
	const n = 1200
	chunks := make([]vectors.Chunk, n)
	keys := make([]string, n)
	for i := range chunks {
		a := float64(i) / n
		keys[i] = vectors.ChunkKey("file-1", i)
		chunks[i] = vectors.Chunk{Key: keys[i], FileID: "file-1", N: i, Text: fmt.Sprint("chunk ", i),
			Vector: []float32{float32(math.Cos(a)), float32(math.Sin(a)), 0.5}}
	}
	if err := s.Put(ctx, "vs_batch", chunks); err != nil {
		t.Fatalf("Put(%d chunks) = %v", n, err)
	}
	if diff := cmp.Diff([]int{500, 500, 200}, batchSizes(t, srv.Requests("PutVectors"), "vectors")); diff != "" {
		t.Errorf("PutVectors batch sizes (-want +got):\n%s", diff)
	}
	want := slices.Sorted(slices.Values(keys))
	if diff := cmp.Diff(want, listKeys(t, srv.Client(), "vs_batch")); diff != "" {
		t.Errorf("keys after Put (-want +got):\n%s", diff)
	}
	ms, err := s.Query(ctx, "vs_batch", chunks[777].Vector, 1, nil)
	if err != nil || len(ms) != 1 || ms[0].Key != keys[777] || ms[0].Text != "chunk 777" || ms[0].N != 777 {
		t.Errorf("Query(chunk 777's vector) = %+v, %v; want chunk 777", ms, err)
	}

	if err := s.Delete(ctx, "vs_batch", keys); err != nil {
		t.Fatalf("Delete(%d keys) = %v", n, err)
	}
	if diff := cmp.Diff([]int{500, 500, 200}, batchSizes(t, srv.Requests("DeleteVectors"), "keys")); diff != "" {
		t.Errorf("DeleteVectors batch sizes (-want +got):\n%s", diff)
	}
	if got := listKeys(t, srv.Client(), "vs_batch"); len(got) != 0 {
		t.Errorf("after Delete, %d keys remain", len(got))
	}

	// Nothing to do: no request.
	before := len(srv.Requests(""))
	if err := s.Put(ctx, "vs_batch", nil); err != nil {
		t.Errorf("Put(no chunks) = %v", err)
	}
	if err := s.Delete(ctx, "vs_batch", nil); err != nil {
		t.Errorf("Delete(no keys) = %v", err)
	}
	if after := len(srv.Requests("")); after != before {
		t.Errorf("Put and Delete of nothing sent %d requests, want none", after-before)
	}
}

// TestDuplicateKeys checks that chunks sharing a key, which S3 Vectors
// refuses in one PutVectors, are sent once, the last one winning, and that
// repeated keys are deleted once.
func TestDuplicateKeys(t *testing.T) {
	s, srv := newStore(t)
	ctx := t.Context()
	if err := s.CreateIndex(ctx, "idx", 2); err != nil {
		t.Fatal(err)
	}
	chunks := []vectors.Chunk{
		{Key: "a", Text: "first a", Vector: []float32{1, 0}},
		{Key: "b", Text: "b", Vector: []float32{0, 1}},
		{Key: "a", Text: "last a", Vector: []float32{1, 0}},
	}
	if err := s.Put(ctx, "idx", chunks); err != nil {
		t.Fatalf("Put(a, b, a) = %v", err)
	}
	if diff := cmp.Diff([]int{2}, batchSizes(t, srv.Requests("PutVectors"), "vectors")); diff != "" {
		t.Errorf("PutVectors batch sizes (-want +got):\n%s", diff)
	}
	ms, err := s.Query(ctx, "idx", []float32{1, 0}, 1, nil)
	if err != nil || len(ms) != 1 || ms[0].Text != "last a" {
		t.Errorf("Query = %+v, %v; want the last chunk a", ms, err)
	}
	if err := s.Delete(ctx, "idx", []string{"a", "a", "b"}); err != nil {
		t.Fatalf("Delete(a, a, b) = %v", err)
	}
	if diff := cmp.Diff([]int{2}, batchSizes(t, srv.Requests("DeleteVectors"), "keys")); diff != "" {
		t.Errorf("DeleteVectors batch sizes (-want +got):\n%s", diff)
	}
}

// lastFilter returns the filter of the last QueryVectors request, decoded.
func lastFilter(t *testing.T, srv *s3vectorstest.Server) any {
	t.Helper()
	reqs := srv.Requests("QueryVectors")
	if len(reqs) == 0 {
		t.Fatal("no QueryVectors request")
	}
	var body struct{ Filter any }
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &body); err != nil {
		t.Fatal(err)
	}
	return body.Filter
}

func TestFilterTranslation(t *testing.T) {
	s, srv := newStore(t)
	ctx := t.Context()
	if err := s.CreateIndex(ctx, "idx", 2); err != nil {
		t.Fatal(err)
	}
	// Data, so that each query also runs through the fake's evaluator.
	chunks := []vectors.Chunk{
		{Key: "red", Vector: []float32{1, 0}, Attributes: map[string]any{"color": "red", "size": 1.0, "ok": true}},
		{Key: "blue", Vector: []float32{1, 1}, Attributes: map[string]any{"color": "blue", "size": 2.0}},
		{Key: "none", Vector: []float32{0, 1}},
	}
	if err := s.Put(ctx, "idx", chunks); err != nil {
		t.Fatal(err)
	}
	eq := vectors.Filter{Type: "eq", Key: "color", Value: "red"}
	tests := []struct {
		name   string
		filter vectors.Filter
		want   string // the filter document sent
		keys   []string
	}{
		{"eq", eq, `{"a_color":{"$eq":"red"}}`, []string{"red"}},
		{"eq bool", vectors.Filter{Type: "eq", Key: "ok", Value: true}, `{"a_ok":{"$eq":true}}`, []string{"red"}},
		{"ne", vectors.Filter{Type: "ne", Key: "color", Value: "red"},
			`{"$or":[{"a_color":{"$ne":"red"}},{"a_color":{"$exists":false}}]}`, []string{"blue", "none"}},
		{"gt", vectors.Filter{Type: "gt", Key: "size", Value: 1.0}, `{"a_size":{"$gt":1}}`, []string{"blue"}},
		{"gte", vectors.Filter{Type: "gte", Key: "size", Value: 1.0}, `{"a_size":{"$gte":1}}`, []string{"red", "blue"}},
		{"lt", vectors.Filter{Type: "lt", Key: "size", Value: 2.0}, `{"a_size":{"$lt":2}}`, []string{"red"}},
		{"lte", vectors.Filter{Type: "lte", Key: "size", Value: 1.5}, `{"a_size":{"$lte":1.5}}`, []string{"red"}},
		{"in", vectors.Filter{Type: "in", Key: "color", Value: []any{"blue", 7.0}},
			`{"a_color":{"$in":["blue",7]}}`, []string{"blue"}},
		{"nin", vectors.Filter{Type: "nin", Key: "color", Value: []any{"blue"}},
			`{"$or":[{"a_color":{"$nin":["blue"]}},{"a_color":{"$exists":false}}]}`, []string{"red", "none"}},
		{"and", vectors.Filter{Type: "and", Filters: []vectors.Filter{eq, {Type: "lt", Key: "size", Value: 5.0}}},
			`{"$and":[{"a_color":{"$eq":"red"}},{"a_size":{"$lt":5}}]}`, []string{"red"}},
		{"or", vectors.Filter{Type: "or", Filters: []vectors.Filter{eq, {Type: "eq", Key: "size", Value: 2.0}}},
			`{"$or":[{"a_color":{"$eq":"red"}},{"a_size":{"$eq":2}}]}`, []string{"red", "blue"}},
		{"nested", vectors.Filter{Type: "or", Filters: []vectors.Filter{
			{Type: "and", Filters: []vectors.Filter{{Type: "ne", Key: "ok", Value: true}}},
			eq,
		}}, `{"$or":[{"$and":[{"$or":[{"a_ok":{"$ne":true}},{"a_ok":{"$exists":false}}]}]},{"a_color":{"$eq":"red"}}]}`,
			[]string{"red", "blue", "none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := s.Query(ctx, "idx", []float32{1, 0}, 10, &tt.filter)
			if err != nil {
				t.Fatalf("Query(%+v) = %v", tt.filter, err)
			}
			var want any
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, lastFilter(t, srv)); diff != "" {
				t.Errorf("filter sent for %+v (-want +got):\n%s", tt.filter, diff)
			}
			var keys []string
			for _, m := range ms {
				keys = append(keys, m.Key)
			}
			if diff := cmp.Diff(tt.keys, keys); diff != "" {
				t.Errorf("Query(%+v) keys (-want +got):\n%s", tt.filter, diff)
			}
		})
	}

	t.Run("no filter", func(t *testing.T) {
		if _, err := s.Query(ctx, "idx", []float32{1, 0}, 10, nil); err != nil {
			t.Fatal(err)
		}
		if f := lastFilter(t, srv); f != nil {
			t.Errorf("Query without a filter sent filter %v", f)
		}
	})
	t.Run("bad filter", func(t *testing.T) {
		before := srv.Calls("QueryVectors")
		for _, f := range []vectors.Filter{
			{Type: "like", Key: "color", Value: "r%"},
			{Type: "gt", Key: "size", Value: "1"},
			{Type: "and"},
			{Type: "in", Key: "color", Value: []any{}},
		} {
			if _, err := s.Query(ctx, "idx", []float32{1, 0}, 10, &f); !errors.Is(err, vectors.ErrBadFilter) {
				t.Errorf("Query(%+v) = %v, want ErrBadFilter", f, err)
			}
		}
		if n := srv.Calls("QueryVectors") - before; n != 0 {
			t.Errorf("bad filters sent %d QueryVectors requests, want none", n)
		}
	})
}

// TestAttributeKeys checks that attributes named like the package's own
// metadata keys, or like S3's operators, stay apart from them.
func TestAttributeKeys(t *testing.T) {
	s, srv := newStore(t)
	ctx := t.Context()
	if err := s.CreateIndex(ctx, "idx", 2); err != nil {
		t.Fatal(err)
	}
	c := vectors.Chunk{
		Key: "k", FileID: "file-1", Filename: "f.txt", N: 2, Text: "the chunk's text", Vector: []float32{1, 0},
		Attributes: map[string]any{
			"text": "attribute text", "chunk": "attribute chunk", "a_text": "prefixed", "$and": "dollar",
			"file_id": "not the file", "n": 7.0, "key": "not the key", "": "empty name",
		},
	}
	other := vectors.Chunk{Key: "other", Text: "attribute text", Vector: []float32{0, 1}}
	if err := s.Put(ctx, "idx", []vectors.Chunk{c, other}); err != nil {
		t.Fatal(err)
	}
	ms, err := s.Query(ctx, "idx", []float32{1, 0}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := c
	want.Vector = nil
	if len(ms) != 1 {
		t.Fatalf("Query = %d matches, want 1", len(ms))
	}
	if diff := cmp.Diff(want, ms[0].Chunk); diff != "" {
		t.Errorf("chunk after Put and Query (-want +got):\n%s", diff)
	}

	for _, tt := range []struct {
		key, value string
		want       []string
	}{
		{"text", "attribute text", []string{"k"}}, // not other, whose text it is
		{"text", "the chunk's text", nil},
		{"chunk", "attribute chunk", []string{"k"}},
		{"a_text", "prefixed", []string{"k"}},
		{"$and", "dollar", []string{"k"}},
	} {
		f := vectors.Filter{Type: "eq", Key: tt.key, Value: tt.value}
		ms, err := s.Query(ctx, "idx", []float32{1, 0}, 10, &f)
		if err != nil {
			t.Errorf("Query(%s eq %q) = %v", tt.key, tt.value, err)
			continue
		}
		var keys []string
		for _, m := range ms {
			keys = append(keys, m.Key)
		}
		if diff := cmp.Diff(tt.want, keys); diff != "" {
			t.Errorf("Query(%s eq %q) (-want +got):\n%s", tt.key, tt.value, diff)
		}
	}

	// The metadata on the wire.
	var body struct {
		Vectors []struct {
			Key      string
			Metadata map[string]any
		}
	}
	if err := json.Unmarshal(srv.Requests("PutVectors")[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	wantMD := map[string]any{
		"text":      "the chunk's text",
		"chunk":     `{"file_id":"file-1","filename":"f.txt","n":2}`,
		"a_text":    "attribute text",
		"a_chunk":   "attribute chunk",
		"a_a_text":  "prefixed",
		"a_$and":    "dollar",
		"a_file_id": "not the file",
		"a_n":       7.0,
		"a_key":     "not the key",
		"a_":        "empty name",
	}
	if diff := cmp.Diff(wantMD, body.Vectors[0].Metadata); diff != "" {
		t.Errorf("metadata of chunk k (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"chunk": `{"file_id":"","filename":"","n":0}`, "text": "attribute text"}, body.Vectors[1].Metadata); diff != "" {
		t.Errorf("metadata of chunk other (-want +got):\n%s", diff)
	}
}

// TestLongText checks that a chunk's text goes into non-filterable
// metadata, so that 8 KB of it, four times what filterable metadata may
// hold, can be put.
func TestLongText(t *testing.T) {
	s, srv := newStore(t)
	ctx := t.Context()
	if err := s.CreateIndex(ctx, "idx", 2); err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("0123456789abcdé\n", 482) // 8,194 bytes
	if len(text) < 8192 {
		t.Fatalf("text of %d bytes", len(text))
	}
	c := vectors.Chunk{Key: "long", FileID: "f", Text: text, Vector: []float32{1, 0}, Attributes: map[string]any{"tag": "x"}}
	if err := s.Put(ctx, "idx", []vectors.Chunk{c}); err != nil {
		t.Fatalf("Put(%d bytes of text) = %v", len(text), err)
	}
	f := &vectors.Filter{Type: "eq", Key: "tag", Value: "x"}
	ms, err := s.Query(ctx, "idx", []float32{1, 0}, 1, f)
	if err != nil || len(ms) != 1 || ms[0].Text != text {
		t.Fatalf("Query = %d matches, %v; want the long chunk, its text whole", len(ms), err)
	}

	client := srv.Client()
	out, err := client.GetIndex(ctx, &sdk.GetIndexInput{
		VectorBucketName: aws.String(s3vectorstest.Bucket), IndexName: aws.String(s3vectors.IndexName("idx")),
	})
	if err != nil {
		t.Fatal(err)
	}
	if mc := out.Index.MetadataConfiguration; mc == nil || !slices.Contains(mc.NonFilterableMetadataKeys, "text") {
		t.Errorf("index metadata configuration = %+v, want text non-filterable", mc)
	}
	if out.Index.DistanceMetric != types.DistanceMetricCosine || out.Index.DataType != types.DataTypeFloat32 || aws.ToInt32(out.Index.Dimension) != 2 {
		t.Errorf("index = %+v, want float32, cosine, 2 dimensions", out.Index)
	}

	// The same text as filterable metadata is refused: the scheme matters.
	if _, err := client.CreateIndex(ctx, &sdk.CreateIndexInput{
		VectorBucketName: aws.String(s3vectorstest.Bucket), IndexName: aws.String("plain"),
		DataType: types.DataTypeFloat32, Dimension: aws.Int32(2), DistanceMetric: types.DistanceMetricCosine,
	}); err != nil {
		t.Fatal(err)
	}
	_, err = client.PutVectors(ctx, &sdk.PutVectorsInput{
		VectorBucketName: aws.String(s3vectorstest.Bucket), IndexName: aws.String("plain"),
		Vectors: []types.PutInputVector{{Key: aws.String("long"), Data: &types.VectorDataMemberFloat32{Value: []float32{1, 0}},
			Metadata: document.NewLazyDocument(map[string]any{"text": text})}},
	})
	wantAPIError(t, err, "ValidationException", http.StatusBadRequest, "Filterable metadata must have at most 2048 bytes")

	// Attributes are filterable: over 2 KB of them fail Put, with the
	// service's error.
	big := vectors.Chunk{Key: "big", Vector: []float32{1, 0}, Attributes: map[string]any{"a": strings.Repeat("x", 1100), "b": strings.Repeat("y", 1100)}}
	err = s.Put(ctx, "idx", []vectors.Chunk{big})
	var ve *types.ValidationException
	if !errors.As(err, &ve) || errors.Is(err, vectors.ErrNoIndex) {
		t.Errorf("Put(2.2 KB of attributes) = %v, want a ValidationException", err)
	}
}

// wantAPIError checks that err is an API error of code, answered with
// status, whose message contains msg.
func wantAPIError(t *testing.T, err error, code string, status int, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want a %s", err, code)
	}
	if ae.ErrorCode() != code || !strings.Contains(ae.ErrorMessage(), msg) {
		t.Errorf("error = %s: %q, want %s containing %q", ae.ErrorCode(), ae.ErrorMessage(), code, msg)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Errorf("error %v: want HTTP status %d", err, status)
	}
}

func TestErrors(t *testing.T) {
	ctx := t.Context()

	t.Run("missing index", func(t *testing.T) {
		s, _ := newStore(t)
		var nf *types.NotFoundException
		if _, err := s.Query(ctx, "missing", []float32{1, 0}, 1, nil); !errors.Is(err, vectors.ErrNoIndex) || !errors.As(err, &nf) {
			t.Errorf("Query = %v, want ErrNoIndex wrapping a NotFoundException", err)
		}
		if err := s.Put(ctx, "missing", []vectors.Chunk{{Key: "k", Vector: []float32{1, 0}}}); !errors.Is(err, vectors.ErrNoIndex) || !errors.As(err, &nf) {
			t.Errorf("Put = %v, want ErrNoIndex wrapping a NotFoundException", err)
		}
		if err := s.Delete(ctx, "missing", []string{"k"}); !errors.Is(err, vectors.ErrNoIndex) {
			t.Errorf("Delete = %v, want ErrNoIndex", err)
		}
		if err := s.DeleteIndex(ctx, "missing"); err != nil {
			t.Errorf("DeleteIndex = %v, want nil", err)
		}
	})

	t.Run("create existing", func(t *testing.T) {
		s, srv := newStore(t)
		if err := s.CreateIndex(ctx, "idx", 3); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateIndex(ctx, "idx", 3); err != nil {
			t.Errorf("CreateIndex again, same dimension = %v", err)
		}
		if n := srv.Calls("GetIndex"); n != 1 {
			t.Errorf("CreateIndex of an existing index called GetIndex %d times, want 1", n)
		}
		err := s.CreateIndex(ctx, "idx", 4)
		if err == nil || !strings.Contains(err.Error(), "3 dimensions, not 4") {
			t.Errorf("CreateIndex with another dimension = %v, want an error naming both", err)
		}
	})

	t.Run("create existing, another kind", func(t *testing.T) {
		s, srv := newStore(t)
		client := srv.Client()
		for _, in := range []*sdk.CreateIndexInput{
			{IndexName: aws.String(s3vectors.IndexName("euclid")), DistanceMetric: types.DistanceMetricEuclidean,
				MetadataConfiguration: &types.MetadataConfiguration{NonFilterableMetadataKeys: []string{"text", "chunk"}}},
			{IndexName: aws.String(s3vectors.IndexName("plain")), DistanceMetric: types.DistanceMetricCosine},
		} {
			in.VectorBucketName, in.DataType, in.Dimension = aws.String(s3vectorstest.Bucket), types.DataTypeFloat32, aws.Int32(2)
			if _, err := client.CreateIndex(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateIndex(ctx, "euclid", 2); err == nil || !strings.Contains(err.Error(), "euclidean") {
			t.Errorf("CreateIndex over a euclidean index = %v, want an error", err)
		}
		if err := s.CreateIndex(ctx, "plain", 2); err == nil || !strings.Contains(err.Error(), "non-filterable") {
			t.Errorf("CreateIndex over an index without our non-filterable keys = %v, want an error", err)
		}
	})

	t.Run("create races a delete", func(t *testing.T) {
		s, srv := newStore(t)
		srv.FailNext("CreateIndex", "ConflictException", "") // exists, then gone
		if err := s.CreateIndex(ctx, "idx", 2); err != nil {
			t.Errorf("CreateIndex = %v", err)
		}
		if c, g := srv.Calls("CreateIndex"), srv.Calls("GetIndex"); c != 2 || g != 1 {
			t.Errorf("CreateIndex made %d CreateIndex and %d GetIndex calls, want 2 and 1", c, g)
		}
	})

	t.Run("service errors", func(t *testing.T) {
		s, srv := newStore(t)
		if err := s.CreateIndex(ctx, "idx", 2); err != nil {
			t.Fatal(err)
		}
		srv.FailNext("PutVectors", "ServiceUnavailableException", "Currently unable to handle the request")
		err := s.Put(ctx, "idx", []vectors.Chunk{{Key: "k", Vector: []float32{1, 0}}})
		var su *types.ServiceUnavailableException
		if !errors.As(err, &su) || errors.Is(err, vectors.ErrNoIndex) || !strings.Contains(err.Error(), `s3vectors: put chunks 0 to 0 of 1 into "idx"`) {
			t.Errorf("Put = %v, want a wrapped ServiceUnavailableException", err)
		}
		srv.FailNext("QueryVectors", "TooManyRequestsException", "")
		_, err = s.Query(ctx, "idx", []float32{1, 0}, 1, nil)
		var tm *types.TooManyRequestsException
		if !errors.As(err, &tm) || !strings.Contains(err.Error(), `s3vectors: query "idx"`) {
			t.Errorf("Query = %v, want a wrapped TooManyRequestsException", err)
		}
		srv.FailNext("DeleteIndex", "AccessDeniedException", "")
		var ad *types.AccessDeniedException
		if err := s.DeleteIndex(ctx, "idx"); !errors.As(err, &ad) {
			t.Errorf("DeleteIndex = %v, want a wrapped AccessDeniedException", err)
		}
		srv.FailNext("CreateIndex", "ServiceQuotaExceededException", "")
		var sq *types.ServiceQuotaExceededException
		if err := s.CreateIndex(ctx, "other", 2); !errors.As(err, &sq) {
			t.Errorf("CreateIndex = %v, want a wrapped ServiceQuotaExceededException", err)
		}
		srv.FailNext("DeleteVectors", "InternalServerException", "")
		var is *types.InternalServerException
		if err := s.Delete(ctx, "idx", []string{"k"}); !errors.As(err, &is) || errors.Is(err, vectors.ErrNoIndex) {
			t.Errorf("Delete = %v, want a wrapped InternalServerException", err)
		}
	})

	t.Run("service validation", func(t *testing.T) {
		s, _ := newStore(t)
		if err := s.CreateIndex(ctx, "idx", 2); err != nil {
			t.Fatal(err)
		}
		var ve *types.ValidationException
		if err := s.Put(ctx, "idx", []vectors.Chunk{{Key: "k", Vector: []float32{1, 0, 0}}}); !errors.As(err, &ve) || errors.Is(err, vectors.ErrNoIndex) {
			t.Errorf("Put of a 3-dimension vector = %v, want a ValidationException", err)
		}
		if err := s.Put(ctx, "idx", []vectors.Chunk{{Key: "k", Vector: []float32{0, 0}}}); !errors.As(err, &ve) {
			t.Errorf("Put of a zero vector = %v, want a ValidationException", err)
		}
		if err := s.Put(ctx, "idx", []vectors.Chunk{{Key: "k", Vector: []float32{float32(math.NaN()), 1}}}); !errors.As(err, &ve) {
			t.Errorf("Put of a NaN = %v, want a ValidationException", err)
		}
		if err := s.Put(ctx, "idx", []vectors.Chunk{{Key: "", Vector: []float32{1, 1}}}); !errors.As(err, &ve) {
			t.Errorf("Put of an empty key = %v, want a ValidationException", err)
		}
	})

	t.Run("refused before any request", func(t *testing.T) {
		s, srv := newStore(t)
		if err := s.CreateIndex(ctx, "idx", 2); err != nil {
			t.Fatal(err)
		}
		before := len(srv.Requests(""))
		for _, dim := range []int{0, -1, 4097} {
			if err := s.CreateIndex(ctx, "other", dim); err == nil {
				t.Errorf("CreateIndex(dimension %d) = nil, want an error", dim)
			}
		}
		if err := s.CreateIndex(ctx, "", 2); err == nil {
			t.Error(`CreateIndex("") = nil, want an error`)
		}
		for _, k := range []int{0, -5} {
			if _, err := s.Query(ctx, "idx", []float32{1, 0}, k, nil); err == nil {
				t.Errorf("Query(topK %d) = nil error, want one", k)
			}
		}
		bad := vectors.Chunk{Key: "k", Vector: []float32{1, 0}, Attributes: map[string]any{"m": map[string]any{}}}
		if err := s.Put(ctx, "idx", []vectors.Chunk{bad}); err == nil || !strings.Contains(err.Error(), `attribute "m"`) {
			t.Errorf("Put of a map attribute = %v, want an error naming it", err)
		}
		inf := vectors.Chunk{Key: "k", Vector: []float32{1, 0}, Attributes: map[string]any{"x": math.Inf(1)}}
		if err := s.Put(ctx, "idx", []vectors.Chunk{inf}); err == nil {
			t.Error("Put of an infinite attribute = nil, want an error")
		}
		if n := len(srv.Requests("")) - before; n != 0 {
			t.Errorf("%d requests sent, want none", n)
		}
	})

	t.Run("topK above S3's maximum", func(t *testing.T) {
		s, srv := newStore(t)
		if err := s.CreateIndex(ctx, "idx", 2); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Query(ctx, "idx", []float32{1, 0}, 1000, nil); err != nil {
			t.Fatal(err)
		}
		var body struct{ TopK int }
		reqs := srv.Requests("QueryVectors")
		if err := json.Unmarshal(reqs[len(reqs)-1].Body, &body); err != nil || body.TopK != s3vectorstest.MaxTopK {
			t.Errorf("Query(topK 1000) sent topK %d (%v), want %d", body.TopK, err, s3vectorstest.MaxTopK)
		}
	})
}

// oddServer answers every request for op with status and body, and
// CreateIndex with a ConflictException.
func oddServer(t *testing.T, op string, status int, body string) *s3vectors.Store {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/CreateIndex" && op != "CreateIndex" {
			w.Header().Set("X-Amzn-Errortype", "ConflictException")
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"message":"exists"}`))
			return
		}
		if r.URL.Path != "/"+op {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(ts.Close)
	return s3vectors.New(sdk.NewFromConfig(s3vectorstest.Config(ts.URL)), "b")
}

// TestOddResponses checks that answers S3 Vectors should never give become
// errors, not panics or made-up chunks.
func TestOddResponses(t *testing.T) {
	ctx := t.Context()
	const chunk = `"chunk":"{\"file_id\":\"f\",\"filename\":\"x.txt\",\"n\":1}"`
	queries := []struct {
		name, body string
		want       string // in the error; "" for none
	}{
		{"no distance", `{"vectors":[{"key":"k","metadata":{` + chunk + `}}]}`, "no distance"},
		{"no key", `{"vectors":[{"distance":0.5,"metadata":{` + chunk + `}}]}`, "no key"},
		{"no metadata", `{"vectors":[{"key":"k","distance":0.5}]}`, "no metadata"},
		{"metadata not an object", `{"vectors":[{"key":"k","distance":0.5,"metadata":[1,2]}]}`, "not an object"},
		{"no chunk", `{"vectors":[{"key":"k","distance":0.5,"metadata":{"text":"t"}}]}`, `no "chunk"`},
		{"chunk not a string", `{"vectors":[{"key":"k","distance":0.5,"metadata":{"chunk":5}}]}`, "not a string"},
		{"chunk not JSON", `{"vectors":[{"key":"k","distance":0.5,"metadata":{"chunk":"{"}}]}`, `"chunk"`},
		{"text not a string", `{"vectors":[{"key":"k","distance":0.5,"metadata":{` + chunk + `,"text":1}}]}`, "not a string"},
		{"NaN distance", `{"vectors":[{"key":"k","distance":"NaN","metadata":{` + chunk + `}}]}`, "distance NaN"},
		{"distance a string", `{"vectors":[{"key":"k","distance":"far","metadata":{` + chunk + `}}]}`, "deserialization failed"},
		{"not JSON", `{"vectors":[`, "deserialization failed"},
		{"vectors null", `{"vectors":null,"distanceMetric":"cosine"}`, ""},
		{"empty", `{}`, ""},
		{"unordered", `{"vectors":[{"key":"far","distance":0.9,"metadata":{` + chunk + `}},{"key":"near","distance":0.1,"metadata":{` + chunk + `,"a_x":"y"}}]}`, ""},
	}
	for _, tt := range queries {
		t.Run(tt.name, func(t *testing.T) {
			s := oddServer(t, "QueryVectors", http.StatusOK, tt.body)
			ms, err := s.Query(ctx, "idx", []float32{1, 0}, 10, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Query = %v", err)
				}
				for i := 1; i < len(ms); i++ {
					if ms[i].Score > ms[i-1].Score {
						t.Errorf("Query = %+v, not closest first", ms)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Query = %+v, %v; want an error containing %q", ms, err, tt.want)
			}
		})
	}
	t.Run("decoded", func(t *testing.T) {
		s := oddServer(t, "QueryVectors", http.StatusOK, queries[len(queries)-1].body)
		ms, err := s.Query(ctx, "idx", []float32{1, 0}, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []vectors.Match{
			{Chunk: vectors.Chunk{Key: "near", FileID: "f", Filename: "x.txt", N: 1, Attributes: map[string]any{"x": "y"}}, Score: 0.9},
			{Chunk: vectors.Chunk{Key: "far", FileID: "f", Filename: "x.txt", N: 1}, Score: 0.1},
		}
		if diff := cmp.Diff(want, ms, cmpopts.EquateApprox(0, 1e-6)); diff != "" {
			t.Errorf("Query (-want +got):\n%s", diff)
		}
	})
	t.Run("unknown error", func(t *testing.T) {
		s := oddServer(t, "QueryVectors", http.StatusBadGateway, `<html>bad gateway</html>`)
		if _, err := s.Query(ctx, "idx", []float32{1, 0}, 10, nil); err == nil || errors.Is(err, vectors.ErrNoIndex) {
			t.Errorf("Query = %v, want an error, not ErrNoIndex", err)
		}
	})
	for _, body := range []string{`{}`, `{"index":null}`, `{"index":{"indexName":"i"}}`, `{"index":{"dimension":"two"}}`} {
		t.Run("GetIndex "+body, func(t *testing.T) {
			s := oddServer(t, "GetIndex", http.StatusOK, body)
			if err := s.CreateIndex(ctx, "idx", 2); err == nil {
				t.Errorf("CreateIndex over an existing index of answer %s = nil, want an error", body)
			}
		})
	}
}

// client and helpers for talking to the fake with the SDK directly.
type direct struct {
	t      *testing.T
	client *sdk.Client
	srv    *s3vectorstest.Server
}

func newDirect(t *testing.T, dim int) *direct {
	t.Helper()
	srv := s3vectorstest.New()
	t.Cleanup(srv.Close)
	d := &direct{t: t, client: srv.Client(), srv: srv}
	_, err := d.client.CreateIndex(t.Context(), &sdk.CreateIndexInput{
		VectorBucketName: aws.String(s3vectorstest.Bucket), IndexName: aws.String("idx"),
		DataType: types.DataTypeFloat32, Dimension: aws.Int32(int32(dim)), DistanceMetric: types.DistanceMetricCosine,
		MetadataConfiguration: &types.MetadataConfiguration{NonFilterableMetadataKeys: []string{"body"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func vec(key string, md map[string]any, v ...float32) types.PutInputVector {
	p := types.PutInputVector{Key: aws.String(key), Data: &types.VectorDataMemberFloat32{Value: v}}
	if md != nil {
		p.Metadata = document.NewLazyDocument(md)
	}
	return p
}

func (d *direct) put(vs ...types.PutInputVector) error {
	_, err := d.client.PutVectors(d.t.Context(), &sdk.PutVectorsInput{
		VectorBucketName: aws.String(s3vectorstest.Bucket), IndexName: aws.String("idx"), Vectors: vs,
	})
	return err
}

func (d *direct) query(topK int32, filter any, v ...float32) ([]string, error) {
	in := &sdk.QueryVectorsInput{
		VectorBucketName: aws.String(s3vectorstest.Bucket), IndexName: aws.String("idx"),
		TopK: aws.Int32(topK), QueryVector: &types.VectorDataMemberFloat32{Value: v},
	}
	if filter != nil {
		in.Filter = document.NewLazyDocument(filter)
	}
	out, err := d.client.QueryVectors(d.t.Context(), in)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, r := range out.Vectors {
		keys = append(keys, aws.ToString(r.Key))
	}
	return keys, nil
}

// TestFakeRefuses sends the fake requests the service refuses, with the SDK,
// and checks that it refuses them as the service does.
func TestFakeRefuses(t *testing.T) {
	ctx := t.Context()
	d := newDirect(t, 2)
	many := func(n int) []types.PutInputVector {
		vs := make([]types.PutInputVector, n)
		for i := range vs {
			vs[i] = vec(fmt.Sprint("k", i), nil, 1, float32(i))
		}
		return vs
	}
	if err := d.put(many(500)...); err != nil {
		t.Fatalf("PutVectors of 500 vectors = %v", err)
	}
	wantAPIError(t, d.put(many(501)...), "ValidationException", 400, "1 to 500")
	wantAPIError(t, d.put(many(0)...), "ValidationException", 400, "1 to 500")
	wantAPIError(t, d.put(vec("a", nil, 1, 0), vec("a", nil, 0, 1)), "ValidationException", 400, `duplicate vector key "a"`)
	wantAPIError(t, d.put(vec("a", nil, 1, 0, 0)), "ValidationException", 400, "3 dimensions")
	wantAPIError(t, d.put(vec("a", nil, float32(math.NaN()), 0)), "ValidationException", 400, "valid floating-point")
	wantAPIError(t, d.put(vec("a", nil, float32(math.Inf(-1)), 0)), "ValidationException", 400, "valid floating-point")
	wantAPIError(t, d.put(vec("a", nil, 0, 0)), "ValidationException", 400, "zero vectors")
	wantAPIError(t, d.put(vec("", nil, 1, 0)), "ValidationException", 400, "1 to 1024")
	wantAPIError(t, d.put(vec(strings.Repeat("k", 1025), nil, 1, 0)), "ValidationException", 400, "1 to 1024")
	wantAPIError(t, d.put(vec("a", map[string]any{"o": map[string]any{"x": 1}}, 1, 0)), "ValidationException", 400, "a list of them")
	wantAPIError(t, d.put(vec("a", map[string]any{"l": []any{[]any{1}}}, 1, 0)), "ValidationException", 400, "a list of them")
	keys := map[string]any{}
	for i := range 51 {
		keys[fmt.Sprint("m", i)] = i
	}
	wantAPIError(t, d.put(vec("a", keys, 1, 0)), "ValidationException", 400, "at most 50 keys")
	wantAPIError(t, d.put(vec("a", map[string]any{"f": strings.Repeat("x", 2048)}, 1, 0)), "ValidationException", 400, "Filterable metadata must have at most 2048 bytes")
	wantAPIError(t, d.put(vec("a", map[string]any{"body": strings.Repeat("x", 41000)}, 1, 0)), "ValidationException", 400, "Total metadata must have at most 40960 bytes")
	if err := d.put(vec("a", map[string]any{"body": strings.Repeat("x", 30000), "f": strings.Repeat("y", 2000)}, 1, 0)); err != nil {
		t.Errorf("PutVectors of 30 KB non-filterable and 2 KB filterable metadata = %v", err)
	}
	if got := d.srv.Calls("PutVectors"); got != 16 {
		t.Errorf("Calls(PutVectors) = %d, want 16", got)
	}
	// Refused batches write nothing: 500 + "a".
	if keys, err := d.query(100, nil, 1, 0); err != nil || len(keys) != 100 {
		t.Errorf("Query = %d keys, %v", len(keys), err)
	}
	var listed int
	p := sdk.NewListVectorsPaginator(d.client, &sdk.ListVectorsInput{VectorBucketName: aws.String(s3vectorstest.Bucket), IndexName: aws.String("idx")})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		listed += len(out.Vectors)
	}
	if listed != 501 {
		t.Errorf("ListVectors = %d vectors, want 501", listed)
	}

	_, err := d.client.DeleteVectors(ctx, &sdk.DeleteVectorsInput{
		VectorBucketName: aws.String(s3vectorstest.Bucket), IndexName: aws.String("idx"), Keys: make([]string, 501),
	})
	wantAPIError(t, err, "ValidationException", 400, "1 to 500")
	_, err = d.client.GetVectors(ctx, &sdk.GetVectorsInput{
		VectorBucketName: aws.String(s3vectorstest.Bucket), IndexName: aws.String("idx"), Keys: make([]string, 101),
	})
	wantAPIError(t, err, "ValidationException", 400, "1 to 100")

	for _, k := range []int32{0, -1, 101} {
		_, err := d.query(k, nil, 1, 0)
		wantAPIError(t, err, "ValidationException", 400, "topK")
	}
	_, err = d.query(10, nil, 1, 0, 0)
	wantAPIError(t, err, "ValidationException", 400, "3 dimensions")
	_, err = d.query(10, nil, 0, 0)
	wantAPIError(t, err, "ValidationException", 400, "zero vectors")
	for _, f := range []any{
		map[string]any{},
		map[string]any{"c": map[string]any{"$like": "x"}},
		map[string]any{"c": map[string]any{}},
		map[string]any{"c": []any{"x"}},
		map[string]any{"c": nil},
		map[string]any{"$and": []any{}},
		map[string]any{"$or": map[string]any{"c": "x"}},
		map[string]any{"$not": map[string]any{"c": "x"}},
		map[string]any{"c": map[string]any{"$gt": "x"}},
		map[string]any{"c": map[string]any{"$eq": []any{"x"}}},
		map[string]any{"c": map[string]any{"$in": []any{}}},
		map[string]any{"c": map[string]any{"$in": "x"}},
		map[string]any{"c": map[string]any{"$in": []any{map[string]any{}}}},
		map[string]any{"c": map[string]any{"$exists": "yes"}},
		map[string]any{"$and": []any{map[string]any{"c": map[string]any{"$ne": nil}}}},
		map[string]any{"body": "x"}, // non-filterable
		[]any{map[string]any{"c": "x"}},
		"c",
	} {
		_, err := d.query(10, f, 1, 0)
		wantAPIError(t, err, "ValidationException", 400, "filter")
	}

	create := func(name string, dim int32, metric types.DistanceMetric, nonFilterable ...string) error {
		in := &sdk.CreateIndexInput{
			VectorBucketName: aws.String(s3vectorstest.Bucket), IndexName: aws.String(name),
			DataType: types.DataTypeFloat32, Dimension: aws.Int32(dim), DistanceMetric: metric,
		}
		if nonFilterable != nil {
			in.MetadataConfiguration = &types.MetadataConfiguration{NonFilterableMetadataKeys: nonFilterable}
		}
		_, err := d.client.CreateIndex(ctx, in)
		return err
	}
	for _, name := range []string{"Bad_Name", "ab", ".abc", "abc-", "a_c", strings.Repeat("a", 64), "abc def"} {
		wantAPIError(t, create(name, 2, types.DistanceMetricCosine), "ValidationException", 400, "indexName")
	}
	wantAPIError(t, create("dims", 0, types.DistanceMetricCosine), "ValidationException", 400, "dimension")
	wantAPIError(t, create("dims", 4097, types.DistanceMetricCosine), "ValidationException", 400, "dimension")
	wantAPIError(t, create("dims", 2, "dotproduct"), "ValidationException", 400, "distanceMetric")
	wantAPIError(t, create("keys", 2, types.DistanceMetricCosine, strings.Split("a b c d e f g h i j k", " ")...), "ValidationException", 400, "1 to 10")
	wantAPIError(t, create("keys", 2, types.DistanceMetricCosine, "a", "a"), "ValidationException", 400, "twice")
	wantAPIError(t, create("keys", 2, types.DistanceMetricCosine, strings.Repeat("k", 64)), "ValidationException", 400, "1 to 63")
	wantAPIError(t, create("idx", 2, types.DistanceMetricCosine), "ConflictException", 409, "already exists")
	if err := create("a.b-c.9", 4096, types.DistanceMetricEuclidean); err != nil {
		t.Errorf("CreateIndex(a.b-c.9, 4096, euclidean) = %v", err)
	}

	_, err = d.client.GetIndex(ctx, &sdk.GetIndexInput{VectorBucketName: aws.String(s3vectorstest.Bucket), IndexName: aws.String("nope")})
	wantAPIError(t, err, "NotFoundException", 404, "not found")
	_, err = d.client.DeleteIndex(ctx, &sdk.DeleteIndexInput{VectorBucketName: aws.String("no-bucket"), IndexName: aws.String("idx")})
	wantAPIError(t, err, "NotFoundException", 404, "vector bucket")
	_, err = d.client.GetIndex(ctx, &sdk.GetIndexInput{
		IndexArn: aws.String("arn:aws:s3vectors:us-east-1:123456789012:bucket/" + s3vectorstest.Bucket + "/index/idx"),
	})
	if err != nil {
		t.Errorf("GetIndex by ARN = %v", err)
	}

	// Unsigned requests are refused.
	cfg := d.srv.Config()
	cfg.Credentials = aws.AnonymousCredentials{}
	_, err = sdk.NewFromConfig(cfg).GetIndex(ctx, &sdk.GetIndexInput{VectorBucketName: aws.String(s3vectorstest.Bucket), IndexName: aws.String("idx")})
	wantAPIError(t, err, "MissingAuthenticationTokenException", 403, "Missing Authentication Token")
	// So are requests signed for another service.
	_, err = sdk.NewFromConfig(d.srv.Config(), func(o *sdk.Options) {
		o.AuthSchemeResolver = signAs{"s3"}
	}).GetIndex(ctx, &sdk.GetIndexInput{VectorBucketName: aws.String(s3vectorstest.Bucket), IndexName: aws.String("idx")})
	wantAPIError(t, err, "InvalidSignatureException", 403, "s3vectors")
}

// signAs resolves SigV4 signing for service name instead of s3vectors.
type signAs struct{ name string }

func (r signAs) ResolveAuthSchemes(_ context.Context, params *sdk.AuthResolverParameters) ([]*smithyauth.Option, error) {
	var props smithy.Properties
	smithyhttp.SetSigV4SigningName(&props, r.name)
	smithyhttp.SetSigV4SigningRegion(&props, params.Region)
	return []*smithyauth.Option{{SchemeID: smithyauth.SchemeIDSigV4, SignerProperties: props}}, nil
}

// TestFakeFilters checks the fake's own filter evaluator on data the
// store never writes (lists, missing keys, numbers as strings).
func TestFakeFilters(t *testing.T) {
	d := newDirect(t, 2)
	err := d.put(
		vec("red", map[string]any{"c": "red", "n": 3, "ok": true}, 1, 0),
		vec("blue", map[string]any{"c": "blue", "n": "3"}, 1, 0.1),
		vec("list", map[string]any{"c": []any{"red", "green"}, "n": []any{1, 10}}, 1, 0.2),
		vec("none", map[string]any{"body": "red"}, 1, 0.3),
	)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		filter any
		want   []string
	}{
		{"implicit eq", map[string]any{"c": "red"}, []string{"red", "list"}},
		{"eq number", map[string]any{"n": map[string]any{"$eq": 3}}, []string{"red"}},
		{"eq string not number", map[string]any{"n": "3"}, []string{"blue"}},
		{"ne: missing fails", map[string]any{"c": map[string]any{"$ne": "red"}}, []string{"blue"}},
		{"ne or not exists", map[string]any{"$or": []any{
			map[string]any{"c": map[string]any{"$ne": "red"}}, map[string]any{"c": map[string]any{"$exists": false}},
		}}, []string{"blue", "none"}},
		{"gt numbers only", map[string]any{"n": map[string]any{"$gt": 2}}, []string{"red", "list"}},
		// Each operator holds on some element of a list, not necessarily one.
		{"range on one key", map[string]any{"n": map[string]any{"$gt": 2, "$lt": 5}}, []string{"red", "list"}},
		{"in", map[string]any{"c": map[string]any{"$in": []any{"green", "blue"}}}, []string{"blue", "list"}},
		{"nin: missing fails", map[string]any{"c": map[string]any{"$nin": []any{"green"}}}, []string{"red", "blue"}},
		{"exists", map[string]any{"ok": map[string]any{"$exists": true}}, []string{"red"}},
		{"not exists", map[string]any{"ok": map[string]any{"$exists": false}}, []string{"blue", "list", "none"}},
		{"implicit and", map[string]any{"c": "red", "ok": true}, []string{"red"}},
		{"and", map[string]any{"$and": []any{map[string]any{"c": "red"}, map[string]any{"n": map[string]any{"$lte": 1}}}}, []string{"list"}},
		{"or", map[string]any{"$or": []any{map[string]any{"c": "blue"}, map[string]any{"ok": true}}}, []string{"red", "blue"}},
		{"bool not string", map[string]any{"ok": "true"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.query(10, tt.filter, 1, 0)
			if err != nil {
				t.Fatalf("QueryVectors(filter %v) = %v", tt.filter, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("QueryVectors(filter %v) (-want +got):\n%s", tt.filter, diff)
			}
		})
	}
}

// TestFakeDistances checks the fake's distances against cosine distances
// computed here, and its answers' shape.
func TestFakeDistances(t *testing.T) {
	d := newDirect(t, 3)
	if err := d.put(vec("x", map[string]any{"t": "x"}, 1, 0, 0), vec("xy", nil, 1, 1, 0), vec("-x", nil, -2, 0, 0)); err != nil {
		t.Fatal(err)
	}
	out, err := d.client.QueryVectors(t.Context(), &sdk.QueryVectorsInput{
		VectorBucketName: aws.String(s3vectorstest.Bucket), IndexName: aws.String("idx"),
		TopK: aws.Int32(3), QueryVector: &types.VectorDataMemberFloat32{Value: []float32{3, 0, 0}},
		ReturnDistance: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		key string
		d   float64
	}{{"x", 0}, {"xy", 1 - 1/math.Sqrt2}, {"-x", 2}}
	if len(out.Vectors) != len(want) || out.DistanceMetric != types.DistanceMetricCosine {
		t.Fatalf("QueryVectors = %d vectors, metric %q", len(out.Vectors), out.DistanceMetric)
	}
	for i, v := range out.Vectors {
		if aws.ToString(v.Key) != want[i].key || v.Distance == nil || math.Abs(float64(*v.Distance)-want[i].d) > 1e-6 || v.Metadata != nil {
			t.Errorf("result %d = %s at %v (metadata %v), want %s at %v, no metadata", i, aws.ToString(v.Key), v.Distance, v.Metadata, want[i].key, want[i].d)
		}
	}
}
