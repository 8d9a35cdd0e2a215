package kb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/chunk"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
	"github.com/tollgate/tollgate/shared/vectors"
	"github.com/tollgate/tollgate/shared/vectors/embedded"
	"github.com/tollgate/tollgate/tests/gatewaytest"
	"github.com/tollgate/tollgate/tests/lambdatest"
)

// guard bounds every wait on a server; it is no assertion of speed.
const guard = 60 * time.Second

// localServer is one functions/local process.
type localServer struct {
	cmd    *exec.Cmd
	exited chan struct{}
	base   string
	out    *gatewaytest.SyncBuffer
}

// startLocal runs the local server binary on table with dataDir, its
// embeddings from upstream, on a free port (again on another when the port was
// taken before it bound).
func startLocal(t *testing.T, table, dataDir, upstream string) *localServer {
	t.Helper()
	bin := lambdatest.Build(t, "local")
	for attempt := 1; ; attempt++ {
		port, err := dynamotest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		s := &localServer{cmd: exec.Command(bin), exited: make(chan struct{}), base: fmt.Sprintf("http://127.0.0.1:%d", port), out: &gatewaytest.SyncBuffer{}}
		s.cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
			"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
			"AWS_ENDPOINT_URL_DYNAMODB=" + ddb.URL, "TABLE_NAME=" + table, "LOCAL_DATA_DIR=" + dataDir,
			"ADMIN_API_KEY=" + gatewaytest.AdminKey, "MODELS=echo/echo-1,openai/text-embedding-3-small", "OPENAI_BASE_URL=" + upstream,
			"LOG_LEVEL=warn", fmt.Sprintf("PORT=%d", port),
		}
		s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = s.cmd.Wait(); close(s.exited) }()
		t.Cleanup(func() {
			s.kill()
			if t.Failed() {
				t.Logf("server output:\n%s", s.out.String())
			}
		})
		if s.healthy() {
			return s
		}
		if attempt == 5 {
			t.Fatalf("the server exited %d times before it became healthy:\n%s", attempt, s.out.String())
		}
	}
}

