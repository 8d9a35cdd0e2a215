package kb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/config"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/extract"
	"github.com/tollgate/tollgate/tests/gatewaytest"
)

// The knowledge base's benchmarks (issue 17), in make bench: ingestion end
// to end (upload, attach, extract, chunk, embed with the echo model, write to
// the embedded vector database on disk, every file completed, as a client
// polling the store sees it) and the latency a file_search tool adds to a chat
// request. Both run over real HTTP against the local handler set on dynalite,
// with the embedded vector database under a temporary LOCAL_DATA_DIR.

// benchPoll is how often a benchmark polls a vector store while it ingests:
// short, so the poll adds little to the measured time (the SDKs' createAndPoll
// waits longer).
const benchPoll = 5 * time.Millisecond

// benchGateway is gatewaytest.Start for a benchmark: the same handler set
// (app.Local) on a fresh table, over real HTTP, with two ingestion workers
// (as functions/local runs), the real clock, and its logs and metric lines
// formatted as in production and discarded.
type benchGateway struct {
	testing.TB
	URL string
	App *app.App
}

func startBench(b *testing.B) *benchGateway {
	b.Helper()
	srv := dynamotest.Require(b, ddb)
	vars := map[string]string{
		"TABLE_NAME":     srv.NewTable(b),
		"ADMIN_API_KEY":  gatewaytest.AdminKey,
		"LOCAL_DATA_DIR": b.TempDir(),
		"MODELS":         kbModels,
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		b.Fatal(err)
	}
	a := app.NewWithAWS(cfg, app.NewLogger(io.Discard, slog.LevelInfo), aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	if a.Metrics != nil {
		a.Metrics.Out = io.Discard
	}
	hs := httptest.NewServer(a.Local())
	ctx, stop := context.WithCancel(context.Background())
	if err := a.RunIngestion(ctx, 2); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		hs.Close()
		stop()
		a.WaitIngestion()
	})
	return &benchGateway{TB: b, URL: hs.URL, App: a}
}

// send sends a request and reads its whole answer.
func (g *benchGateway) send(req *http.Request, bearer string) (int, []byte) {
	g.Helper()
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		g.Fatal(err)
	}
	return res.StatusCode, body
}

// do sends a JSON request (body nil or a value to marshal).
func (g *benchGateway) do(method, path, bearer string, body any) (int, []byte) {
	g.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			g.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, g.URL+path, rd)
	if err != nil {
		g.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return g.send(req, bearer)
}

// must sends a JSON request that must answer 200 or 201, and decodes it.
func (g *benchGateway) must(method, path, bearer string, body any) map[string]any {
	g.Helper()
	status, b := g.do(method, path, bearer, body)
	if status != 200 && status != 201 {
		g.Fatalf("%s %s: %d %s", method, path, status, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		g.Fatalf("%s %s: %v\n%s", method, path, err, b)
	}
	return m
}

// newTenant creates tenant id (no budgets, no rate limits) and returns a key.
func (g *benchGateway) newTenant(id string) string {
	g.Helper()
	g.must("PUT", "/admin/tenants/"+id, gatewaytest.AdminKey, map[string]any{})
	return g.must("POST", "/admin/tenants/"+id+"/keys", gatewaytest.AdminKey, nil)["key"].(string)
}

// upload uploads a file for assistants and returns its id.
func (g *benchGateway) upload(key string, f benchFile) string {
	g.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("purpose", "assistants")
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, f.name))
	w, err := mw.CreatePart(h)
	if err != nil {
		g.Fatal(err)
	}
	_, _ = w.Write(f.data)
	_ = mw.Close()
	req, err := http.NewRequest("POST", g.URL+"/v1/files", &body)
	if err != nil {
		g.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	status, b := g.send(req, key)
	var m map[string]any
	if status != 200 || json.Unmarshal(b, &m) != nil {
		g.Fatalf("upload %s: %d %s", f.name, status, b)
	}
	return m["id"].(string)
}

