// Package vectorstest is the conformance suite of vectors.Store: Run checks
// what every backend must do, Persist what a persistent backend must keep
// across a restart. A backend's tests call them:
//
//	func TestConformance(t *testing.T) {
//		vectorstest.Run(t, func(t *testing.T) vectors.Store { return newStore(t) })
//	}
//
// The suite is deterministic: small hand-made vectors with known cosine
// similarities, no timing, no randomness.
package vectorstest

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate/tollgate/shared/vectors"
)

// Tolerance is how far a returned score may be from the true cosine
// similarity (computed here in float64).
const Tolerance = 1e-5

// Run runs the conformance suite against the stores newStore makes, one per
// subtest: newStore must return an empty store and release it (t.Cleanup)
// when the subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) vectors.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s vectors.Store)
	}{
		{"CreateIndex", testCreateIndex},
		{"Order", testOrder},
		{"Scores", testScores},
		{"Replace", testReplace},
		{"Delete", testDelete},
		{"TopK", testTopK},
		{"Filters", testFilters},
		{"FilterFarMatches", testFilterFarMatches},
		{"BadFilter", testBadFilter},
		{"NoIndex", testNoIndex},
		{"DeleteIndex", testDeleteIndex},
		{"Isolation", testIsolation},
		{"RoundTrip", testRoundTrip},
		{"Dimensions", testDimensions},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// dim is the dimension of the suite's vectors.
const dim = 4

// cosine is the cosine similarity of a and b, in float64.
func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

// chunk returns a chunk with key, vector v and the given attributes; the
// other fields derive from key.
func chunk(key string, v []float32, attrs map[string]any) vectors.Chunk {
	return vectors.Chunk{Key: key, FileID: "file-" + key, Filename: key + ".txt", N: 0, Text: "text of " + key, Vector: v, Attributes: attrs}
}

func create(t *testing.T, s vectors.Store, name string, d int) {
	t.Helper()
	if err := s.CreateIndex(t.Context(), name, d); err != nil {
		t.Fatalf("CreateIndex(%q, %d) = %v", name, d, err)
	}
}

func put(t *testing.T, s vectors.Store, name string, chunks ...vectors.Chunk) {
	t.Helper()
	if err := s.Put(t.Context(), name, chunks); err != nil {
		t.Fatalf("Put(%q, %d chunks) = %v", name, len(chunks), err)
	}
}

// query queries and checks what every answer must be: at most topK matches,
// closest first, without vectors.
func query(t *testing.T, s vectors.Store, name string, q []float32, topK int, f *vectors.Filter) []vectors.Match {
	t.Helper()
	ms, err := s.Query(t.Context(), name, q, topK, f)
	if err != nil {
		t.Fatalf("Query(%q, %v, %d, %v) = %v", name, q, topK, f, err)
	}
	if len(ms) > topK {
		t.Errorf("Query(%q, topK %d) returned %d matches", name, topK, len(ms))
	}
	for i, m := range ms {
		if m.Vector != nil {
			t.Errorf("Query(%q): match %s has a Vector; matches must not carry one", name, m.Key)
		}
		if i > 0 && m.Score > ms[i-1].Score {
			t.Errorf("Query(%q): match %d (%s, %v) scores higher than match %d (%s, %v); want closest first",
				name, i, m.Key, m.Score, i-1, ms[i-1].Key, ms[i-1].Score)
		}
	}
	return ms
}

func keys(ms []vectors.Match) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Key
	}
	return out
}

func sortedKeys(ms []vectors.Match) []string {
	out := keys(ms)
	slices.Sort(out)
	return out
}

