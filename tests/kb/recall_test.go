package kb_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// question is one entry of testdata/questions.json: a question, the corpus
// file that answers it, and a phrase of the passage that does.
type question struct {
	Question       string `json:"question"`
	File           string `json:"file"`
	AnswerContains string `json:"answer_contains"`
}

func loadQuestions(t *testing.T) []question {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "questions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var qs []question
	if err := json.Unmarshal(b, &qs); err != nil {
		t.Fatal(err)
	}
	return qs
}

// Recall floors: what TestRecall must keep measuring on the shipped corpus
// with the echo embedding model (words hashed into 256 dimensions, no
// semantics); docs/benchmarks.md has the numbers of the last run.
const (
	minRecallAt5    = 0.90
	minPassageAt1   = 0.75
	recallMaxResult = 5
)

// TestRecall uploads the shipped corpus (Markdown, text, HTML, JSON and PDF),
// ingests it into one store and asks every question: the right file must be
// among the first five results for at least minRecallAt5 of them, and the
// first result must hold the answering passage for at least minPassageAt1.
// A chat request with file_search then answers one question citing the right
// file.
func TestRecall(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.NewTenant("acme", map[string]any{})
	dir := filepath.Join("testdata", "corpus")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{} // file name → id
	var fileIDs []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		r := upload(g, key, e.Name(), "", b, "assistants")
		if r.Status != 200 {
			t.Fatalf("upload %s: %d %s", e.Name(), r.Status, r.Body)
		}
		ids[e.Name()] = r.JSON(t)["id"].(string)
		fileIDs = append(fileIDs, ids[e.Name()])
	}
	r := g.Do("POST", "/v1/vector_stores", key, map[string]any{"name": "corpus", "file_ids": fileIDs})
	if r.Status != 200 {
		t.Fatalf("create store: %d %s", r.Status, r.Body)
	}
	store := r.JSON(t)["id"].(string)
	v := waitStore(g, key, store)
	if c := counts(v); c["completed"] != float64(len(fileIDs)) {
		files := g.Do("GET", "/v1/vector_stores/"+store+"/files?filter=failed", key, nil)
		t.Fatalf("ingestion: %v; failed files: %s", c, files.Body)
	}

	qs := loadQuestions(t)
	var inTop5, passageFirst int
	for _, q := range qs {
		want, ok := ids[q.File]
		if !ok {
			t.Fatalf("question %q names %s, which the corpus lacks", q.Question, q.File)
		}
		r := search(g, key, store, map[string]any{"query": q.Question, "max_num_results": recallMaxResult})
		if r.Status != 200 {
			t.Fatalf("search: %d %s", r.Status, r.Body)
		}
		data := r.JSON(t)["data"].([]any)
		for _, d := range data {
			if d.(map[string]any)["file_id"] == want {
				inTop5++
				break
			}
		}
		if len(data) > 0 {
			hit := data[0].(map[string]any)
			text := hit["content"].([]any)[0].(map[string]any)["text"].(string)
			if hit["file_id"] == want && strings.Contains(normalize(text), normalize(q.AnswerContains)) {
				passageFirst++
			} else {
				t.Logf("miss at 1: %q → %s", q.Question, hit["filename"])
			}
		}
	}
	recall, first := float64(inTop5)/float64(len(qs)), float64(passageFirst)/float64(len(qs))
	t.Logf("corpus: %d files, %d questions; recall@%d = %.3f; answering passage first = %.3f", len(fileIDs), len(qs), recallMaxResult, recall, first)
	if recall < minRecallAt5 || first < minPassageAt1 {
		t.Errorf("recall@5 = %.3f (floor %.2f), passage at 1 = %.3f (floor %.2f)", recall, minRecallAt5, first, minPassageAt1)
	}

	// Retrieval-augmented chat: the answer cites the file that answers.
	q := qs[0]
	r = g.Do("POST", "/v1/chat/completions", key, map[string]any{
		"model": "echo/echo-1", "messages": []map[string]any{{"role": "user", "content": q.Question}},
		"tools": []map[string]any{{"type": "file_search", "vector_store_ids": []string{store}}},
	})
	if r.Status != 200 {
		t.Fatalf("chat with file_search: %d %s", r.Status, r.Body)
	}
	msg := r.JSON(t)["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
	ann, _ := msg["annotations"].([]any)
	top := resultFiles(t, search(g, key, store, map[string]any{"query": q.Question, "max_num_results": 1}))
	if len(ann) == 0 || ann[0].(map[string]any)["file_citation"].(map[string]any)["file_id"] != top[0] {
		t.Fatalf("chat message %v: want a file_citation of %s", msg, top[0])
	}
}

// normalize folds whitespace, as extraction may reflow a PDF's lines.
func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }
