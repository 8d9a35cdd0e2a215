// Package embedded is the local server's vector database: chromem-go
// (github.com/philippgille/chromem-go), in this process, persisted under a
// directory, with no server to start. See docs/adrs/0007-embedded-vector-database.md.
//
// Each index is a chromem collection; each chunk a document with its vector
// given (chromem's embedding function is never called). chromem searches
// exhaustively (every chunk's cosine similarity to the query) and filters
// only on string equality of its string metadata, so attribute filters are
// evaluated here with vectors.Filter.Match on what chromem returns, asking
// for more results until topK pass; top-level string and boolean equalities
// are also handed to chromem, which then compares only the chunks that pass
// them.
//
// chromem writes one file per chunk, named by 32 bits of a hash of the
// document's ID; Store picks document IDs whose file names are unique in
// their collection (two chunks sharing a file would lose one on the next
// start) and sets aside files torn by a crash, which would stop chromem from
// loading anything. One process at a time may open a directory.
package embedded

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/philippgille/chromem-go"

	"github.com/tollgate/tollgate/shared/vectors"
)

// Store is an embedded vector database. It is safe for concurrent use.
type Store struct {
	db         *chromem.DB
	persistent bool

	mu      sync.RWMutex // guards the fields below, and chromem's list of collections
	indexes map[string]*index
	dirs    map[string]bool // the file names (hashes) of the collections' directories
	closed  bool
}

// index is one index: a chromem collection and what chromem does not keep.
type index struct {
	name string
	dim  int
	col  *chromem.Collection

	// mu serializes writes to the collection against each other and against
	// queries (chromem's Delete reads its documents unlocked), and guards the
	// fields below.
	mu      sync.RWMutex
	ids     map[string]string // chunk key → document ID
	files   map[string]bool   // the file names (hashes) of the documents' IDs
	deleted bool
}

// Metadata keys of a chunk's document. Attribute k is metaAttr+k, its value
// typed by a prefix: "s:" a string, "n:" a number, "b:" a boolean.
const (
	metaKey      = "key"
	metaFileID   = "file_id"
	metaFilename = "filename"
	metaN        = "n"
	metaAttr     = "attr:"
)

var errClosed = errors.New("embedded: the store is closed")

// Open opens the database under dir, making dir if it does not exist. The
// whole database is read into memory: searches never touch the disk; every
// write goes to disk (one file per chunk) before it returns.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("embedded: open: no directory")
	}
	db, err := chromem.NewPersistentDB(dir, false)
	if err != nil {
		// A file torn by a crash during a write stops chromem from loading
		// anything: set such files aside, and try once more.
		n, qerr := quarantine(dir)
		if qerr != nil {
			return nil, fmt.Errorf("embedded: open %s: %w (and looking for torn files: %v)", dir, err, qerr)
		}
		if n == 0 {
			return nil, fmt.Errorf("embedded: open %s: %w", dir, err)
		}
		if db, err = chromem.NewPersistentDB(dir, false); err != nil {
			return nil, fmt.Errorf("embedded: open %s (having set aside %d torn files): %w", dir, n, err)
		}
	}
	s := newStore(db, true)
	for colName := range db.ListCollections() {
		x, err := load(db, colName)
		if err != nil {
			return nil, fmt.Errorf("embedded: open %s: %w", dir, err)
		}
		if s.indexes[x.name] != nil {
			return nil, fmt.Errorf("embedded: open %s: two collections hold index %q", dir, x.name)
		}
		s.indexes[x.name] = x
		s.dirs[fileName(colName)] = true
	}
	return s, nil
}

// New returns a store that keeps its indexes in memory only, for tests and
// benchmarks.
func New() *Store { return newStore(chromem.NewDB(), false) }

func newStore(db *chromem.DB, persistent bool) *Store {
	return &Store{db: db, persistent: persistent, indexes: map[string]*index{}, dirs: map[string]bool{}}
}

