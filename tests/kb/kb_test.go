// Package kb_test drives the knowledge base (Files and Vector Stores APIs,
// ingestion, search) over real HTTP against dynalite, the embedded vector
// database and the echo embedding model.
package kb_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/vectors"
	"github.com/tollgate/tollgate/tests/gatewaytest"
)

var ddb *dynamotest.Server

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m, &ddb)) }

var wantError = gatewaytest.WantError

// kbModels is the catalog of the knowledge tests: echo chats and embeds.
const kbModels = "echo/echo-1,echo/echo-embed-1"

func newGateway(t *testing.T, env map[string]string) *gatewaytest.Gateway {
	vars := map[string]string{"MODELS": kbModels}
	for k, v := range env {
		vars[k] = v
	}
	return gatewaytest.Start(t, ddb, vars, nil)
}

// upload posts a multipart upload of name with content, as the OpenAI SDKs do.
func upload(g *gatewaytest.Gateway, key, name, contentType string, content []byte, purpose string) gatewaytest.Response {
	g.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if purpose != "" {
		_ = mw.WriteField("purpose", purpose)
	}
	if name != "" {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			g.Fatal(err)
		}
		_, _ = w.Write(content)
	}
	_ = mw.Close()
	req, err := http.NewRequest("POST", g.URL+"/v1/files", &body)
	if err != nil {
		g.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return gatewaytest.Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

func mustUpload(g *gatewaytest.Gateway, key, name, content string) string {
	g.Helper()
	r := upload(g, key, name, "", []byte(content), "assistants")
	if r.Status != 200 {
		g.Fatalf("upload %s: %d %s", name, r.Status, r.Body)
	}
	return r.JSON(g.T)["id"].(string)
}

// waitStore polls a vector store until no file is in progress and returns it.
// Ingestion runs in the gateway's own workers; polling is how every client
// waits for it (the SDKs' createAndPoll), and the deadline is generous.
func waitStore(g *gatewaytest.Gateway, key, id string) map[string]any {
	g.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := g.Do("GET", "/v1/vector_stores/"+id, key, nil)
		if r.Status != 200 {
			g.Fatalf("GET vector store: %d %s", r.Status, r.Body)
		}
		v := r.JSON(g.T)
		if v["status"] != "in_progress" {
			return v
		}
		if time.Now().After(deadline) {
			g.Fatalf("vector store %s still in progress: %s", id, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// travelStore uploads travel.md and makes a vector store of it, ingested.
func travelStore(g *gatewaytest.Gateway, key string) (file, store string) {
	g.Helper()
	file = mustUpload(g, key, "travel.md", travelDoc)
	r := g.Do("POST", "/v1/vector_stores", key, map[string]any{"file_ids": []string{file}})
	if r.Status != 200 {
		g.Fatalf("create store: %d %s", r.Status, r.Body)
	}
	store = r.JSON(g.T)["id"].(string)
	waitStore(g, key, store)
	return file, store
}

func counts(v map[string]any) map[string]any { return v["file_counts"].(map[string]any) }

func search(g *gatewaytest.Gateway, key, store string, body any) gatewaytest.Response {
	g.Helper()
	return g.Do("POST", "/v1/vector_stores/"+store+"/search", key, body)
}

func resultFiles(t *testing.T, r gatewaytest.Response) []string {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("search: %d %s", r.Status, r.Body)
	}
	var ids []string
	for _, d := range r.JSON(t)["data"].([]any) {
		ids = append(ids, d.(map[string]any)["file_id"].(string))
	}
	return ids
}

const (
	travelDoc   = "Travel policy. Employees book economy class for flights shorter than six hours. Hotel rooms are reimbursed up to two hundred euros a night. Taxi receipts must be kept."
	warrantyDoc = "Warranty terms. The kettle is covered for twenty four months against manufacturing defects. Limescale damage is not covered. Return the kettle with its receipt."
	recipeDoc   = "Recipe for lentil soup. Soften onions and carrots in olive oil, add red lentils, cumin and stock, simmer for twenty minutes, then blend until smooth."
)

func TestUploadIngestSearch(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.NewTenant("acme", map[string]any{})

	travel := mustUpload(g, key, "travel.md", travelDoc)
	warranty := mustUpload(g, key, "warranty.txt", warrantyDoc)
	recipe := mustUpload(g, key, "soup.html", "<html><head><style>p{}</style></head><body><p>"+recipeDoc+"</p><script>x()</script></body></html>")

	// The file object and its content, as uploaded.
	r := g.Do("GET", "/v1/files/"+travel, key, nil)
	f := r.JSON(t)
	if f["object"] != "file" || f["filename"] != "travel.md" || f["purpose"] != "assistants" || f["bytes"] != float64(len(travelDoc)) {
		t.Fatalf("file = %s", r.Body)
	}
	if r := g.Do("GET", "/v1/files/"+travel+"/content", key, nil); string(r.Body) != travelDoc {
		t.Fatalf("content = %q", r.Body)
	}
	if r := g.Do("GET", "/v1/files?purpose=assistants&order=asc", key, nil); len(r.JSON(t)["data"].([]any)) != 3 {
		t.Fatalf("list = %s", r.Body)
	}

	r = g.Do("POST", "/v1/vector_stores", key, map[string]any{"name": "policies", "file_ids": []string{travel, warranty, recipe},
		"metadata": map[string]string{"team": "hr"}})
	if r.Status != 200 {
		t.Fatalf("create store: %d %s", r.Status, r.Body)
	}
	store := r.JSON(t)["id"].(string)
	v := waitStore(g, key, store)
	if c := counts(v); c["completed"] != float64(3) || c["total"] != float64(3) || v["status"] != "completed" || v["usage_bytes"].(float64) <= 0 {
		t.Fatalf("store after ingestion = %v", v)
	}

	for _, tc := range []struct{ q, want string }{
		{"how much is a hotel room reimbursed per night", travel},
		{"is limescale damage on my kettle covered", warranty},
		{"how long do I simmer the lentils", recipe},
	} {
		ids := resultFiles(t, search(g, key, store, map[string]any{"query": tc.q, "max_num_results": 2}))
		if len(ids) == 0 || ids[0] != tc.want {
			t.Errorf("search %q: files %v, want %s first", tc.q, ids, tc.want)
		}
	}
	r = search(g, key, store, map[string]any{"query": "hotel night", "max_num_results": 1})
	d := r.JSON(t)
	if d["object"] != "vector_store.search_results.page" || d["search_query"].([]any)[0] != "hotel night" || d["has_more"] != false {
		t.Fatalf("search page = %s", r.Body)
	}
	hit := d["data"].([]any)[0].(map[string]any)
	text := hit["content"].([]any)[0].(map[string]any)
	if hit["filename"] != "travel.md" || text["type"] != "text" || text["text"] != travelDoc || hit["score"].(float64) <= 0 {
		t.Fatalf("hit = %v", hit)
	}

	// The HTML file was indexed as text: no markup, no script.
	ids := resultFiles(t, search(g, key, store, map[string]any{"query": "style script html head body",
		"ranking_options": map[string]any{"score_threshold": 0.05}}))
	for _, id := range ids {
		if id == recipe {
			t.Errorf("markup words found the HTML file: its text kept markup")
		}
	}

	// Deleting a file removes its chunks from the store.
	if r := g.Do("DELETE", "/v1/files/"+travel, key, nil); r.Status != 200 || r.JSON(t)["deleted"] != true {
		t.Fatalf("delete file: %d %s", r.Status, r.Body)
	}
	for _, id := range resultFiles(t, search(g, key, store, map[string]any{"query": "hotel room reimbursed per night", "max_num_results": 10})) {
		if id == travel {
			t.Fatal("a deleted file's chunk is still found")
		}
	}
	if c := counts(waitStore(g, key, store)); c["total"] != float64(2) {
		t.Fatalf("counts after delete = %v", c)
	}
	if r := g.Do("GET", "/v1/vector_stores/"+store+"/files/"+travel, key, nil); r.Status != 404 {
		t.Fatalf("deleted file still attached: %d %s", r.Status, r.Body)
	}
}

// TestIsolationAndBadInput probes every route across tenants (404, revealing
// nothing) and refuses bad input with OpenAI-shaped errors naming the
// parameter, storing nothing.
func TestIsolationAndBadInput(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string]string{"FILE_MAX_BYTES": "1000"})
	a := g.NewTenant("alpha", map[string]any{})
	b := g.NewTenant("beta", map[string]any{"knowledge": map[string]any{"storageBytes": 300}})
	file := mustUpload(g, a, "travel.md", travelDoc)
	r := g.Do("POST", "/v1/vector_stores", a, map[string]any{"file_ids": []string{file}})
	if r.Status != 200 {
		t.Fatalf("create store: %d %s", r.Status, r.Body)
	}
	store := r.JSON(t)["id"].(string)
	waitStore(g, a, store)
	r = g.Do("POST", "/v1/vector_stores/"+store+"/file_batches", a, map[string]any{"file_ids": []string{file}})
	if r.Status != 200 {
		t.Fatalf("batch: %d %s", r.Status, r.Body)
	}
	batch := r.JSON(t)["id"].(string)
	bStore := g.Do("POST", "/v1/vector_stores", b, map[string]any{"name": "beta"}).JSON(t)["id"].(string)

	// Beta sees none of alpha's objects, on any route.
	for _, p := range []struct{ method, path string }{
		{"GET", "/v1/files/" + file}, {"GET", "/v1/files/" + file + "/content"}, {"DELETE", "/v1/files/" + file},
		{"GET", "/v1/vector_stores/" + store}, {"POST", "/v1/vector_stores/" + store}, {"DELETE", "/v1/vector_stores/" + store},
		{"GET", "/v1/vector_stores/" + store + "/files"}, {"GET", "/v1/vector_stores/" + store + "/files/" + file},
		{"DELETE", "/v1/vector_stores/" + store + "/files/" + file}, {"GET", "/v1/vector_stores/" + store + "/file_batches/" + batch},
		{"GET", "/v1/vector_stores/" + store + "/file_batches/" + batch + "/files"},
	} {
		var body any
		if p.method == "POST" {
			body = map[string]any{"name": "stolen"}
		}
		wantError(t, g.Do(p.method, p.path, b, body), 404, "not_found", "")
	}
	wantError(t, search(g, b, store, map[string]any{"query": "hotel"}), 404, "not_found", "")
	wantError(t, g.Do("POST", "/v1/vector_stores/"+bStore+"/files", b, map[string]any{"file_id": file}), 404, "not_found", "")
	wantError(t, g.Do("POST", "/v1/vector_stores", b, map[string]any{"file_ids": []string{file}}), 404, "not_found", "")
	wantError(t, g.Do("POST", "/v1/chat/completions", b, map[string]any{"model": "echo/echo-1",
		"messages": []map[string]any{{"role": "user", "content": "hotel"}},
		"tools":    []map[string]any{{"type": "file_search", "vector_store_ids": []string{store}}}}), 404, "not_found", "tools[0].vector_store_ids[0]")
	if r := g.Do("GET", "/v1/files", b, nil); len(r.JSON(t)["data"].([]any)) != 0 {
		t.Fatalf("beta lists alpha's files: %s", r.Body)
	}
	if r := g.Do("GET", "/v1/vector_stores", b, nil); len(r.JSON(t)["data"].([]any)) != 1 {
		t.Fatalf("beta's stores: %s", r.Body)
	}
	// Alpha's objects are all still there.
	if r := g.Do("GET", "/v1/vector_stores/"+store, a, nil); r.Status != 200 || r.JSON(t)["name"] == "stolen" {
		t.Fatalf("alpha's store: %d %s", r.Status, r.Body)
	}

	// Uploads: unsupported type, empty, too large, no purpose, bad purpose,
	// no file; over beta's 300-byte quota. None stores anything.
	wantError(t, upload(g, a, "tool.exe", "application/octet-stream", []byte("MZ\x90\x00binary"), "assistants"), 400, "unsupported_file", "file")
	wantError(t, upload(g, a, "empty.txt", "", nil, "assistants"), 400, "empty_file", "file")
	wantError(t, upload(g, a, "big.txt", "", bytes.Repeat([]byte("a"), 1001), "assistants"), 413, "file_too_large", "file")
	wantError(t, upload(g, a, "x.txt", "", []byte("x"), ""), 400, "missing_required_parameter", "purpose")
	wantError(t, upload(g, a, "x.txt", "", []byte("x"), "fine-tune"), 400, "invalid_value", "purpose")
	wantError(t, upload(g, a, "", "", nil, "assistants"), 400, "missing_required_parameter", "file")
	mustUpload(g, b, "one.txt", string(bytes.Repeat([]byte("b"), 200)))
	wantError(t, upload(g, b, "two.txt", "", bytes.Repeat([]byte("c"), 200), "assistants"), 400, "storage_quota_exceeded", "file")
	mustUpload(g, b, "three.txt", string(bytes.Repeat([]byte("d"), 100))) // the refused upload took none of the quota
	if r := g.Do("GET", "/v1/files", a, nil); len(r.JSON(t)["data"].([]any)) != 1 {
		t.Fatalf("refused uploads were stored: %s", r.Body)
	}

	// Vector stores and search.
	for _, tc := range []struct {
		body        any
		code, param string
	}{
		{map[string]any{"query": "x", "filters": map[string]any{"type": "like", "key": "k", "value": "v"}}, "invalid_value", "filters"},
		{map[string]any{"query": "x", "filters": map[string]any{"type": "gt", "key": "k", "value": "v"}}, "invalid_value", "filters"},
		{map[string]any{"query": "x", "max_num_results": 0}, "invalid_value", "max_num_results"},
		{map[string]any{"query": "x", "max_num_results": 51}, "invalid_value", "max_num_results"},
		{map[string]any{"query": "x", "rewrite_query": true}, "unsupported_parameter", "rewrite_query"},
		{map[string]any{"query": "x", "ranking_options": map[string]any{"score_threshold": 2}}, "invalid_value", "ranking_options.score_threshold"},
		{map[string]any{}, "missing_required_parameter", "query"},
		{map[string]any{"query": 3}, "invalid_type", "query"},
		{map[string]any{"query": "x", "colour": "red"}, "unknown_parameter", "colour"},
	} {
		wantError(t, search(g, a, store, tc.body), 400, tc.code, tc.param)
	}
	wantError(t, search(g, a, "vs_nope", map[string]any{"query": "x"}), 404, "not_found", "")
	for _, tc := range []struct {
		body        any
		code, param string
	}{
		{map[string]any{"chunking_strategy": map[string]any{"type": "static", "static": map[string]any{"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0}}, "file_id": file}, "invalid_value", "chunking_strategy.static"},
		{map[string]any{"chunking_strategy": map[string]any{"type": "static", "static": map[string]any{"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 150}}, "file_id": file}, "invalid_value", "chunking_strategy.static"},
		{map[string]any{"chunking_strategy": map[string]any{"type": "semantic"}, "file_id": file}, "invalid_value", "chunking_strategy.type"},
		{map[string]any{"attributes": map[string]any{"k": []int{1}}, "file_id": file}, "invalid_type", "attributes.k"},
		{map[string]any{}, "missing_required_parameter", "file_id"},
	} {
		wantError(t, g.Do("POST", "/v1/vector_stores/"+store+"/files", a, tc.body), 400, tc.code, tc.param)
	}
	wantError(t, g.Do("POST", "/v1/vector_stores", a, map[string]any{"expires_after": map[string]any{"anchor": "created_at", "days": 1}}), 400, "invalid_value", "expires_after.anchor")
	wantError(t, g.Do("POST", "/v1/vector_stores", a, map[string]any{"metadata": map[string]any{"k": string(bytes.Repeat([]byte("v"), 513))}}), 400, "invalid_value", "metadata")
	wantError(t, g.Do("POST", "/v1/vector_stores", a, map[string]any{"file_ids": []string{"file-nope"}}), 404, "not_found", "file_ids[0]")
	if r := g.Do("GET", "/v1/vector_stores", a, nil); len(r.JSON(t)["data"].([]any)) != 1 {
		t.Fatalf("refused creations made stores: %s", r.Body)
	}
}

// TestIngestionOverBudget: a tenant whose budget cannot take a file's
// embedding gets the file failed with budget_exceeded, and no chunk of it.
func TestIngestionOverBudget(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.NewTenant("poor", map[string]any{"tokenBudget": map[string]any{"daily": 5}})
	file := mustUpload(g, key, "travel.md", travelDoc)
	r := g.Do("POST", "/v1/vector_stores", key, map[string]any{"file_ids": []string{file}})
	if r.Status != 200 {
		t.Fatalf("create store: %d %s", r.Status, r.Body)
	}
	store := r.JSON(t)["id"].(string)
	v := waitStore(g, key, store)
	if c := counts(v); c["failed"] != float64(1) {
		t.Fatalf("counts = %v", c)
	}
	f := g.Do("GET", "/v1/vector_stores/"+store+"/files/"+file, key, nil).JSON(t)
	le, _ := f["last_error"].(map[string]any)
	if f["status"] != "failed" || le["code"] != "budget_exceeded" || f["usage_bytes"] != float64(0) {
		t.Fatalf("store file = %v", f)
	}
}

// TestTenantDefaultStores: a tenant's configured vector stores ground every
// chat request that names none; a default store that is gone is skipped, not
// a failure of the request.
func TestTenantDefaultStores(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.NewTenant("acme", map[string]any{})
	file, store := travelStore(g, key)
	if r := g.Admin("PUT", "/admin/tenants/acme", map[string]any{"knowledge": map[string]any{"vectorStoreIds": []string{store}, "maxResults": 1}}); r.Status != 200 {
		t.Fatalf("set default stores: %d %s", r.Status, r.Body)
	}
	g.Clock.Add(time.Minute) // past TENANT_CACHE_TTL
	ask := func() map[string]any {
		r := g.Do("POST", "/chat", key, map[string]any{"messages": []map[string]any{{"role": "user", "content": "hotel rooms per night"}}})
		if r.Status != 200 {
			t.Fatalf("chat: %d %s", r.Status, r.Body)
		}
		return r.JSON(t)
	}
	if c, _ := ask()["citations"].([]any); len(c) != 1 || c[0].(map[string]any)["fileId"] != file {
		t.Fatalf("citations with a default store = %v", c)
	}
	if r := g.Do("DELETE", "/v1/vector_stores/"+store, key, nil); r.Status != 200 {
		t.Fatalf("delete store: %d %s", r.Status, r.Body)
	}
	if c := ask()["citations"]; c != nil {
		t.Fatalf("citations from a deleted default store = %v", c)
	}
}

// TestResponsesFileSearch: the Responses API's file_search tool, beyond what
// the Node clients drive: a stored response keeps its file_search_call and
// annotations (GET), previous_response_id continues without the retrieved
// text in the stored conversation, the usage record of the retrieval is
// metered, and bad tools, another tenant's store and a second file_search
// tool are refused naming the parameter.
func TestResponsesFileSearch(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.NewTenant("acme", map[string]any{})
	other := g.NewTenant("globex", map[string]any{})
	file, store := travelStore(g, key)
	tool := map[string]any{"type": "file_search", "vector_store_ids": []string{store},
		"ranking_options": map[string]any{"ranker": "auto", "score_threshold": 0.01}}

	r := g.Do("POST", "/v1/responses", key, map[string]any{"model": "echo/echo-1", "input": "hotel rooms per night", "tools": []any{tool}})
	if r.Status != 200 {
		t.Fatalf("responses: %d %s", r.Status, r.Body)
	}
	var resp struct {
		ID     string `json:"id"`
		Output []struct {
			Type    string   `json:"type"`
			ID      string   `json:"id"`
			Queries []string `json:"queries"`
			Results *[]any   `json:"results"`
			Content []struct {
				Text        string `json:"text"`
				Annotations []struct {
					Type   string `json:"type"`
					FileID string `json:"file_id"`
					Index  int    `json:"index"`
				} `json:"annotations"`
			} `json:"content"`
		} `json:"output"`
		Tools []map[string]any `json:"tools"`
	}
	if err := json.Unmarshal(r.Body, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Output) != 2 || resp.Output[0].Type != "file_search_call" || !strings.HasPrefix(resp.Output[0].ID, "fs_") ||
		resp.Output[0].Results != nil || len(resp.Output[0].Queries) != 1 {
		t.Fatalf("output %s, want a file_search_call (no results without include) then the message", r.Body)
	}
	if ann := resp.Output[1].Content[0].Annotations; len(ann) != 1 || ann[0].FileID != file || ann[0].Type != "file_citation" {
		t.Errorf("annotations %+v, want the file cited", ann)
	}
	if len(resp.Tools) != 1 || resp.Tools[0]["type"] != "file_search" || resp.Tools[0]["ranking_options"].(map[string]any)["score_threshold"] != 0.01 {
		t.Errorf("tools echoed as %v", resp.Tools)
	}
	if got := g.Do("GET", "/v1/responses/"+resp.ID, key, nil); got.Status != 200 || !strings.Contains(string(got.Body), `"type":"file_search_call"`) || !strings.Contains(string(got.Body), `"file_citation"`) {
		t.Errorf("stored response: %d %s", got.Status, got.Body)
	}
	// Continued: the next turn searches again; the stored conversation holds
	// the question and the answer, not the sources message.
	r = g.Do("POST", "/v1/responses", key, map[string]any{"model": "echo/echo-1", "input": "and economy class flights?", "tools": []any{tool},
		"previous_response_id": resp.ID})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"file_search_call"`) {
		t.Fatalf("continued: %d %s", r.Status, r.Body)
	}
	if items := g.Do("GET", "/v1/responses/"+resp.ID+"/input_items", key, nil); strings.Contains(string(items.Body), "Sources") {
		t.Errorf("the stored input holds the retrieved sources: %s", items.Body)
	}
	if recs := g.Do("GET", "/usage/requests", key, nil); !strings.Contains(string(recs.Body), `"chat.file_search"`) {
		t.Errorf("no usage record of the retrieval's embedding: %s", recs.Body)
	}

	for _, c := range []struct {
		name, key   string
		tools       []any
		code, param string
		status      int
	}{
		{"another tenant's store", other, []any{tool}, "not_found", "tools[0].vector_store_ids[0]", 404},
		{"two file_search tools", key, []any{tool, tool}, "invalid_value", "tools[1]", 400},
		{"bad filter", key, []any{map[string]any{"type": "file_search", "vector_store_ids": []string{store}, "filters": map[string]any{"type": "like", "key": "k", "value": 1}}}, "invalid_value", "tools[0].filters", 400},
		{"bad threshold", key, []any{map[string]any{"type": "file_search", "vector_store_ids": []string{store}, "ranking_options": map[string]any{"score_threshold": 2}}}, "invalid_value", "tools[0].ranking_options.score_threshold", 400},
		{"unknown field", key, []any{map[string]any{"type": "file_search", "vector_store_ids": []string{store}, "name": "x"}}, "unknown_parameter", "tools[0].name", 400},
		{"no stores", key, []any{map[string]any{"type": "file_search"}}, "missing_required_parameter", "tools[0].vector_store_ids", 400},
	} {
		r := g.Do("POST", "/v1/responses", c.key, map[string]any{"model": "echo/echo-1", "input": "hotel", "tools": c.tools})
		t.Run(c.name, func(t *testing.T) { wantError(t, r, c.status, c.code, c.param) })
	}
}

// TestTenantDeletionPurgesKnowledge: deleting a tenant deletes its files'
// bytes and its vector stores' indexes too (the purge the local server runs
// every minute, and the ingestion function hourly on AWS), and a tenant
// created again under the same id starts without them.
func TestTenantDeletionPurgesKnowledge(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.NewTenant("acme", map[string]any{})
	file, store := travelStore(g, key)
	dir := g.App.Config.LocalDataDir
	countFiles := func() int {
		n := 0
		_ = filepath.WalkDir(filepath.Join(dir, "files"), func(_ string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	if countFiles() != 1 {
		t.Fatalf("%d stored files before the deletion, want 1", countFiles())
	}
	svc, err := g.App.Knowledge()
	if err != nil {
		t.Fatal(err)
	}
	probe := make([]float32, 256)
	probe[0] = 1
	if _, err := svc.Vectors.Query(t.Context(), store, probe, 1, nil); err != nil {
		t.Fatalf("the store's index before the deletion: %v", err)
	}
	if r := g.Admin("DELETE", "/admin/tenants/acme", nil); r.Status != 204 {
		t.Fatalf("delete tenant: %d %s", r.Status, r.Body)
	}
	if n, err := svc.PurgeDeleted(t.Context()); err != nil || n != 1 {
		t.Fatalf("PurgeDeleted = %d, %v; want 1", n, err)
	}
	if n := countFiles(); n != 0 {
		t.Errorf("%d files of the deleted tenant left under %s", n, dir)
	}
	if _, err := svc.Vectors.Query(t.Context(), store, probe, 1, nil); !errors.Is(err, vectors.ErrNoIndex) {
		t.Errorf("the deleted tenant's index: %v, want ErrNoIndex", err)
	}
	if n, err := svc.PurgeDeleted(t.Context()); err != nil || n != 0 {
		t.Errorf("a second purge: %d, %v; want nothing to do", n, err)
	}
	again := g.NewTenant("acme", map[string]any{})
	if r := g.Do("GET", "/v1/files", again, nil); r.Status != 200 || strings.Contains(string(r.Body), file) {
		t.Errorf("the tenant created again lists %s", r.Body)
	}
	if r := g.Do("GET", "/v1/vector_stores/"+store, again, nil); r.Status != 404 {
		t.Errorf("the tenant created again: GET its old store %d, want 404", r.Status)
	}
}
