// The tests are in package embedded, not embedded_test, to check chromem's
// file layout (fileName, collectionName) that Store depends on.
package embedded

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/philippgille/chromem-go"

	"github.com/tollgate/tollgate/shared/vectors"
	"github.com/tollgate/tollgate/shared/vectors/vectorstest"
)

// open opens a store at dir, closed when the test ends.
func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Run("disk", func(t *testing.T) {
		vectorstest.Run(t, func(t *testing.T) vectors.Store { return open(t, t.TempDir()) })
	})
	t.Run("memory", func(t *testing.T) {
		vectorstest.Run(t, func(t *testing.T) vectors.Store { return New() })
	})
}

func TestPersist(t *testing.T) {
	vectorstest.Persist(t, func(t *testing.T, dir string) vectors.Store {
		s, err := Open(dir)
		if err != nil {
			t.Fatalf("Open(%s) = %v", dir, err)
		}
		return s // Persist closes it
	})
}

func unit(i, dim int) []float32 {
	v := make([]float32, dim)
	v[i] = 1
	return v
}

func put(t *testing.T, s *Store, name string, chunks ...vectors.Chunk) {
	t.Helper()
	if err := s.Put(context.Background(), name, chunks); err != nil {
		t.Fatalf("Put(%q) = %v", name, err)
	}
}

func queryKeys(t *testing.T, s *Store, name string, q []float32, topK int) []string {
	t.Helper()
	ms, err := s.Query(context.Background(), name, q, topK, nil)
	if err != nil {
		t.Fatalf("Query(%q) = %v", name, err)
	}
	var ks []string
	for _, m := range ms {
		ks = append(ks, m.Key)
	}
	slices.Sort(ks)
	return ks
}

// TestFileNames checks the layout Store relies on: chromem names a
// collection's directory and a document's file by fileName of their names.
func TestFileNames(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.CreateIndex(context.Background(), "vs_1", 2); err != nil {
		t.Fatal(err)
	}
	put(t, s, "vs_1", vectors.Chunk{Key: "file-1#0", Vector: []float32{1, 0}})
	p := filepath.Join(dir, fileName(collectionName("vs_1", 2, 0)), fileName("file-1#0")+".gob")
	if _, err := os.Stat(p); err != nil {
		t.Errorf("chromem no longer names files as fileName says: %v", err)
	}
}

// colliding returns two chunk keys whose documents chromem would write to the
// same file, found by brute force (about 2^16 tries on 32-bit names).
func colliding(t *testing.T) (string, string) {
	t.Helper()
	seen := map[string]string{}
	for i := range 1 << 22 {
		k := vectors.ChunkKey("file-x", i)
		f := fileName(k)
		if other, ok := seen[f]; ok {
			return other, k
		}
		seen[f] = k
	}
	t.Fatal("no colliding keys found")
	return "", ""
}

// TestFileNameCollision checks that two chunks whose keys chromem would
// store in one file both survive a restart, and survive the other's deletion.
func TestFileNameCollision(t *testing.T) {
	k1, k2 := colliding(t)
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.CreateIndex(context.Background(), "vs", 2); err != nil {
		t.Fatal(err)
	}
	put(t, s, "vs", vectors.Chunk{Key: k1, Vector: []float32{1, 0}}, vectors.Chunk{Key: k2, Vector: []float32{0, 1}})
	put(t, s, "vs", vectors.Chunk{Key: k2, Vector: []float32{0, 1}, Text: "replaced"}) // keeps its document
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	want := []string{k1, k2}
	slices.Sort(want)
	if diff := gocmp.Diff(want, queryKeys(t, s, "vs", []float32{1, 1}, 10)); diff != "" {
		t.Fatalf("keys %s and %s (file name %s) after reopening (-want +got):\n%s", k1, k2, fileName(k1), diff)
	}
	if err := s.Delete(context.Background(), "vs", []string{k1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	if diff := gocmp.Diff([]string{k2}, queryKeys(t, s, "vs", []float32{1, 1}, 10)); diff != "" {
		t.Errorf("after deleting %s and reopening (-want +got):\n%s", k1, diff)
	}
}

// TestTornFiles checks that files a crash left half written (a document, or
// a collection's metadata) are set aside rather than stopping Open.
func TestTornFiles(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		if err := s.CreateIndex(ctx, name, 3); err != nil {
			t.Fatal(err)
		}
		put(t, s, name, vectors.Chunk{Key: "k0", Vector: unit(0, 3)}, vectors.Chunk{Key: "k1", Vector: unit(1, 3)},
			vectors.Chunk{Key: "k2", Vector: unit(2, 3)})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// In a: one document cut short, one empty. In b: the metadata cut short.
	aDir := filepath.Join(dir, fileName(collectionName("a", 3, 0)))
	truncate(t, filepath.Join(aDir, fileName("k1")+".gob"), 0.5)
	truncate(t, filepath.Join(aDir, fileName("k2")+".gob"), 0)
	truncate(t, filepath.Join(dir, fileName(collectionName("b", 3, 0)), "00000000.gob"), 0.5)

	s = open(t, dir)
	if diff := gocmp.Diff([]string{"k0"}, queryKeys(t, s, "a", unit(0, 3), 10)); diff != "" {
		t.Errorf("index a after reopening (-want +got):\n%s", diff)
	}
	if _, err := s.Query(ctx, "b", unit(0, 3), 10, nil); err == nil {
		t.Error("index b, whose metadata was torn, still answers")
	}
	// Both can be written again.
	put(t, s, "a", vectors.Chunk{Key: "k1", Vector: unit(1, 3)})
	if err := s.CreateIndex(ctx, "b", 3); err != nil {
		t.Fatal(err)
	}
	put(t, s, "b", vectors.Chunk{Key: "k0", Vector: unit(0, 3)})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	if diff := gocmp.Diff([]string{"k0", "k1"}, queryKeys(t, s, "a", unit(0, 3), 10)); diff != "" {
		t.Errorf("index a after writing and reopening (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"k0"}, queryKeys(t, s, "b", unit(0, 3), 10)); diff != "" {
		t.Errorf("index b after writing and reopening (-want +got):\n%s", diff)
	}
}

// truncate cuts the file at p to frac of its length.
func truncate(t *testing.T, p string, frac float64) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, int64(float64(fi.Size())*frac)); err != nil {
		t.Fatal(err)
	}
}

func TestOpenForeignCollection(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Errorf("Open of a directory with an empty subdirectory = %v", err)
	}
	if _, err := Open(""); err == nil {
		t.Error(`Open("") = nil error`)
	}
	// A collection another program made is refused, not misread.
	db, err := chromem.NewPersistentDB(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateCollection("plain", nil, noEmbedding); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), `collection "plain" is not one of this package's`) {
		t.Errorf("Open of a directory with a foreign collection = %v", err)
	}
}