// ordered is the suite's main data: chunks whose cosine similarities to q are
// known and distinct (1, 1/√2, 1/√3, 1/3, 0, -1/√2, -1), put in another order
// and with lengths other than 1, so a backend must normalize.
var (
	q       = []float32{2, 0, 0, 0}
	ordered = []vectors.Chunk{
		chunk("c", []float32{0, 1, 0, 0}, nil),    // 0
		chunk("a", []float32{1, 0, 0, 0}, nil),    // 1
		chunk("d", []float32{-0.5, 0, 0, 0}, nil), // -1
		chunk("b", []float32{3, 3, 0, 0}, nil),    // 1/√2
		chunk("e", []float32{5, 0, 5, 5}, nil),    // 1/√3
		chunk("g", []float32{-1, 1, 0, 0}, nil),   // -1/√2
		chunk("f", []float32{1, 2, 2, 0}, nil),    // 1/3
	}
	orderedKeys = []string{"a", "b", "e", "f", "c", "g", "d"}
)

func testCreateIndex(t *testing.T, s vectors.Store) {
	create(t, s, "idx", dim)
	create(t, s, "idx", dim) // again, same dimension: no error
	if ms := query(t, s, "idx", q, 10, nil); len(ms) != 0 {
		t.Errorf("Query on a new index = %v, want no matches", keys(ms))
	}
	put(t, s, "idx", ordered[0])
	create(t, s, "idx", dim) // creating it again keeps its chunks
	if ms := query(t, s, "idx", q, 10, nil); len(ms) != 1 {
		t.Errorf("after CreateIndex of an existing index, Query = %v, want its one chunk", keys(ms))
	}
}

func testOrder(t *testing.T, s vectors.Store) {
	create(t, s, "idx", dim)
	put(t, s, "idx", ordered...)
	ms := query(t, s, "idx", q, 10, nil)
	if diff := gocmp.Diff(orderedKeys, keys(ms)); diff != "" {
		t.Fatalf("Query order (-want +got):\n%s", diff)
	}
	want := []float64{1, 1 / math.Sqrt2, 1 / math.Sqrt(3), 1.0 / 3, 0, -1 / math.Sqrt2, -1}
	for i, m := range ms {
		if math.Abs(m.Score-want[i]) > Tolerance {
			t.Errorf("Query: %s scores %v, want %v (cosine similarity)", m.Key, m.Score, want[i])
		}
	}
}