// Close closes the store: later calls fail. Every write is on disk when it
// returns, so Close writes nothing; it may be called more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// noEmbedding is every collection's embedding function: chunks come with
// their vectors, so chromem must never embed.
func noEmbedding(context.Context, string) ([]float32, error) {
	return nil, errors.New("embedded: chromem was asked to embed text; chunks must come with their vectors")
}

// fileName is the name chromem gives the file or directory of a document or
// collection named id: the first 32 bits of its SHA-256, in hex (chromem's
// hash2hex). Store_test checks that it still is.
func fileName(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:4])
}

// collectionName is the chromem collection of index name, of dim dimensions;
// salt makes its directory's name unique. chromem persists a collection's
// name but offers no way to read its metadata back, hence the dimension here.
func collectionName(name string, dim, salt int) string {
	return fmt.Sprintf("%d:%d:%s", dim, salt, name)
}

func parseCollectionName(s string) (name string, dim int, err error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) == 3 {
		dim, err = strconv.Atoi(parts[0])
		if _, serr := strconv.Atoi(parts[1]); err == nil && serr == nil && dim > 0 {
			return parts[2], dim, nil
		}
	}
	return "", 0, fmt.Errorf("collection %q is not one of this package's (dimension:salt:index); "+
		"if the directory was written by another program or version, move it away to start afresh", s)
}

// load rebuilds an index from its collection: its chunks' document IDs, which
// chromem returns only from a query.
func load(db *chromem.DB, colName string) (*index, error) {
	name, dim, err := parseCollectionName(colName)
	if err != nil {
		return nil, err
	}
	col := db.GetCollection(colName, noEmbedding) // also sets its embedding function
	x := &index{name: name, dim: dim, col: col, ids: map[string]string{}, files: map[string]bool{}}
	n := col.Count()
	if n == 0 {
		return x, nil
	}
	probe := make([]float32, dim)
	probe[0] = 1
	docs, err := col.QueryEmbedding(context.Background(), probe, n, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("index %q: read its chunks: %w", name, err)
	}
	for _, d := range docs {
		key, ok := d.Metadata[metaKey]
		if !ok {
			return nil, fmt.Errorf("index %q: document %q has no chunk key", name, d.ID)
		}
		x.ids[key] = d.ID
		x.files[fileName(d.ID)] = true
	}
	return x, nil
}