func TestClosed(t *testing.T) {
	s := New()
	ctx := context.Background()
	if err := s.CreateIndex(ctx, "a", 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := s.Query(ctx, "a", []float32{1, 0}, 1, nil); err == nil {
		t.Error("Query after Close = nil error")
	}
	if err := s.Put(ctx, "a", []vectors.Chunk{{Key: "k", Vector: []float32{1, 0}}}); err == nil {
		t.Error("Put after Close = nil error")
	}
}

func TestBadInput(t *testing.T) {
	s := New()
	ctx := context.Background()
	if err := s.CreateIndex(ctx, "a", 2); err != nil {
		t.Fatal(err)
	}
	for _, c := range []vectors.Chunk{
		{Vector: []float32{1, 0}},
		{Key: "zero", Vector: []float32{0, 0}},
		{Key: "nan", Vector: []float32{float32(math.NaN()), 1}},
		{Key: "inf", Vector: []float32{float32(math.Inf(1)), 1}},
		{Key: "attr", Vector: []float32{1, 0}, Attributes: map[string]any{"list": []any{"a"}}},
	} {
		if err := s.Put(ctx, "a", []vectors.Chunk{c}); err == nil {
			t.Errorf("Put(%+v) = nil, want an error", c)
		}
	}
	if _, err := s.Query(ctx, "a", []float32{0, 0}, 1, nil); err == nil {
		t.Error("Query with a zero vector = nil error")
	}
	if _, err := s.Query(ctx, "a", []float32{1, 0}, 0, nil); err == nil {
		t.Error("Query with topK 0 = nil error")
	}
	// Go integers are numbers, returned as float64.
	put(t, s, "a", vectors.Chunk{Key: "int", Vector: []float32{1, 0}, Attributes: map[string]any{"n": 7, "u": uint8(2)}})
	ms, err := s.Query(ctx, "a", []float32{1, 0}, 1, &vectors.Filter{Type: "gte", Key: "n", Value: 7.0})
	if err != nil || len(ms) != 1 || ms[0].Attributes["n"] != 7.0 || ms[0].Attributes["u"] != 2.0 {
		t.Errorf("Query for a chunk with integer attributes = %+v, %v", ms, err)
	}
}

// randomChunks returns n chunks of random dim-dimension vectors (a fixed
// seed), each with attributes "shard" (a string, 1 in 100 values) and "rank"
// (a number, likewise).
func randomChunks(n, dim int, seed uint64) []vectors.Chunk {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]vectors.Chunk, n)
	for i := range out {
		out[i] = vectors.Chunk{Key: vectors.ChunkKey("file-"+strconv.Itoa(i/100), i%100), FileID: "file-" + strconv.Itoa(i/100),
			Filename: "f.txt", N: i % 100, Text: "chunk text", Vector: randomVector(r, dim),
			Attributes: map[string]any{"shard": strconv.Itoa(i % 100), "rank": float64(i % 100)}}
	}
	return out
}