// testScores checks scores and order for a query off the axes, against
// cosine similarities computed here.
func testScores(t *testing.T, s vectors.Store) {
	create(t, s, "idx", dim)
	put(t, s, "idx", ordered...)
	q := []float32{1, 2, 3, 4}
	type scored struct {
		key   string
		score float64
	}
	var want []scored
	for _, c := range ordered {
		want = append(want, scored{c.Key, cosine(q, c.Vector)})
	}
	slices.SortFunc(want, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
	ms := query(t, s, "idx", q, len(ordered), nil)
	if len(ms) != len(want) {
		t.Fatalf("Query = %v, want %d matches", keys(ms), len(want))
	}
	for i, m := range ms {
		if m.Key != want[i].key || math.Abs(m.Score-want[i].score) > Tolerance {
			t.Errorf("match %d = %s scoring %v, want %s scoring %v", i, m.Key, m.Score, want[i].key, want[i].score)
		}
	}
}

func testReplace(t *testing.T, s vectors.Store) {
	create(t, s, "idx", dim)
	old := chunk("k", []float32{1, 0, 0, 0}, map[string]any{"v": "old"})
	old.Text = "old"
	put(t, s, "idx", old)
	c := chunk("k", []float32{0, 1, 0, 0}, map[string]any{"v": "new"})
	c.Text = "new"
	put(t, s, "idx", c)
	ms := query(t, s, "idx", []float32{1, 0, 0, 0}, 10, nil)
	if len(ms) != 1 {
		t.Fatalf("after putting key k twice, Query = %v, want one match", keys(ms))
	}
	if ms[0].Text != "new" || ms[0].Attributes["v"] != "new" || math.Abs(ms[0].Score) > Tolerance {
		t.Errorf("after putting key k twice, Query = %+v, want the second chunk (text new, score 0)", ms[0])
	}
	// The old vector is gone: a filter on the old attribute finds nothing.
	if ms := query(t, s, "idx", q, 10, &vectors.Filter{Type: "eq", Key: "v", Value: "old"}); len(ms) != 0 {
		t.Errorf("Query for the replaced chunk's attributes = %v, want none", keys(ms))
	}
}

func testDelete(t *testing.T, s vectors.Store) {
	create(t, s, "idx", dim)
	put(t, s, "idx", ordered...)
	if err := s.Delete(t.Context(), "idx", []string{"b", "missing", "e"}); err != nil {
		t.Fatalf("Delete(b, missing, e) = %v", err)
	}
	want := []string{"a", "f", "c", "g", "d"}
	if diff := gocmp.Diff(want, keys(query(t, s, "idx", q, 10, nil))); diff != "" {
		t.Errorf("after Delete (-want +got):\n%s", diff)
	}
	for _, ks := range [][]string{nil, {}, {"b"}, {"never"}} {
		if err := s.Delete(t.Context(), "idx", ks); err != nil {
			t.Errorf("Delete(%q) = %v, want nil (missing keys are no error)", ks, err)
		}
	}
	if diff := gocmp.Diff(want, keys(query(t, s, "idx", q, 10, nil))); diff != "" {
		t.Errorf("after deleting missing keys (-want +got):\n%s", diff)
	}
	// Deleting everything leaves an empty, queryable index.
	if err := s.Delete(t.Context(), "idx", want); err != nil {
		t.Fatalf("Delete(all) = %v", err)
	}
	if ms := query(t, s, "idx", q, 10, nil); len(ms) != 0 {
		t.Errorf("after deleting every chunk, Query = %v, want none", keys(ms))
	}
	// On a missing index, Delete succeeds or says ErrNoIndex.
	if err := s.Delete(t.Context(), "missing", []string{"a"}); err != nil && !errors.Is(err, vectors.ErrNoIndex) {
		t.Errorf("Delete on a missing index = %v, want nil or ErrNoIndex", err)
	}
}

func testTopK(t *testing.T, s vectors.Store) {
	create(t, s, "idx", dim)
	put(t, s, "idx", ordered...)
	for _, k := range []int{1, 2, 6, 7, 8, vectors.MaxTopK, 1000} {
		n := min(k, len(ordered))
		if diff := gocmp.Diff(orderedKeys[:n], keys(query(t, s, "idx", q, k, nil))); diff != "" {
			t.Errorf("Query(topK %d) (-want +got):\n%s", k, diff)
		}
	}
}

// filtered is the filters' data: every attribute type, a string that looks
// like a number, and chunks lacking keys. Vectors give the order
// f1, f2, ..., f6.
var filtered = []vectors.Chunk{
	chunk("f1", []float32{1, 0, 0, 0}, map[string]any{"color": "red", "size": 1.0, "ok": true}),
	chunk("f2", []float32{1, 0.2, 0, 0}, map[string]any{"color": "blue", "size": 2.0, "ok": false}),
	chunk("f3", []float32{1, 0.4, 0, 0}, map[string]any{"color": "red", "size": 3.0}),
	chunk("f4", []float32{1, 0.6, 0, 0}, map[string]any{"size": "3"}),
	chunk("f5", []float32{1, 0.8, 0, 0}, nil),
	chunk("f6", []float32{1, 1, 0, 0}, map[string]any{"color": "green", "size": 2.5, "ok": true}),
}

func testFilters(t *testing.T, s vectors.Store) {
	create(t, s, "idx", dim)
	put(t, s, "idx", filtered...)
	eq := func(k string, v any) vectors.Filter { return vectors.Filter{Type: "eq", Key: k, Value: v} }
	tests := []struct {
		name   string
		filter vectors.Filter
		want   []string // in score order
	}{
		{"eq string", eq("color", "red"), []string{"f1", "f3"}},
		{"eq number", eq("size", 2.0), []string{"f2"}},
		{"eq string, not number", eq("size", "3"), []string{"f4"}},
		{"eq number, not string", eq("size", 3.0), []string{"f3"}},
		{"eq bool", eq("ok", true), []string{"f1", "f6"}},
		{"eq false", eq("ok", false), []string{"f2"}},
		{"eq missing key", eq("nothing", "red"), nil},
		{"ne string, missing passes", vectors.Filter{Type: "ne", Key: "color", Value: "red"}, []string{"f2", "f4", "f5", "f6"}},
		{"ne bool, missing passes", vectors.Filter{Type: "ne", Key: "ok", Value: true}, []string{"f2", "f3", "f4", "f5"}},
		{"ne other type", vectors.Filter{Type: "ne", Key: "size", Value: "3"}, []string{"f1", "f2", "f3", "f5", "f6"}},
		{"gt", vectors.Filter{Type: "gt", Key: "size", Value: 2.0}, []string{"f3", "f6"}},
		{"gte", vectors.Filter{Type: "gte", Key: "size", Value: 2.0}, []string{"f2", "f3", "f6"}},
		{"lt", vectors.Filter{Type: "lt", Key: "size", Value: 2.0}, []string{"f1"}},
		{"lte", vectors.Filter{Type: "lte", Key: "size", Value: 2.5}, []string{"f1", "f2", "f6"}},
		{"gt missing key", vectors.Filter{Type: "gt", Key: "nothing", Value: -1e9}, nil},
		{"in strings", vectors.Filter{Type: "in", Key: "color", Value: []any{"red", "green"}}, []string{"f1", "f3", "f6"}},
		{"in mixed", vectors.Filter{Type: "in", Key: "size", Value: []any{1.0, "3"}}, []string{"f1", "f4"}},
		{"in missing key", vectors.Filter{Type: "in", Key: "nothing", Value: []any{"red"}}, nil},
		{"nin, missing passes", vectors.Filter{Type: "nin", Key: "color", Value: []any{"red"}}, []string{"f2", "f4", "f5", "f6"}},
		{"nin numbers", vectors.Filter{Type: "nin", Key: "size", Value: []any{2.0, 3.0}}, []string{"f1", "f4", "f5", "f6"}},
		{"and", vectors.Filter{Type: "and", Filters: []vectors.Filter{eq("color", "red"), {Type: "gt", Key: "size", Value: 1.0}}}, []string{"f3"}},
		{"or", vectors.Filter{Type: "or", Filters: []vectors.Filter{eq("color", "blue"), {Type: "lt", Key: "size", Value: 1.5}}}, []string{"f1", "f2"}},
		{"nested", vectors.Filter{Type: "and", Filters: []vectors.Filter{
			{Type: "or", Filters: []vectors.Filter{eq("ok", true), eq("ok", false)}},
			{Type: "ne", Key: "color", Value: "green"},
		}}, []string{"f1", "f2"}},
		{"or of missing", vectors.Filter{Type: "or", Filters: []vectors.Filter{eq("nothing", "x")}}, nil},
		{"ne missing key: all", vectors.Filter{Type: "ne", Key: "nothing", Value: "x"}, []string{"f1", "f2", "f3", "f4", "f5", "f6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := query(t, s, "idx", []float32{1, 0, 0, 0}, vectors.MaxTopK, &tt.filter)
			if diff := gocmp.Diff(tt.want, keys(ms), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Query with filter %+v (-want +got):\n%s", tt.filter, diff)
			}
		})
	}
}

// testFilterFarMatches checks that a filter passing only chunks far down the
// ranking still finds the closest of them: a backend that filters after
// searching must search further.
func testFilterFarMatches(t *testing.T, s vectors.Store) {
	create(t, s, "idx", dim)
	const n = 60
	var chunks []vectors.Chunk
	for i := range n {
		// Angles from 0 to 3π/4: similarity to (1,0,0,0) falls with i.
		a := float64(i) * 3 * math.Pi / 4 / n
		attrs := map[string]any{"rank": float64(i)}
		if i >= n-5 {
			attrs["pass"] = true
		}
		chunks = append(chunks, chunk(fmt.Sprintf("k%02d", i), []float32{float32(math.Cos(a)), float32(math.Sin(a)), 0, 0}, attrs))
	}
	put(t, s, "idx", chunks...)
	pass := &vectors.Filter{Type: "eq", Key: "pass", Value: true}
	if diff := gocmp.Diff([]string{"k55", "k56", "k57"}, keys(query(t, s, "idx", []float32{1, 0, 0, 0}, 3, pass))); diff != "" {
		t.Errorf("Query(topK 3) for the 5 farthest chunks (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"k55", "k56", "k57", "k58", "k59"}, keys(query(t, s, "idx", []float32{1, 0, 0, 0}, 10, pass))); diff != "" {
		t.Errorf("Query(topK 10) for the 5 farthest chunks (-want +got):\n%s", diff)
	}
	mid := &vectors.Filter{Type: "and", Filters: []vectors.Filter{
		{Type: "gte", Key: "rank", Value: 20.0}, {Type: "ne", Key: "pass", Value: true},
	}}
	if diff := gocmp.Diff([]string{"k20", "k21"}, keys(query(t, s, "idx", []float32{1, 0, 0, 0}, 2, mid))); diff != "" {
		t.Errorf("Query(topK 2, rank >= 20 and not pass) (-want +got):\n%s", diff)
	}
}

func testBadFilter(t *testing.T, s vectors.Store) {
	create(t, s, "idx", dim)
	put(t, s, "idx", filtered...)
	f := &vectors.Filter{Type: "like", Key: "color", Value: "r%"}
	if ms, err := s.Query(t.Context(), "idx", q, 10, f); err == nil {
		t.Errorf("Query with filter type like = %v, nil; want an error", keys(ms))
	} else if !errors.Is(err, vectors.ErrBadFilter) {
		t.Errorf("Query with filter type like = %v, want an ErrBadFilter", err)
	}
}

func testNoIndex(t *testing.T, s vectors.Store) {
	if _, err := s.Query(t.Context(), "missing", q, 10, nil); !errors.Is(err, vectors.ErrNoIndex) {
		t.Errorf("Query on a missing index = %v, want ErrNoIndex", err)
	}
	if err := s.Put(t.Context(), "missing", ordered[:1]); !errors.Is(err, vectors.ErrNoIndex) {
		t.Errorf("Put on a missing index = %v, want ErrNoIndex", err)
	}
	if err := s.DeleteIndex(t.Context(), "missing"); err != nil {
		t.Errorf("DeleteIndex on a missing index = %v, want nil", err)
	}
	if _, err := s.Query(t.Context(), "missing", q, 10, nil); !errors.Is(err, vectors.ErrNoIndex) {
		t.Errorf("Query after DeleteIndex of a missing index = %v, want ErrNoIndex", err)
	}
}

func testDeleteIndex(t *testing.T, s vectors.Store) {
	create(t, s, "idx", dim)
	put(t, s, "idx", ordered...)
	if err := s.DeleteIndex(t.Context(), "idx"); err != nil {
		t.Fatalf("DeleteIndex = %v", err)
	}
	if ms, err := s.Query(t.Context(), "idx", q, 10, nil); !errors.Is(err, vectors.ErrNoIndex) {
		t.Errorf("Query after DeleteIndex = %v, %v; want ErrNoIndex", keys(ms), err)
	}
	if err := s.Put(t.Context(), "idx", ordered[:1]); !errors.Is(err, vectors.ErrNoIndex) {
		t.Errorf("Put after DeleteIndex = %v, want ErrNoIndex", err)
	}
	if err := s.DeleteIndex(t.Context(), "idx"); err != nil {
		t.Errorf("DeleteIndex again = %v, want nil", err)
	}
	// The name can be used again, with another dimension, and starts empty.
	create(t, s, "idx", dim+1)
	if ms := query(t, s, "idx", []float32{1, 0, 0, 0, 0}, 10, nil); len(ms) != 0 {
		t.Errorf("Query on the index made again = %v, want none", keys(ms))
	}
}

func testIsolation(t *testing.T, s vectors.Store) {
	create(t, s, "a", dim)
	create(t, s, "b", dim)
	var inA, inB []vectors.Chunk
	for _, c := range ordered { // the same keys and vectors in both
		ca, cb := c, c
		ca.Text, cb.Text = "A", "B"
		ca.Attributes, cb.Attributes = map[string]any{"in": "a"}, map[string]any{"in": "b"}
		inA, inB = append(inA, ca), append(inB, cb)
	}
	put(t, s, "a", inA...)
	put(t, s, "b", inB[:3]...)
	check := func(when, index, text string, n int) {
		t.Helper()
		ms := query(t, s, index, q, 50, nil)
		if len(ms) != n {
			t.Errorf("%s: Query(%s) = %d matches, want %d", when, index, len(ms), n)
		}
		for _, m := range ms {
			if m.Text != text {
				t.Errorf("%s: Query(%s) returned %s of another index (text %q)", when, index, m.Key, m.Text)
			}
		}
		other := &vectors.Filter{Type: "ne", Key: "in", Value: index}
		if ms := query(t, s, index, q, 50, other); len(ms) != 0 {
			t.Errorf("%s: Query(%s) for other indexes' chunks = %v, want none", when, index, keys(ms))
		}
	}
	check("after Put", "a", "A", len(ordered))
	check("after Put", "b", "B", 3)
	if err := s.Delete(t.Context(), "b", []string{"a"}); err != nil { // b holds c, a and d
		t.Fatal(err)
	}
	check("after Delete from b", "a", "A", len(ordered))
	if err := s.DeleteIndex(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	check("after DeleteIndex(a)", "b", "B", 2)
}

func testRoundTrip(t *testing.T, s vectors.Store) {
	create(t, s, "idx", dim)
	chunks := []vectors.Chunk{
		{Key: vectors.ChunkKey("file-1", 3), FileID: "file-1", Filename: "notes — draft (v2).md", N: 3,
			Text:   "line one\nline two ✓ \"quoted\" \x00 tab\t",
			Vector: []float32{1, 0, 0, 0},
			Attributes: map[string]any{"author": "Ann", "year": 2024.0, "score": 0.25, "neg": -1e-7,
				"draft": false, "ok": true, "empty": "", "numeric string": "42", "key": "not the chunk's key", "n": "not N"}},
		{Key: vectors.ChunkKey("file-2", 0), FileID: "file-2", Filename: "", N: 0, Text: "", Vector: []float32{0, 1, 0, 0}},
		{Key: vectors.ChunkKey("file-2", 123456), FileID: "file-2", Filename: "big.pdf", N: 123456, Text: "far",
			Vector: []float32{0, 0, 1, 0}, Attributes: map[string]any{}},
	}
	put(t, s, "idx", chunks...)
	ms := query(t, s, "idx", []float32{1, 0.5, 0.25, 0}, 10, nil)
	var got []vectors.Chunk
	for _, m := range ms {
		got = append(got, m.Chunk)
	}
	want := make([]vectors.Chunk, len(chunks))
	for i, c := range chunks {
		c.Vector = nil
		want[i] = c
	}
	if diff := gocmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("chunks after Put and Query (-want +got):\n%s", diff)
	}
	// The caller's chunks are not the store's: changing them after Put
	// changes nothing stored.
	chunks[0].Attributes["author"] = "Bob"
	chunks[0].Vector[0], chunks[0].Vector[1] = 0, -1
	ms = query(t, s, "idx", []float32{1, 0, 0, 0}, 1, nil)
	if len(ms) != 1 || ms[0].Key != chunks[0].Key || ms[0].Attributes["author"] != "Ann" || math.Abs(ms[0].Score-1) > Tolerance {
		t.Errorf("after changing a chunk's vector and attributes once Put, Query = %+v, want the stored ones", ms)
	}
	// Nor are returned matches: changing one changes no later answer.
	ms[0].Attributes["author"] = "Eve"
	if ms := query(t, s, "idx", []float32{1, 0, 0, 0}, 1, nil); len(ms) != 1 || ms[0].Attributes["author"] != "Ann" {
		t.Errorf("after changing a returned match, Query = %+v, want the stored attributes", ms)
	}
}

func testDimensions(t *testing.T, s vectors.Store) {
	if err := s.CreateIndex(t.Context(), "zero", 0); err == nil {
		t.Error("CreateIndex(dimension 0) = nil, want an error")
	}
	create(t, s, "idx", dim)
	if err := s.CreateIndex(t.Context(), "idx", dim+1); err == nil {
		t.Errorf("CreateIndex of an index of %d dimensions with %d = nil, want an error", dim, dim+1)
	}
	short := chunk("short", []float32{1, 0, 0}, nil)
	if err := s.Put(t.Context(), "idx", []vectors.Chunk{ordered[0], short}); err == nil || errors.Is(err, vectors.ErrNoIndex) {
		t.Errorf("Put of a %d-dimension vector into a %d-dimension index = %v, want an error (not ErrNoIndex)", len(short.Vector), dim, err)
	}
	if _, err := s.Query(t.Context(), "idx", []float32{1, 0, 0, 0, 0}, 10, nil); err == nil || errors.Is(err, vectors.ErrNoIndex) {
		t.Errorf("Query with a %d-dimension vector in a %d-dimension index = %v, want an error (not ErrNoIndex)", dim+1, dim, err)
	}
	// A good Put still works.
	put(t, s, "idx", ordered...)
	if got := len(query(t, s, "idx", q, 50, nil)); got != len(ordered) {
		t.Errorf("Query = %d matches, want %d", got, len(ordered))
	}
}

// testConcurrent puts, queries and deletes from several goroutines; run it
// under -race. The outcome is deterministic: every writer's chunks, less
// what it deleted.
func testConcurrent(t *testing.T, s vectors.Store) {
	create(t, s, "idx", dim)
	create(t, s, "other", dim)
	const writers, each = 6, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("w%d-%02d", w, i)
				v := []float32{float32(w + 1), float32(i + 1), 1, 0}
				if err := s.Put(t.Context(), "idx", []vectors.Chunk{chunk(key, v, map[string]any{"w": float64(w)})}); err != nil {
					t.Errorf("Put(%s) = %v", key, err)
					return
				}
				if i%2 == 1 { // delete every odd chunk again
					if err := s.Delete(t.Context(), "idx", []string{key}); err != nil {
						t.Errorf("Delete(%s) = %v", key, err)
					}
				}
				f := &vectors.Filter{Type: "eq", Key: "w", Value: float64(w)}
				if _, err := s.Query(t.Context(), "idx", v, 5, f); err != nil {
					t.Errorf("Query = %v", err)
				}
			}
		})
	}
	wg.Go(func() { // indexes come and go meanwhile
		for i := range each {
			name := fmt.Sprintf("tmp%d", i)
			if err := s.CreateIndex(t.Context(), name, dim); err != nil {
				t.Errorf("CreateIndex(%s) = %v", name, err)
			}
			if err := s.Put(t.Context(), name, ordered); err != nil {
				t.Errorf("Put(%s) = %v", name, err)
			}
			if _, err := s.Query(t.Context(), "other", q, 5, nil); err != nil {
				t.Errorf("Query(other) = %v", err)
			}
			if err := s.DeleteIndex(t.Context(), name); err != nil {
				t.Errorf("DeleteIndex(%s) = %v", name, err)
			}
		}
	})
	wg.Wait()
	ms := query(t, s, "idx", q, 1000, nil)
	if len(ms) != writers*each/2 {
		t.Fatalf("after concurrent writes, Query = %d matches, want %d", len(ms), writers*each/2)
	}
	for _, m := range ms {
		var w, i int
		if _, err := fmt.Sscanf(m.Key, "w%d-%d", &w, &i); err != nil || i%2 == 1 {
			t.Errorf("unexpected chunk %s after concurrent writes", m.Key)
		}
	}
}