// quarantine renames the files under dir that chromem cannot read (torn by a
// crash during a write) to *.broken, which chromem skips, and returns how
// many it renamed. A collection whose own metadata file is unreadable is lost
// whole: chromem cannot load its documents without it. The chunks lost were
// being written when the process died, so their ingestion had not finished
// and will be done again.
func quarantine(dir string) (int, error) {
	cols, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cols {
		if !c.IsDir() {
			continue
		}
		cdir := filepath.Join(dir, c.Name())
		files, err := os.ReadDir(cdir)
		if err != nil {
			return n, err
		}
		var docs []string
		meta := false
		for _, f := range files {
			p := filepath.Join(cdir, f.Name())
			switch {
			case f.IsDir() || !strings.HasSuffix(f.Name(), ".gob"):
			case f.Name() == "00000000.gob": // chromem's metadataFileName
				var m struct {
					Name     string
					Metadata map[string]string
				}
				if meta = decodes(p, &m) && m.Name != ""; !meta {
					if err := setAside(p); err != nil {
						return n, err
					}
					n++
				}
			default:
				docs = append(docs, p)
			}
		}
		for _, p := range docs {
			if meta && decodes(p, &chromem.Document{}) {
				continue
			}
			if err := setAside(p); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// decodes reports whether the file at p holds a whole gob of v's type, as
// chromem (uncompressed, unencrypted) writes.
func decodes(p string, v any) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	return gob.NewDecoder(f).Decode(v) == nil
}

func setAside(p string) error { return os.Rename(p, p+".broken") }

// index returns index name, or an error wrapping vectors.ErrNoIndex.
func (s *Store) index(op, name string) (*index, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errClosed
	}
	x := s.indexes[name]
	if x == nil {
		return nil, fmt.Errorf("embedded: %s %q: %w", op, name, vectors.ErrNoIndex)
	}
	return x, nil
}

// CreateIndex creates index name for vectors of dim dimensions; creating an
// index that exists succeeds if its dimension is dim, and fails otherwise.
func (s *Store) CreateIndex(ctx context.Context, name string, dim int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if name == "" {
		return errors.New("embedded: create index: no name")
	}
	if dim < 1 {
		return fmt.Errorf("embedded: create index %q: dimension %d, want at least 1", name, dim)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if x := s.indexes[name]; x != nil {
		if x.dim != dim {
			return fmt.Errorf("embedded: create index %q of %d dimensions: it exists with %d", name, dim, x.dim)
		}
		return nil
	}
	colName := collectionName(name, dim, 0)
	for salt := 1; s.dirs[fileName(colName)]; salt++ {
		colName = collectionName(name, dim, salt)
	}
	col, err := s.db.CreateCollection(colName, nil, noEmbedding)
	if err != nil {
		return fmt.Errorf("embedded: create index %q: %w", name, err)
	}
	s.indexes[name] = &index{name: name, dim: dim, col: col, ids: map[string]string{}, files: map[string]bool{}}
	s.dirs[fileName(colName)] = true
	return nil
}

// DeleteIndex removes index name and its chunks; a missing index is no error.
func (s *Store) DeleteIndex(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	x := s.indexes[name]
	if x == nil {
		return nil
	}
	x.mu.Lock() // waits for the index's writes and queries under way
	defer x.mu.Unlock()
	if err := s.db.DeleteCollection(x.col.Name); err != nil {
		return fmt.Errorf("embedded: delete index %q: %w", name, err)
	}
	x.deleted = true
	delete(s.indexes, name)
	delete(s.dirs, fileName(x.col.Name))
	return nil
}

// Put writes chunks into index name, replacing those with the same keys (of
// chunks with the same key, the last is kept). Every chunk needs a key and a
// vector of the index's dimension, not all zero; attribute values must be
// strings, numbers or booleans (Go integers are kept as float64, as
// encoding/json would return them). Every chunk is checked before any is
// written; an error writing one may leave others written.
func (s *Store) Put(ctx context.Context, name string, chunks []vectors.Chunk) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	x, err := s.index("put into", name)
	if err != nil {
		return err
	}
	docs := make([]chromem.Document, 0, len(chunks))
	at := make(map[string]int, len(chunks)) // key → index in docs
	for _, c := range chunks {
		d, err := document(c, x.dim)
		if err != nil {
			return fmt.Errorf("embedded: put into %q: %w", name, err)
		}
		if i, ok := at[c.Key]; ok {
			docs[i] = d
			continue
		}
		at[c.Key] = len(docs)
		docs = append(docs, d)
	}
	if len(docs) == 0 {
		return nil
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	if x.deleted {
		return fmt.Errorf("embedded: put into %q: %w", name, vectors.ErrNoIndex)
	}
	// Each key's document ID is reserved before anything is written: an ID
	// reserved for a chunk that then fails to be written names no document,
	// which Delete and Query take in their stride, and the chunk's next Put
	// uses it.
	for i := range docs {
		docs[i].ID = x.docID(docs[i].Metadata[metaKey])
	}
	if s.persistent && len(docs) > 1 {
		// Writing files is most of a persistent Put's time; chromem writes
		// them concurrently.
		err = x.col.AddDocuments(ctx, docs, runtime.GOMAXPROCS(0))
	} else {
		for _, d := range docs {
			if err = x.col.AddDocument(ctx, d); err != nil {
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("embedded: put into %q: %w", name, err)
	}
	return nil
}

// docID returns the document ID of the chunk with key, reserving one whose
// file name no other document of the index has if the key is new. x.mu is
// held.
func (x *index) docID(key string) string {
	if id, ok := x.ids[key]; ok {
		return id
	}
	id := key
	for i := 1; x.files[fileName(id)]; i++ {
		id = key + "\x00" + strconv.Itoa(i)
	}
	x.ids[key] = id
	x.files[fileName(id)] = true
	return id
}

// document returns chunk c as a chromem document, without its ID.
func document(c vectors.Chunk, dim int) (chromem.Document, error) {
	if c.Key == "" {
		return chromem.Document{}, errors.New("a chunk has no key")
	}
	if len(c.Vector) != dim {
		return chromem.Document{}, fmt.Errorf("chunk %q: a vector of %d dimensions, want %d", c.Key, len(c.Vector), dim)
	}
	v, _, err := normalize(c.Vector)
	if err != nil {
		return chromem.Document{}, fmt.Errorf("chunk %q: %w", c.Key, err)
	}
	meta := make(map[string]string, 4+len(c.Attributes))
	meta[metaKey] = c.Key
	meta[metaFileID] = c.FileID
	meta[metaFilename] = c.Filename
	meta[metaN] = strconv.Itoa(c.N)
	for k, a := range c.Attributes {
		enc, ok := encodeValue(a)
		if !ok {
			return chromem.Document{}, fmt.Errorf("chunk %q: attribute %q is a %T; want a string, a number or a boolean", c.Key, k, a)
		}
		meta[metaAttr+k] = enc
	}
	return chromem.Document{Metadata: meta, Embedding: v, Content: c.Text}, nil
}

// normalize returns v scaled to length 1, in float32 (what chromem stores and
// compares) and in float64 (to score with). The float32 copy is new: the
// caller's vector is never the store's, and chromem keeps a vector it finds
// normalized as it is.
func normalize(v []float32) ([]float32, []float64, error) {
	var sum float64
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, nil, errors.New("the vector is not finite")
		}
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return nil, nil, errors.New("the vector is all zeros, so it has no direction to compare")
	}
	norm := math.Sqrt(sum)
	v32, v64 := make([]float32, len(v)), make([]float64, len(v))
	for i, x := range v {
		v64[i] = float64(x) / norm
		v32[i] = float32(v64[i])
	}
	return v32, v64, nil
}

// encodeValue returns an attribute value as chromem metadata.
func encodeValue(a any) (string, bool) {
	switch a := a.(type) {
	case string:
		return "s:" + a, true
	case bool:
		return "b:" + strconv.FormatBool(a), true
	}
	if x, ok := vectors.Number(a); ok {
		return "n:" + strconv.FormatFloat(x, 'g', -1, 64), true
	}
	return "", false
}

func decodeValue(s string) (any, error) {
	typ, v, _ := strings.Cut(s, ":")
	switch typ {
	case "s":
		return v, nil
	case "b":
		return strconv.ParseBool(v)
	case "n":
		return strconv.ParseFloat(v, 64)
	}
	return nil, fmt.Errorf("unknown value encoding %q", clip(s))
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Delete removes the chunks with keys from index name; missing keys are no
// error, a missing index is vectors.ErrNoIndex.
func (s *Store) Delete(ctx context.Context, name string, keys []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	x, err := s.index("delete from", name)
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.deleted {
		return fmt.Errorf("embedded: delete from %q: %w", name, vectors.ErrNoIndex)
	}
	var ids []string
	for _, k := range keys {
		if id, ok := x.ids[k]; ok {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if err := x.col.Delete(ctx, nil, nil, ids...); err != nil {
		return fmt.Errorf("embedded: delete from %q: %w", name, err)
	}
	for _, k := range keys {
		if id, ok := x.ids[k]; ok {
			delete(x.ids, k)
			delete(x.files, fileName(id))
		}
	}
	return nil
}

// overfetch is how many more results than topK a filtered query first asks
// chromem for; if fewer than topK of them pass, it asks for every chunk.
const overfetch = 4

// Query returns the topK chunks of index name closest to vector (by cosine
// similarity) that pass filter (nil: all), closest first, without their
// vectors. The filter must validate (else the error wraps
// vectors.ErrBadFilter); vector must have the index's dimension.
func (s *Store) Query(ctx context.Context, name string, vector []float32, topK int, filter *vectors.Filter) ([]vectors.Match, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if filter != nil {
		if err := filter.Validate(); err != nil {
			return nil, fmt.Errorf("embedded: query %q: filters: %w", name, err)
		}
	}
	if topK < 1 {
		return nil, fmt.Errorf("embedded: query %q: topK %d, want at least 1", name, topK)
	}
	x, err := s.index("query", name)
	if err != nil {
		return nil, err
	}
	if len(vector) != x.dim {
		return nil, fmt.Errorf("embedded: query %q: a vector of %d dimensions, want %d", name, len(vector), x.dim)
	}
	q32, q64, err := normalize(vector)
	if err != nil {
		return nil, fmt.Errorf("embedded: query %q: %w", name, err)
	}

	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.deleted {
		return nil, fmt.Errorf("embedded: query %q: %w", name, vectors.ErrNoIndex)
	}
	total := x.col.Count()
	if total == 0 {
		return nil, nil
	}
	where := prefilter(filter)
	ask := topK
	if filter != nil {
		ask = topK * overfetch
	}
	for {
		ask = min(ask, total) // chromem refuses to be asked for more than it holds
		res, err := x.col.QueryEmbedding(ctx, q32, ask, where, nil)
		if err != nil {
			return nil, fmt.Errorf("embedded: query %q: %w", name, err)
		}
		out := make([]vectors.Match, 0, min(topK, len(res)))
		for _, r := range res {
			attrs, err := attributes(r.Metadata)
			if err != nil {
				return nil, fmt.Errorf("embedded: query %q: chunk %q: %w", name, r.ID, err)
			}
			if filter != nil && !filter.Match(attrs) {
				continue
			}
			m, err := match(r, attrs, q64)
			if err != nil {
				return nil, fmt.Errorf("embedded: query %q: chunk %q: %w", name, r.ID, err)
			}
			if out = append(out, m); len(out) == topK {
				break
			}
		}
		// Done when topK passed, or when chromem returned everything it
		// could: every chunk, or fewer than asked (those passing where).
		if len(out) == topK || ask == total || len(res) < ask {
			// chromem ranked by a float32 dot product; order by the float64
			// score (and key, for ties) that is returned.
			slices.SortStableFunc(out, func(a, b vectors.Match) int {
				return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Key, b.Key))
			})
			return out, nil
		}
		ask = total
	}
}

// prefilter returns the equalities chromem can test for filter (on strings
// and booleans, which encode to one string each; not numbers, whose -0 and
// 0 are equal), taken from its top level: filter itself, or the direct
// children of an "and". Match tests the whole filter on what passes.
func prefilter(f *vectors.Filter) map[string]string {
	if f == nil {
		return nil
	}
	where := map[string]string{}
	add := func(f *vectors.Filter) {
		if f.Type != "eq" {
			return
		}
		switch f.Value.(type) {
		case string, bool:
			enc, _ := encodeValue(f.Value)
			where[metaAttr+f.Key] = enc
		}
	}
	add(f)
	if f.Type == "and" {
		for i := range f.Filters {
			add(&f.Filters[i])
		}
	}
	if len(where) == 0 {
		return nil
	}
	return where
}

// attributes decodes a document's attributes.
func attributes(meta map[string]string) (map[string]any, error) {
	var attrs map[string]any
	for k, v := range meta {
		name, ok := strings.CutPrefix(k, metaAttr)
		if !ok {
			continue
		}
		a, err := decodeValue(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", name, err)
		}
		if attrs == nil {
			attrs = map[string]any{}
		}
		attrs[name] = a
	}
	return attrs, nil
}

// match returns a chromem result as a Match, scored against the normalized
// query q.
func match(r chromem.Result, attrs map[string]any, q []float64) (vectors.Match, error) {
	n, err := strconv.Atoi(r.Metadata[metaN])
	if err != nil {
		return vectors.Match{}, fmt.Errorf("chunk number: %w", err)
	}
	var dot float64
	for i, x := range r.Embedding {
		dot += q[i] * float64(x)
	}
	return vectors.Match{
		Chunk: vectors.Chunk{Key: r.Metadata[metaKey], FileID: r.Metadata[metaFileID], Filename: r.Metadata[metaFilename],
			N: n, Text: r.Content, Attributes: attrs},
		Score: max(-1, min(1, dot)),
	}, nil
}