func randomVector(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

// TestScoresAreCosine checks, on random 256-dimension vectors (whose
// similarities crowd near 0), that scores are the vectors' cosine
// similarity, and that the order and the filters agree with a brute-force
// search.
func TestScoresAreCosine(t *testing.T) {
	const n, dim, topK = 3000, 256, 20
	chunks := randomChunks(n, dim, 7)
	s := New()
	ctx := context.Background()
	if err := s.CreateIndex(ctx, "idx", dim); err != nil {
		t.Fatal(err)
	}
	put(t, s, "idx", chunks...)
	r := rand.New(rand.NewPCG(8, 1))
	for range 5 {
		q := randomVector(r, dim)
		for _, f := range []*vectors.Filter{
			nil,
			{Type: "eq", Key: "shard", Value: "7"},  // 1%: prefiltered by chromem
			{Type: "gte", Key: "rank", Value: 97.0}, // 3%: filtered here, over every chunk
			{Type: "nin", Key: "shard", Value: []any{"1", "2", "3"}}, // 97%: filtered here, on 4×topK
		} {
			type scored struct {
				key   string
				score float64
			}
			var want []scored
			for _, c := range chunks {
				if f == nil || f.Match(c.Attributes) {
					want = append(want, scored{c.Key, cosine(q, c.Vector)})
				}
			}
			slices.SortFunc(want, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
			want = want[:min(topK, len(want))]
			ms, err := s.Query(ctx, "idx", q, topK, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != len(want) {
				t.Fatalf("filter %+v: %d matches, want %d", f, len(ms), len(want))
			}
			for i, m := range ms {
				if m.Key != want[i].key || math.Abs(m.Score-want[i].score) > vectorstest.Tolerance {
					t.Errorf("filter %+v: match %d = %s scoring %.9f, want %s scoring %.9f", f, i, m.Key, m.Score, want[i].key, want[i].score)
				}
			}
		}
	}
}

const benchDim = 256

// benchStore returns an in-memory store holding n random chunks in index
// "idx". Queries search memory alone whether the store is persistent or not,
// so the benchmark saves itself writing n files.
func benchStore(b *testing.B, n int) *Store {
	s := New()
	if err := s.CreateIndex(context.Background(), "idx", benchDim); err != nil {
		b.Fatal(err)
	}
	chunks := randomChunks(n, benchDim, 1)
	for start := 0; start < n; start += 1000 {
		if err := s.Put(context.Background(), "idx", chunks[start:min(start+1000, n)]); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkQuery measures one query (topK 10) of n random 256-dimension
// chunks, without a filter and with filters passing 1% of them: a string
// equality (which chromem tests before comparing vectors) and a number range
// (which Store tests on chromem's results: topK×4, then every chunk).
func BenchmarkQuery(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		s := benchStore(b, n) // once per size, outside the timed sub-benchmarks
		queries := make([][]float32, 64)
		r := rand.New(rand.NewPCG(2, 1))
		for i := range queries {
			queries[i] = randomVector(r, benchDim)
		}
		for _, bb := range []struct {
			name   string
			filter *vectors.Filter
		}{
			{"nofilter", nil},
			{"eq1pct", &vectors.Filter{Type: "eq", Key: "shard", Value: "42"}},
			{"gt1pct", &vectors.Filter{Type: "gt", Key: "rank", Value: 98.0}},
			{"ne99pct", &vectors.Filter{Type: "ne", Key: "shard", Value: "42"}},
		} {
			b.Run(fmt.Sprintf("n=%d/%s", n, bb.name), func(b *testing.B) {
				i := 0
				for b.Loop() {
					ms, err := s.Query(context.Background(), "idx", queries[i%len(queries)], 10, bb.filter)
					if err != nil || len(ms) != 10 {
						b.Fatalf("Query = %d matches, %v", len(ms), err)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkPut measures Put of 100 random 256-dimension chunks at a time
// (what an ingestion writes per embedding batch) into a growing index, in
// memory and on disk (one file per chunk).
func BenchmarkPut(b *testing.B) {
	const batch = 100
	for _, where := range []string{"memory", "disk"} {
		b.Run(where, func(b *testing.B) {
			s := New()
			if where == "disk" {
				s = open(b, b.TempDir())
			}
			if err := s.CreateIndex(context.Background(), "idx", benchDim); err != nil {
				b.Fatal(err)
			}
			chunks := randomChunks(batch, benchDim, 4)
			pool := randomChunks(1000, benchDim, 3) // vectors to cycle through, made before timing
			n := 0
			for b.Loop() {
				for i := range chunks {
					chunks[i].Key = strconv.Itoa(n)
					chunks[i].Vector = pool[n%len(pool)].Vector
					n++
				}
				if err := s.Put(context.Background(), "idx", chunks); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "chunks/s")
		})
	}
}

// BenchmarkOpen measures opening a directory of n persisted chunks: chromem
// reads every file, and Store lists every chunk's key.
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{10_000} {
		dir := b.TempDir()
		s := open(b, dir)
		if err := s.CreateIndex(context.Background(), "idx", benchDim); err != nil {
			b.Fatal(err)
		}
		chunks := randomChunks(n, benchDim, 5)
		for start := 0; start < n; start += 1000 {
			if err := s.Put(context.Background(), "idx", chunks[start:min(start+1000, n)]); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for b.Loop() {
				s, err := Open(dir)
				if err != nil {
					b.Fatal(err)
				}
				_ = s.Close()
			}
		})
	}
}
