package kb_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/shared/extract"
)

// corpusQuestion is an entry of testdata/questions.json: a question, the corpus
// file that answers it, and a phrase of the answer that occurs verbatim in
// that file's text (and nowhere else in the corpus).
type corpusQuestion struct {
	Question       string `json:"question"`
	File           string `json:"file"`
	AnswerContains string `json:"answer_contains"`
}

// fold makes text comparable across formats: lower case, and every run
// of white space one space (a PDF breaks lines where the page does).
func fold(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// TestCorpus checks the retrieval corpus itself: 12 to 20 documents of 300 to
// 1,500 words each, in every supported format, each readable by
// extract.Text; and 30 to 40 questions, each naming one of them and a phrase
// that occurs exactly once in the whole corpus (case and spacing aside), in
// that document.
func TestCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "corpus")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{} // file name → normalized text
	formats := map[string]int{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		text, err := extract.Text(e.Name(), "", data)
		if err != nil {
			t.Errorf("extract.Text(%q) error = %v", e.Name(), err)
			continue
		}
		if n := len(strings.Fields(text)); n < 300 || n > 1500 {
			t.Errorf("%s has %d words, want 300 to 1500", e.Name(), n)
		}
		texts[e.Name()] = fold(text)
		formats[filepath.Ext(e.Name())]++
	}
	if n := len(texts); n < 12 || n > 20 {
		t.Errorf("the corpus has %d documents, want 12 to 20", n)
	}
	for _, ext := range []string{".md", ".txt", ".html", ".json", ".pdf"} {
		if formats[ext] == 0 {
			t.Errorf("the corpus has no %s document", ext)
		}
	}

	data, err := os.ReadFile(filepath.Join("testdata", "questions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var questions []corpusQuestion
	if err := json.Unmarshal(data, &questions); err != nil {
		t.Fatalf("questions.json: %v", err)
	}
	if n := len(questions); n < 30 || n > 40 {
		t.Errorf("questions.json has %d questions, want 30 to 40", n)
	}
	answered := map[string]int{}
	for i, q := range questions {
		if q.Question == "" || q.AnswerContains == "" {
			t.Errorf("question %d (%q) lacks its question or answer_contains", i, q.Question)
			continue
		}
		if _, ok := texts[q.File]; !ok {
			t.Errorf("question %d (%q) names %q, not a document of the corpus", i, q.Question, q.File)
			continue
		}
		answered[q.File]++
		phrase := fold(q.AnswerContains)
		total := 0
		for name, text := range texts {
			n := strings.Count(text, phrase)
			total += n
			if n > 0 && name != q.File {
				t.Errorf("question %d: %q occurs in %s too, not only in %s", i, q.AnswerContains, name, q.File)
			}
		}
		if total != 1 {
			t.Errorf("question %d: %q occurs %d times in the corpus, want once (in %s)", i, q.AnswerContains, total, q.File)
		}
	}
	for name := range texts {
		if answered[name] == 0 {
			t.Errorf("no question is answered by %s", name)
		}
	}
}
