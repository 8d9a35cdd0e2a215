package lambda_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/tests/lambdatest"
)

// TestEveryEventIsInvoked checks that every sample event in events/ belongs to a
// function (its name starts with the function's directory name) and that some
// test under tests/ invokes it: the events double as documentation for
// `sam local invoke -e`, so each must stay true. (tests/template checks that
// each API event is a route of its function in template.yaml.)
func TestEveryEventIsInvoked(t *testing.T) {
	root := lambdatest.Root(t)
	events, err := filepath.Glob(filepath.Join(root, "events", "*.json"))
	if err != nil || len(events) == 0 {
		t.Fatalf("no events: %v", err)
	}
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var tests [][]byte
	err = filepath.WalkDir(filepath.Join(root, "tests"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "node_modules" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			tests = append(tests, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		name := filepath.Base(ev)
		owner := ""
		for _, e := range entries {
			fn := e.Name()
			if e.IsDir() && fn != "local" && (name == fn+".json" || strings.HasPrefix(name, fn+"-")) && len(fn) > len(owner) {
				owner = fn
			}
		}
		if owner == "" {
			t.Errorf("events/%s: its name names no function of functions/", name)
		}
		invoked := false
		for _, b := range tests {
			if bytes.Contains(b, []byte(`"`+name+`"`)) || bytes.Contains(b, []byte(`/`+name+`"`)) {
				invoked = true
				break
			}
		}
		if !invoked {
			t.Errorf("events/%s: no test under tests/ invokes it", name)
		}
	}
}