// Persist checks that a persistent backend keeps indexes, their dimensions
// and their chunks (puts, replacements and deletions) across a restart: it
// opens a store at a directory, writes, closes it, and opens the directory
// again. Each store open returns is closed by Persist when it implements
// io.Closer (before the directory is opened again).
func Persist(t *testing.T, open func(t *testing.T, dir string) vectors.Store) {
	dir := t.TempDir()
	closeStore := func(s vectors.Store) {
		t.Helper()
		if c, ok := s.(io.Closer); ok {
			if err := c.Close(); err != nil {
				t.Fatalf("Close = %v", err)
			}
		}
	}

	s := open(t, dir)
	create(t, s, "a", dim)
	create(t, s, "b", dim)
	create(t, s, "empty", dim)
	create(t, s, "gone", dim+1)
	put(t, s, "a", filtered...)
	put(t, s, "b", ordered...)
	put(t, s, "gone", chunk("x", []float32{1, 0, 0, 0, 0}, nil))
	replaced := chunk("f2", []float32{0, 0, 0, 1}, map[string]any{"color": "black", "size": 9.5, "ok": true})
	put(t, s, "a", replaced)
	if err := s.Delete(t.Context(), "a", []string{"f3", "f5"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteIndex(t.Context(), "gone"); err != nil {
		t.Fatal(err)
	}
	closeStore(s)

	s = open(t, dir)
	want := []vectors.Chunk{filtered[0], filtered[3], filtered[5], replaced} // by score against (1,0,0,0)
	for i := range want {
		want[i].Vector = nil
	}
	ms := query(t, s, "a", []float32{1, 0, 0, 0}, 10, nil)
	var got []vectors.Chunk
	for _, m := range ms {
		got = append(got, m.Chunk)
	}
	if diff := gocmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("index a after reopening (-want +got):\n%s", diff)
	}
	vecs := [][]float32{filtered[0].Vector, filtered[3].Vector, filtered[5].Vector, replaced.Vector}
	for i, m := range ms {
		if w := cosine([]float32{1, 0, 0, 0}, vecs[min(i, len(vecs)-1)]); math.Abs(m.Score-w) > Tolerance {
			t.Errorf("after reopening, %s scores %v, want %v", m.Key, m.Score, w)
		}
	}
	black := &vectors.Filter{Type: "eq", Key: "color", Value: "black"}
	if diff := gocmp.Diff([]string{"f2"}, keys(query(t, s, "a", q, 10, black))); diff != "" {
		t.Errorf("filtered query after reopening (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(orderedKeys, keys(query(t, s, "b", q, 10, nil))); diff != "" {
		t.Errorf("index b after reopening (-want +got):\n%s", diff)
	}
	if ms := query(t, s, "empty", q, 10, nil); len(ms) != 0 {
		t.Errorf("empty index after reopening = %v, want none", keys(ms))
	}
	if _, err := s.Query(t.Context(), "gone", []float32{1, 0, 0, 0, 0}, 10, nil); !errors.Is(err, vectors.ErrNoIndex) {
		t.Errorf("Query on a deleted index after reopening = %v, want ErrNoIndex", err)
	}
	create(t, s, "a", dim) // the dimension was kept...
	if err := s.CreateIndex(t.Context(), "a", dim+1); err == nil {
		t.Error("after reopening, CreateIndex with another dimension = nil, want an error")
	}
	if _, err := s.Query(t.Context(), "a", []float32{1, 0, 0}, 10, nil); err == nil {
		t.Error("after reopening, Query with another dimension = nil error, want one")
	}
	// ...and writes after reopening persist too.
	put(t, s, "empty", ordered[:2]...)
	if err := s.Delete(t.Context(), "b", []string{"a"}); err != nil {
		t.Fatal(err)
	}
	closeStore(s)

	s = open(t, dir)
	defer closeStore(s)
	if diff := gocmp.Diff([]string{"a", "c"}, sortedKeys(query(t, s, "empty", q, 10, nil))); diff != "" {
		t.Errorf("index empty after the second reopening (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(orderedKeys[1:], keys(query(t, s, "b", q, 10, nil))); diff != "" {
		t.Errorf("index b after the second reopening (-want +got):\n%s", diff)
	}
}