// ingest uploads files, creates a store of them with chunking (nil: the
// default), polls the store every benchPoll until no file is in progress, and
// fails unless every file completed. It returns the store's id.
func (g *benchGateway) ingest(key string, files []benchFile, chunking any) (string, []string) {
	g.Helper()
	ids := make([]string, len(files))
	for i, f := range files {
		ids[i] = g.upload(key, f)
	}
	req := map[string]any{"name": "bench", "file_ids": ids}
	if chunking != nil {
		req["chunking_strategy"] = chunking
	}
	store := g.must("POST", "/v1/vector_stores", key, req)["id"].(string)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		v := g.must("GET", "/v1/vector_stores/"+store, key, nil)
		if v["status"] != "in_progress" {
			c := v["file_counts"].(map[string]any)
			if c["completed"] != float64(len(files)) {
				_, failed := g.do("GET", "/v1/vector_stores/"+store+"/files?filter=failed", key, nil)
				g.Fatalf("ingestion: %v; failed files: %s", c, failed)
			}
			return store, ids
		}
		if time.Now().After(deadline) {
			g.Fatalf("vector store %s still in progress after 5 minutes: %v", store, v)
		}
		time.Sleep(benchPoll)
	}
}

// chunks counts the chunks the service indexed for store's files (each store
// file records how many it wrote).
func (g *benchGateway) chunks(tenantID, store string) int {
	g.Helper()
	svc, err := g.App.Knowledge()
	if err != nil {
		g.Fatal(err)
	}
	files, err := svc.Store.ListStoreFiles(context.Background(), dynamotest.Scope(g, g.App.Store, tenantID), store)
	if err != nil {
		g.Fatal(err)
	}
	n := 0
	for _, f := range files {
		n += f.Chunks
	}
	return n
}

type benchFile struct {
	name string
	data []byte
}

// corpusFiles reads the shipped corpus (tests/kb/testdata/corpus).
func corpusFiles(b *testing.B) []benchFile {
	b.Helper()
	dir := filepath.Join("testdata", "corpus")
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var out []benchFile
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, benchFile{e.Name(), data})
	}
	return out
}

// corpusText is the text of every corpus file, extracted and joined, repeated
// times times: one large plain text file.
func corpusText(b *testing.B, times int) benchFile {
	b.Helper()
	var sb strings.Builder
	for _, f := range corpusFiles(b) {
		text, err := extract.Text(f.name, "", f.data)
		if err != nil {
			b.Fatal(err)
		}
		sb.WriteString(text)
		sb.WriteString("\n\n")
	}
	return benchFile{"corpus.txt", []byte(strings.Repeat(sb.String(), times))}
}

