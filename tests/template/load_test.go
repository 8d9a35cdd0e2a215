// Package template_test checks template.yaml, samconfig.toml and the Makefile's
// build targets against the code they deploy, offline: what cfn-lint cannot know.
//
//   - template_test.go: functions per directory, runtime, routes and their
//     transfer modes, IAM authorisation, environment, table, schedule, secrets,
//     function URL, outputs, parameters, samconfig.
//   - build_test.go: every function builds with the Makefile recipe for arm64 and
//     amd64, and each function's IAM actions are exactly the AWS operations its
//     deployable arm64 bootstrap can call.
//   - monitor_test.go: the dashboard and alarms against the metrics the code emits.
//   - lint_test.go: cfn-lint, and the SAM translation of the template (what API
//     Gateway and CloudFormation will really get), when they are installed.
package template_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tollgate/tollgate/tests/lambdatest"
)

// m is a YAML or JSON mapping.
type m = map[string]any

var (
	tmplOnce sync.Once
	tmplVal  m
	tmplErr  error
)

// loadTemplate returns template.yaml with CloudFormation's short-form tags (!Ref,
// !Sub, !GetAtt, !If, ...) turned into their long form ({"Ref": ...},
// {"Fn::Sub": ...}, {"Fn::GetAtt": [resource, attribute]}), as CloudFormation
// reads them.
func loadTemplate(t *testing.T) m {
	t.Helper()
	tmplOnce.Do(func() {
		var b []byte
		b, tmplErr = os.ReadFile(filepath.Join(lambdatest.Root(t), "template.yaml"))
		if tmplErr != nil {
			return
		}
		var doc yaml.Node
		if tmplErr = yaml.Unmarshal(b, &doc); tmplErr != nil {
			return
		}
		var v any
		if v, tmplErr = fromNode(&doc); tmplErr == nil {
			var ok bool
			if tmplVal, ok = v.(m); !ok {
				tmplErr = fmt.Errorf("template.yaml is not a mapping")
			}
		}
	})
	if tmplErr != nil {
		t.Fatalf("load template.yaml: %v", tmplErr)
	}
	return tmplVal
}

// fromNode converts a YAML node into maps, slices and scalars, keeping
// CloudFormation's tags as intrinsic functions.
func fromNode(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: want one document", n.Line)
		}
		return fromNode(n.Content[0])
	case yaml.AliasNode:
		return fromNode(n.Alias)
	case yaml.MappingNode:
		mm := m{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := mm[k]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", n.Content[i].Line, k)
			}
			val, err := fromNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			mm[k] = val
		}
		v = mm
	case yaml.SequenceNode:
		list := []any{}
		for _, c := range n.Content {
			val, err := fromNode(c)
			if err != nil {
				return nil, err
			}
			list = append(list, val)
		}
		v = list
	case yaml.ScalarNode:
		if isIntrinsicTag(n.Tag) {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	}
	if !isIntrinsicTag(n.Tag) {
		return v, nil
	}
	name := strings.TrimPrefix(n.Tag, "!")
	switch name {
	case "Ref", "Condition":
		return m{name: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			v = []any{res, attr}
		}
	}
	return m{"Fn::" + name: v}, nil
}

func isIntrinsicTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}

// get walks a path of keys through nested mappings; nil when absent.
func get(v any, path ...string) any {
	for _, k := range path {
		mm, ok := v.(m)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func getMap(v any, path ...string) m {
	mm, _ := get(v, path...).(m)
	return mm
}

func getString(v any, path ...string) string {
	s, _ := get(v, path...).(string)
	return s
}

func getList(v any, path ...string) []any {
	l, _ := get(v, path...).([]any)
	return l
}

// ref returns the name v refers to with {"Ref": name}, or "".
func ref(v any) string { return getString(v, "Ref") }

// getAtt returns the resource and attribute of {"Fn::GetAtt": [r, a]}.
func getAtt(v any) (string, string) {
	l := getList(v, "Fn::GetAtt")
	if len(l) != 2 {
		return "", ""
	}
	r, _ := l[0].(string)
	a, _ := l[1].(string)
	return r, a
}

// sub returns the string of {"Fn::Sub": s}, or "".
func sub(v any) string { return getString(v, "Fn::Sub") }

// resources returns the template's resources of type typ, by logical id.
func resources(tmpl m, typ string) map[string]m {
	out := map[string]m{}
	for id, r := range getMap(tmpl, "Resources") {
		if getString(r, "Type") == typ {
			out[id] = r.(m)
		}
	}
	return out
}

// functionDirs returns the directories of functions/ that are Lambda functions:
// all but local, the development server.
func functionDirs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(lambdatest.Root(t), "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "local" {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) == 0 {
		t.Fatal("no function directories")
	}
	return dirs
}

// logicalID is the template's logical id of the function in functions/<dir>:
// budget-reset is BudgetResetFunction.
func logicalID(dir string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(dir, func(r rune) bool { return r == '-' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String() + "Function"
}

// globalFunction returns Globals.Function.
func globalFunction(tmpl m) m { return getMap(tmpl, "Globals", "Function") }

// fnProp returns a function's property, or the global one when it has none.
func fnProp(tmpl m, fn m, name string) any {
	if v := get(fn, "Properties", name); v != nil {
		return v
	}
	return get(globalFunction(tmpl), name)
}

// fnEnv returns a function's environment variables: the global ones, overridden
// by its own, unevaluated.
func fnEnv(tmpl m, fn m) m {
	env := m{}
	for k, v := range getMap(globalFunction(tmpl), "Environment", "Variables") {
		env[k] = v
	}
	for k, v := range getMap(fn, "Properties", "Environment", "Variables") {
		env[k] = v
	}
	return env
}

// apiEvent is one Api event of a function.
type apiEvent struct {
	Function string // logical id
	Name     string // event name
	Method   string // lower case, as in the template
	Path     string
	Props    m
}

func (e apiEvent) String() string {
	return fmt.Sprintf("%s %s (%s.%s)", strings.ToUpper(e.Method), e.Path, e.Function, e.Name)
}

// apiEvents returns every Api event of every function, sorted.
func apiEvents(tmpl m) []apiEvent {
	var out []apiEvent
	for id, fn := range resources(tmpl, "AWS::Serverless::Function") {
		for name, ev := range getMap(fn, "Properties", "Events") {
			if getString(ev, "Type") != "Api" {
				continue
			}
			p := getMap(ev, "Properties")
			out = append(out, apiEvent{Function: id, Name: name, Method: strings.ToLower(getString(p, "Method")), Path: getString(p, "Path"), Props: p})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// subRefs returns the names a Fn::Sub string refers to with ${Name} or
// ${Name.Attr} (not ${!Literal}).
func subRefs(s string) []string {
	var out []string
	for _, mt := range subRef.FindAllStringSubmatch(s, -1) {
		if !strings.HasPrefix(mt[1], "!") {
			out = append(out, mt[1])
		}
	}
	return out
}

var subRef = regexp.MustCompile(`\$\{([^}]+)\}`)

// keys returns a mapping's keys, sorted.
func keys[V any](mm map[string]V) []string {
	out := make([]string, 0, len(mm))
	for k := range mm {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
