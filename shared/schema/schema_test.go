package schema_test

import (
	"encoding/json"
	"errors"
	"testing"

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
	}
	if _, err := schema.Example([]byte(`[1]`), ""); !errors.Is(err, schema.ErrNotObject) {
		t.Errorf("array schema: %v", err)
	}
}
