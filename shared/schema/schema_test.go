package schema_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tollgate/tollgate/shared/schema"
)

func TestExample(t *testing.T) {
	tests := []struct{ schema, text, want string }{
		{``, "", `{}`},
		{`{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1},"unit":{"enum":["c","f"]}},"required":["city"]}`, "Paris",
			`{"city":"Paris","days":1,"unit":"c"}`},
		{`{"type":"array","items":{"type":"number"},"minItems":2}`, "", `[0,0]`},
		{`{"$defs":{"p":{"type":"object","properties":{"ok":{"type":"boolean"}}}},"$ref":"#/$defs/p"}`, "", `{"ok":false}`},
		{`{"anyOf":[{"type":"null"},{"type":"string"}]}`, "", `null`},
		{`{"type":["string","null"],"minLength":3}`, "a", `"axx"`},
		{`{"type":"object","properties":{"self":{"$ref":"#"}}}`, "", ``}, // recursive: ends
	}
	for _, tt := range tests {
		got, err := schema.Example([]byte(tt.schema), tt.text)
		if err != nil {
			t.Errorf("Example(%s) error %v", tt.schema, err)
			continue
		}
		if !json.Valid(got) {
			t.Errorf("Example(%s) = %s: not JSON", tt.schema, got)
		}
		if tt.want != "" && string(got) != tt.want {
			t.Errorf("Example(%s) = %s, want %s", tt.schema, got, tt.want)
		}
		if tt.schema != "" {
			valid(t, tt.schema, got)
		}
	}
	if _, err := schema.Example([]byte(`[1]`), ""); !errors.Is(err, schema.ErrNotObject) {
		t.Errorf("array schema: %v", err)
	}
}

// valid checks v against schema with a JSON Schema validator.
func valid(t *testing.T, schema string, v []byte) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("s.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("s.json")
	if err != nil {
		t.Fatalf("compile %s: %v", schema, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(v))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("Example(%s) = %s, which the schema refuses: %v", schema, v, err)
	}
}

// FuzzExample: for any schema that compiles, Example's value is valid JSON and
// never panics; for schemas within the keywords Example knows it is valid.
func FuzzExample(f *testing.F) {
	for _, s := range []string{`{"type":"object","properties":{"a":{"type":"array","items":{"enum":[1,2]},"minItems":3}},"required":["a","b"]}`,
		`{"$ref":"#/$defs/x","$defs":{"x":{"anyOf":[{"type":"integer","minimum":5}]}}}`, `true`, `{"allOf":[{"type":"string"},{"minLength":2}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		v, err := schema.Example(s, "x")
		if err == nil && !json.Valid(v) {
			t.Fatalf("Example(%s) = %s: not JSON", s, v)
		}
	})
}