func (s *localServer) healthy() bool {
	deadline := time.Now().Add(guard)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return false
		default:
		}
		if res, err := http.Get(s.base + "/health"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// kill ends the process at once, as a crash would: SIGKILL, no clean-up.
func (s *localServer) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

func (s *localServer) do(t *testing.T, method, path, key string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

// holdingEmbeddings is the OpenAI fake with its n-th embeddings request held
// until released: the test knows the ingestion is mid-file, past its first
// embedding batch, without timing anything.
type holdingEmbeddings struct {
	h        http.Handler
	n        int64
	calls    atomic.Int64
	arrived  chan struct{}
	release  chan struct{}
	once     sync.Once
	released sync.Once
}

func (e *holdingEmbeddings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/embeddings") && e.calls.Add(1) == e.n {
		e.once.Do(func() { close(e.arrived) })
		select {
		case <-e.release:
		case <-r.Context().Done():
		}
		return // the process that asked is gone: nothing to answer
	}
	e.h.ServeHTTP(w, r)
}

func (e *holdingEmbeddings) free() { e.released.Do(func() { close(e.release) }) }

// TestIngestionCrashMidFile kills the local server while it ingests a file of
// two embedding batches, after the first batch's vectors are in the index,
// and starts it again: the file ends completed, once, with each chunk in the
// index once; while it was unfinished no search returned its chunks.
func TestIngestionCrashMidFile(t *testing.T) {
	srv := dynamotest.Require(t, ddb)
	up := openaitest.NewHandler()
	t.Cleanup(up.Close)
	hold := &holdingEmbeddings{h: up, n: 2, arrived: make(chan struct{}), release: make(chan struct{})}
	ts := httptest.NewServer(hold)
	t.Cleanup(func() { hold.free(); ts.Close() })
	table, dataDir := srv.NewTable(t), t.TempDir()

	s1 := startLocal(t, table, dataDir, ts.URL+"/v1")
	if code, out := s1.do(t, "PUT", "/admin/tenants/acme", gatewaytest.AdminKey, map[string]any{"name": "Acme"}); code >= 300 {
		t.Fatalf("create tenant: %d %s", code, out)
	}
	_, out := s1.do(t, "POST", "/admin/tenants/acme/keys", gatewaytest.AdminKey, map[string]any{})
	var k struct{ Key string }
	if err := json.Unmarshal(out, &k); err != nil {
		t.Fatal(err)
	}
	// More chunks of the 100-token static strategy than one embedding batch
	// (64) holds.
	var doc strings.Builder
	for i := range 100 {
		fmt.Fprintf(&doc, "Paragraph %d of the manual. %s\n\n", i, strings.Repeat(fmt.Sprintf("word%d ", i), 40))
	}
	strategy := chunk.Strategy{MaxTokens: 100, OverlapTokens: 0}
	want := len(chunk.Split(doc.String(), strategy))
	if want <= 64 {
		t.Fatalf("the document makes %d chunks: one batch", want)
	}
	fileID := uploadTo(t, s1.base, k.Key, "manual.txt", doc.String())
	code, out := s1.do(t, "POST", "/v1/vector_stores", k.Key, map[string]any{"name": "manual"})
	if code != 200 {
		t.Fatalf("create store: %d %s", code, out)
	}
	var store struct{ ID string }
	_ = json.Unmarshal(out, &store)
	code, out = s1.do(t, "POST", "/v1/vector_stores/"+store.ID+"/files", k.Key, map[string]any{"file_id": fileID,
		"chunking_strategy": map[string]any{"type": "static", "static": map[string]any{"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}})
	if code != 200 {
		t.Fatalf("attach: %d %s", code, out)
	}

	select {
	case <-hold.arrived:
	case <-time.After(guard):
		t.Fatalf("the second embedding batch never came:\n%s", s1.out.String())
	}
	// The first batch's vectors are written; the file is still in progress and
	// no search returns its chunks.
	code, out = s1.do(t, "POST", "/v1/vector_stores/"+store.ID+"/search", k.Key, map[string]any{"query": "Paragraph 3 word3"})
	if code != 200 || strings.Contains(string(out), fileID) {
		t.Fatalf("search while ingesting: %d %s", code, out)
	}
	s1.kill()
	hold.free()

	s2 := startLocal(t, table, dataDir, ts.URL+"/v1") // resumes the unfinished job at start
	deadline := time.Now().Add(guard)
	var f struct {
		Status    string
		LastError any `json:"last_error"`
	}
	for {
		code, out = s2.do(t, "GET", "/v1/vector_stores/"+store.ID+"/files/"+fileID, k.Key, nil)
		if code != 200 {
			t.Fatalf("get store file: %d %s", code, out)
		}
		_ = json.Unmarshal(out, &f)
		if f.Status != "in_progress" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the file is still in progress after the restart:\n%s", s2.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if f.Status != "completed" {
		t.Fatalf("file = %s", out)
	}
	code, out = s2.do(t, "GET", "/v1/vector_stores/"+store.ID, k.Key, nil)
	var v struct {
		FileCounts map[string]int `json:"file_counts"`
	}
	_ = json.Unmarshal(out, &v)
	if code != 200 || v.FileCounts["completed"] != 1 || v.FileCounts["total"] != 1 {
		t.Fatalf("store = %d %s", code, out)
	}
	code, out = s2.do(t, "POST", "/v1/vector_stores/"+store.ID+"/search", k.Key, map[string]any{"query": "Paragraph 3 word3", "max_num_results": 1})
	if code != 200 || !strings.Contains(string(out), fileID) {
		t.Fatalf("search after the restart: %d %s", code, out)
	}
	s2.kill()

	// Each chunk is in the index once, whatever the first process had
	// written.
	st, err := embedded.Open(filepath.Join(dataDir, "vectors"))
	if err != nil {
		t.Fatal(err)
	}
	q := make([]float32, openaitest.EmbeddingDimensions)
	q[0] = 1
	ms, err := st.Query(context.Background(), store.ID, q, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range ms {
		if m.FileID != fileID || seen[m.Key] || m.Key != vectors.ChunkKey(fileID, m.N) {
			t.Fatalf("chunk %s (file %s, n %d) is unexpected or repeated", m.Key, m.FileID, m.N)
		}
		seen[m.Key] = true
	}
	if len(seen) != want {
		t.Fatalf("the index holds %d chunks of the file, want %d", len(seen), want)
	}
}

func uploadTo(t *testing.T, base, key, name, content string) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("purpose", "assistants")
	w, _ := mw.CreateFormFile("file", name)
	_, _ = w.Write([]byte(content))
	_ = mw.Close()
	req, _ := http.NewRequest("POST", base+"/v1/files", &body)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var f struct{ ID string }
	if res.StatusCode != 200 || json.Unmarshal(b, &f) != nil {
		t.Fatalf("upload: %d %s", res.StatusCode, b)
	}
	return f.ID
}