// BenchmarkIngest measures ingestion end to end, as a client sees it: per
// iteration it uploads the files, creates a vector store of them and polls the
// store until every file is completed (then, untimed, deletes them). chunks/s
// and files/s are over the timed work; one untimed ingestion comes first.
//
//   - corpus: the 16 shipped files (Markdown, text, HTML, JSON, PDF) with a
//     static chunking of 100 tokens, 50 shared (about 200 chunks);
//   - large: one text file of the corpus's text eight times (395 kB)
//     with the default chunking, 800 tokens, 400 shared (about 220 chunks).
func BenchmarkIngest(b *testing.B) {
	dynamotest.Require(b, ddb)
	static := map[string]any{"type": "static", "static": map[string]any{"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50}}
	for _, bb := range []struct {
		name     string
		files    []benchFile
		chunking any
	}{
		{"corpus", corpusFiles(b), static},
		{"large", []benchFile{corpusText(b, 8)}, nil},
	} {
		b.Run(bb.name, func(b *testing.B) {
			g := startBench(b)
			key := g.newTenant("bench")
			drop := func(store string, files []string) {
				g.must("DELETE", "/v1/vector_stores/"+store, key, nil)
				for _, f := range files {
					g.must("DELETE", "/v1/files/"+f, key, nil)
				}
			}
			// One ingestion before timing: the tokenizer's tables, the
			// embedded database's directory, connections and caches are
			// made once per process or gateway, not per ingestion.
			drop(g.ingest(key, bb.files, bb.chunking))
			size := 0
			for _, f := range bb.files {
				size += len(f.data)
			}
			b.SetBytes(int64(size)) // MB/s: of the files as uploaded
			chunks := 0
			b.ResetTimer()
			for range b.N {
				store, files := g.ingest(key, bb.files, bb.chunking)
				b.StopTimer()
				chunks += g.chunks("bench", store)
				drop(store, files)
				b.StartTimer()
			}
			s := b.Elapsed().Seconds()
			b.ReportMetric(float64(chunks)/s, "chunks/s")
			b.ReportMetric(float64(b.N*len(bb.files))/s, "files/s")
			b.ReportMetric(float64(chunks)/float64(b.N), "chunks/op")
		})
	}
}

// BenchmarkFileSearchChat measures what a file_search tool adds to a chat
// request: one store holds the shipped corpus (default chunking, ingested
// before timing), and the same questions (testdata/questions.json, in turn)
// are asked of echo/echo-1 without tools (plain) and with
// {"type":"file_search","vector_store_ids":[store]}, sequentially over real
// HTTP, whole and streamed. The added latency is the difference of ns/op;
// store-chunks is how many chunks the store holds. A file_search answer must
// cite a file (annotations), or the benchmark fails.
func BenchmarkFileSearchChat(b *testing.B) {
	g := startBench(b)
	key := g.newTenant("bench")
	store, _ := g.ingest(key, corpusFiles(b), nil)
	storeChunks := g.chunks("bench", store)
	var questions []string
	data, err := os.ReadFile(filepath.Join("testdata", "questions.json"))
	if err != nil {
		b.Fatal(err)
	}
	var qs []question
	if err := json.Unmarshal(data, &qs); err != nil {
		b.Fatal(err)
	}
	for _, q := range qs {
		questions = append(questions, q.Question)
	}
	tools := []map[string]any{{"type": "file_search", "vector_store_ids": []string{store}}}
	for _, bb := range []struct {
		name   string
		search bool
		stream bool
	}{
		{"plain", false, false},
		{"file_search", true, false},
		{"plain_stream", false, true},
		{"file_search_stream", true, true},
	} {
		b.Run(bb.name, func(b *testing.B) {
			g := &benchGateway{TB: b, URL: g.URL, App: g.App} // fail this sub-benchmark
			bodies := make([][]byte, len(questions))
			for i, q := range questions {
				req := map[string]any{"model": "echo/echo-1", "messages": []map[string]any{{"role": "user", "content": q}}}
				if bb.search {
					req["tools"] = tools
				}
				if bb.stream {
					req["stream"] = true
				}
				bodies[i], _ = json.Marshal(req)
			}
			i := 0
			for b.Loop() {
				req, err := http.NewRequest("POST", g.URL+"/v1/chat/completions", bytes.NewReader(bodies[i%len(bodies)]))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				status, body := g.send(req, key)
				if status != 200 {
					b.Fatalf("chat: %d %s", status, body)
				}
				if err := checkChat(body, bb.search, bb.stream); err != nil {
					b.Fatalf("chat: %v\n%s", err, body)
				}
				i++
			}
			if bb.search {
				b.ReportMetric(float64(storeChunks), "store-chunks")
			}
		})
	}
}

// checkChat checks a chat answer: some text, a file citation when it searched
// (none when it did not), and a stream's end.
func checkChat(body []byte, search, stream bool) error {
	cited := bytes.Contains(body, []byte(`"file_citation"`))
	if stream {
		if !bytes.Contains(body, []byte(`"content"`)) || !bytes.HasSuffix(bytes.TrimSpace(body), []byte("data: [DONE]")) {
			return fmt.Errorf("incomplete stream")
		}
	} else {
		var r struct {
			Choices []struct {
				Message struct {
					Content     string            `json:"content"`
					Annotations []json.RawMessage `json:"annotations"`
				} `json:"message"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(body, &r); err != nil || len(r.Choices) == 0 || r.Choices[0].Message.Content == "" {
			return fmt.Errorf("no answer (%v)", err)
		}
		cited = len(r.Choices[0].Message.Annotations) > 0
	}
	if cited != search {
		return fmt.Errorf("file citation = %v, want %v", cited, search)
	}
	return nil
}
