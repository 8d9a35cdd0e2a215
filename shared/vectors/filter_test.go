package vectors_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/vectors"
)

func TestParseFilter(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *vectors.Filter
	}{
		{"eq string", `{"type":"eq","key":"author","value":"Ann"}`,
			&vectors.Filter{Type: "eq", Key: "author", Value: "Ann"}},
		{"ne bool", `{"type":"ne","key":"draft","value":true}`,
			&vectors.Filter{Type: "ne", Key: "draft", Value: true}},
		{"gte number", `{"type":"gte","key":"year","value":2020}`,
			&vectors.Filter{Type: "gte", Key: "year", Value: 2020.0}},
		{"in mixed", `{"type":"in","key":"k","value":["a",1.5]}`,
			&vectors.Filter{Type: "in", Key: "k", Value: []any{"a", 1.5}}},
		{"nested", `{"type":"and","filters":[{"type":"eq","key":"a","value":"x"},{"type":"or","filters":[{"type":"lt","key":"n","value":3},{"type":"nin","key":"c","value":["r","g"]}]}]}`,
			&vectors.Filter{Type: "and", Filters: []vectors.Filter{
				{Type: "eq", Key: "a", Value: "x"},
				{Type: "or", Filters: []vectors.Filter{
					{Type: "lt", Key: "n", Value: 3.0},
					{Type: "nin", Key: "c", Value: []any{"r", "g"}},
				}},
			}}},
		{"spaces", " {\n\"value\" : \"v\", \"key\":\"k\", \"type\":\"eq\"} ",
			&vectors.Filter{Type: "eq", Key: "k", Value: "v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := vectors.ParseFilter([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseFilter(%s) = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseFilter(%s) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// nested returns a filter depth levels deep: and(and(...(eq))).
func nested(depth int) string {
	s := `{"type":"eq","key":"k","value":1}`
	for range depth - 1 {
		s = `{"type":"and","filters":[` + s + `]}`
	}
	return s
}

// wide returns an "or" of n comparisons: n+1 filters in all.
func wide(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `{"type":"eq","key":"k","value":1}`
	}
	return `{"type":"or","filters":[` + strings.Join(parts, ",") + `]}`
}

func TestParseFilterErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`{"type":"like","key":"k","value":"v"}`, `type: unknown type "like" (want eq, ne, gt, gte, lt, lte, in, nin, and or or)`},
		{`{"type":"and","filters":[{"type":"eq","key":"a","value":1},{"type":"like","key":"k","value":"v"}]}`, `filters[1].type: unknown type "like" (want eq, ne, gt, gte, lt, lte, in, nin, and or or)`},
		{`{"type":"or","filters":[{"type":"and","filters":[{"type":"gt","key":"n","value":"3"}]}]}`, `filters[0].filters[0].value: gt compares numbers, not a string`},
		{`{"type":"EQ","key":"k","value":"v"}`, `type: unknown type "EQ" (want eq, ne, gt, gte, lt, lte, in, nin, and or or)`},
		{`{"key":"k","value":"v"}`, `type: required`},
		{`{"type":"","key":"k","value":"v"}`, `type: required`},
		{`{"type":7,"key":"k","value":"v"}`, `type: must be a string`},
		{`{"type":"eq","value":"v"}`, `key: required`},
		{`{"type":"eq","key":"","value":"v"}`, `key: required, and not empty`},
		{`{"type":"eq","key":3,"value":"v"}`, `key: must be a string`},
		{`{"type":"eq","key":"k"}`, `value: required`},
		{`{"type":"eq","key":"k","value":null}`, `value: must be a string, a number or a boolean, not null`},
		{`{"type":"eq","key":"k","value":{"a":1}}`, `value: eq takes a string, a number or a boolean, not an object`},
		{`{"type":"ne","key":"k","value":["a"]}`, `value: ne takes a string, a number or a boolean, not an array`},
		{`{"type":"lte","key":"k","value":true}`, `value: lte compares numbers, not a boolean`},
		{`{"type":"in","key":"k","value":"a"}`, `value: in takes an array of strings and numbers, not a string`},
		{`{"type":"nin","key":"k","value":[]}`, `value: nin takes a non-empty array`},
		{`{"type":"in","key":"k","value":["a",true]}`, `value[1]: must be a string or a number, not a boolean`},
		{`{"type":"in","key":"k","value":[["a"]]}`, `value[0]: must be a string or a number, not an array`},
		{`{"type":"eq","key":"k","value":1e999}`, `value: not a valid value: cannot unmarshal number 1e999 into Go value of type float64`},
		{`{"type":"eq","key":"k","value":"v","extra":1}`, `unknown field "extra" (a filter has type, key and value, or type and filters)`},
		{`{"type":"eq","key":"k","value":"v","Type":"eq"}`, `unknown field "Type" (a filter has type, key and value, or type and filters)`},
		{`{"type":"eq","key":"k","value":"v","filters":[]}`, `filters: not allowed in an "eq" filter, which takes key and value`},
		{`{"type":"and","key":"k","filters":[]}`, `key: not allowed in an "and" filter, which takes filters`},
		{`{"type":"or","value":1,"filters":[]}`, `value: not allowed in an "or" filter, which takes filters`},
		{`{"type":"and"}`, `filters: required in an "and" filter`},
		{`{"type":"and","filters":[]}`, `filters: an "and" filter needs at least one filter`},
		{`{"type":"and","filters":{}}`, `filters: must be an array of filters`},
		{`{"type":"and","filters":null}`, `filters: must be an array of filters`},
		{`{"type":"and","filters":[3]}`, `filters[0]: must be a JSON object`},
		{`{"type":"and","filters":[null]}`, `filters[0]: must be a JSON object`},
		{`[]`, `must be a JSON object`},
		{`null`, `must be a JSON object`},
		{`{"type":"eq"`, `not valid JSON: unexpected end of JSON input`},
		{`{"type":"eq","key":"k","value":1} x`, `not valid JSON: invalid character 'x' after top-level value`},
		{nested(vectors.MaxFilterDepth + 1), strings.Repeat("filters[0].", vectors.MaxFilterDepth-1) + `filters[0]: filters nest more than 8 levels deep`},
		{wide(vectors.MaxFilterNodes), `filters[63]: a filter may hold at most 64 filters in all`},
		{`{"type":"` + strings.Repeat("x", 100) + `"}`, `type: unknown type "` + strings.Repeat("x", 64) + `…" (want eq, ne, gt, gte, lt, lte, in, nin, and or or)`},
	}
	for _, tt := range tests {
		f, err := vectors.ParseFilter([]byte(tt.in))
		if err == nil {
			t.Errorf("ParseFilter(%.80s) = %+v, want error %q", tt.in, f, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseFilter(%.80s) = %q, want %q", tt.in, err, tt.want)
		}
		if !errors.Is(err, vectors.ErrBadFilter) {
			t.Errorf("ParseFilter(%.80s) = %v, not an ErrBadFilter", tt.in, err)
		}
	}
}

func TestParseFilterBounds(t *testing.T) {
	for _, in := range []string{nested(vectors.MaxFilterDepth), wide(vectors.MaxFilterNodes - 1)} {
		if _, err := vectors.ParseFilter([]byte(in)); err != nil {
			t.Errorf("ParseFilter(%.80s) = %v, want it accepted (at the bounds)", in, err)
		}
	}
	in := make([]any, vectors.MaxFilterValues+1)
	for i := range in {
		in[i] = float64(i)
	}
	b, _ := json.Marshal(map[string]any{"type": "in", "key": "k", "value": in})
	_, err := vectors.ParseFilter(b)
	if want := "value: in takes at most 256 values, not 257"; err == nil || err.Error() != want {
		t.Errorf("ParseFilter(in with 257 values) = %v, want %q", err, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		f    vectors.Filter
		want string // "" for valid
	}{
		{"eq", vectors.Filter{Type: "eq", Key: "k", Value: "v"}, ""},
		{"in", vectors.Filter{Type: "in", Key: "k", Value: []any{"v", 2.0}}, ""},
		{"and", vectors.Filter{Type: "and", Filters: []vectors.Filter{{Type: "lt", Key: "k", Value: 1.0}}}, ""},
		{"int value", vectors.Filter{Type: "eq", Key: "k", Value: 3}, "value: eq takes a string, a number or a boolean, not a Go int"},
		{"NaN", vectors.Filter{Type: "gt", Key: "k", Value: math.NaN()}, "value: must be a finite number"},
		{"Inf in list", vectors.Filter{Type: "in", Key: "k", Value: []any{math.Inf(1)}}, "value[0]: must be a finite number"},
		{"typed list", vectors.Filter{Type: "in", Key: "k", Value: []string{"a"}}, "value: in takes an array of strings and numbers, not a Go []string"},
		{"nil value", vectors.Filter{Type: "eq", Key: "k"}, "value: eq takes a string, a number or a boolean, not null"},
		{"no key", vectors.Filter{Type: "eq", Value: "v"}, "key: required, and not empty"},
		{"no type", vectors.Filter{}, "type: required"},
		{"comparison with filters", vectors.Filter{Type: "eq", Key: "k", Value: "v", Filters: []vectors.Filter{{}}}, `filters: not allowed in an "eq" filter, which takes key and value`},
		{"compound with key", vectors.Filter{Type: "or", Key: "k", Filters: []vectors.Filter{{Type: "eq", Key: "k", Value: "v"}}}, `key: not allowed in an "or" filter, which takes filters`},
		{"empty and", vectors.Filter{Type: "and"}, `filters: an "and" filter needs at least one filter`},
		{"bad child", vectors.Filter{Type: "or", Filters: []vectors.Filter{{Type: "eq", Key: "k", Value: "v"}, {Type: "in", Key: "k", Value: []any{}}}}, "filters[1].value: in takes a non-empty array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			got := ""
			if err != nil {
				got = err.Error()
				if !errors.Is(err, vectors.ErrBadFilter) {
					t.Errorf("Validate() = %v, not an ErrBadFilter", err)
				}
			}
			if got != tt.want {
				t.Errorf("%+v.Validate() = %q, want %q", tt.f, got, tt.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	attrs := map[string]any{"s": "b", "n": 2.0, "i": 2, "t": true, "z": ""}
	tests := []struct {
		filter string
		want   bool
	}{
		{`{"type":"eq","key":"s","value":"b"}`, true},
		{`{"type":"eq","key":"s","value":"B"}`, false}, // case-sensitive
		{`{"type":"eq","key":"n","value":2}`, true},
		{`{"type":"eq","key":"i","value":2}`, true}, // a Go int attribute is a number
		{`{"type":"eq","key":"n","value":"2"}`, false},
		{`{"type":"eq","key":"t","value":true}`, true},
		{`{"type":"eq","key":"t","value":"true"}`, false},
		{`{"type":"eq","key":"z","value":""}`, true},
		{`{"type":"eq","key":"missing","value":""}`, false},
		{`{"type":"ne","key":"s","value":"b"}`, false},
		{`{"type":"ne","key":"s","value":"c"}`, true},
		{`{"type":"ne","key":"n","value":"2"}`, true}, // another type is not equal
		{`{"type":"ne","key":"missing","value":"b"}`, true},
		{`{"type":"gt","key":"n","value":1.5}`, true},
		{`{"type":"gt","key":"n","value":2}`, false},
		{`{"type":"gte","key":"n","value":2}`, true},
		{`{"type":"lt","key":"n","value":2}`, false},
		{`{"type":"lt","key":"n","value":2.5}`, true},
		{`{"type":"lte","key":"i","value":2}`, true},
		{`{"type":"gt","key":"s","value":0}`, false}, // order compares numbers only
		{`{"type":"lt","key":"t","value":5}`, false},
		{`{"type":"gte","key":"missing","value":0}`, false},
		{`{"type":"in","key":"s","value":["a","b"]}`, true},
		{`{"type":"in","key":"s","value":["a","c"]}`, false},
		{`{"type":"in","key":"n","value":["2",2]}`, true},
		{`{"type":"in","key":"n","value":["2"]}`, false},
		{`{"type":"in","key":"t","value":["true",1]}`, false},
		{`{"type":"in","key":"missing","value":["a"]}`, false},
		{`{"type":"nin","key":"s","value":["a","b"]}`, false},
		{`{"type":"nin","key":"s","value":["a","c"]}`, true},
		{`{"type":"nin","key":"missing","value":["a"]}`, true},
		{`{"type":"and","filters":[{"type":"eq","key":"s","value":"b"},{"type":"gt","key":"n","value":1}]}`, true},
		{`{"type":"and","filters":[{"type":"eq","key":"s","value":"b"},{"type":"gt","key":"n","value":3}]}`, false},
		{`{"type":"or","filters":[{"type":"eq","key":"s","value":"x"},{"type":"gt","key":"n","value":3}]}`, false},
		{`{"type":"or","filters":[{"type":"eq","key":"s","value":"x"},{"type":"eq","key":"t","value":true}]}`, true},
		{`{"type":"and","filters":[{"type":"or","filters":[{"type":"eq","key":"missing","value":1},{"type":"ne","key":"missing","value":1}]},{"type":"nin","key":"s","value":["x"]}]}`, true},
	}
	for _, tt := range tests {
		f, err := vectors.ParseFilter([]byte(tt.filter))
		if err != nil {
			t.Fatalf("ParseFilter(%s) = %v", tt.filter, err)
		}
		if got := f.Match(attrs); got != tt.want {
			t.Errorf("%s.Match(%v) = %v, want %v", tt.filter, attrs, got, tt.want)
		}
	}
}

func TestMatchInvalidFilters(t *testing.T) {
	attrs := map[string]any{"k": "v", "n": 1.0}
	for _, f := range []vectors.Filter{
		{},
		{Type: "like", Key: "k", Value: "v"},
		{Type: "and"},
		{Type: "or"},
		{Type: "gt", Key: "n", Value: "0"},
		{Type: "in", Key: "k", Value: "v"},
		{Type: "eq", Key: "k", Value: []any{"v"}},
	} {
		if f.Match(attrs) {
			t.Errorf("%+v.Match(%v) = true, want false for a filter that does not validate", f, attrs)
		}
	}
	if !(&vectors.Filter{Type: "eq", Key: "k", Value: "v"}).Match(attrs) {
		t.Error("a valid eq does not match")
	}
	if (&vectors.Filter{Type: "eq", Key: "k", Value: "v"}).Match(nil) {
		t.Error("eq matches nil attributes")
	}
}

func FuzzFilter(f *testing.F) {
	for _, seed := range []struct{ filter, attrs string }{
		{`{"type":"eq","key":"author","value":"Ann"}`, `{"author":"Ann"}`},
		{`{"type":"ne","key":"draft","value":true}`, `{}`},
		{`{"type":"gt","key":"year","value":2019}`, `{"year":2020}`},
		{`{"type":"lte","key":"year","value":-1.5e3}`, `{"year":"2020"}`},
		{`{"type":"in","key":"tag","value":["a",1,"c"]}`, `{"tag":1}`},
		{`{"type":"nin","key":"tag","value":["a"]}`, `{"other":false}`},
		{`{"type":"and","filters":[{"type":"eq","key":"a","value":"x"},{"type":"or","filters":[{"type":"lt","key":"n","value":3},{"type":"nin","key":"c","value":["r","g"]}]}]}`, `{"a":"x","n":2}`},
		{`{"type":"or","filters":[{"type":"gte","key":"n","value":0}]}`, `{"n":null}`},
		{nested(vectors.MaxFilterDepth + 1), `{"k":1}`},
		{`{"type":"and","filters":[{"type":"like"}]}`, `{}`},
		{`{"type":"eq","key":"k","value":{"x":[1,2]}}`, `[]`},
		{`[[[[[[[[[[[[[[[[[[[[`, `{"k":[1]}`},
	} {
		f.Add(seed.filter, seed.attrs)
	}
	f.Fuzz(func(t *testing.T, filter, attrsJSON string) {
		got, err := vectors.ParseFilter([]byte(filter))
		if err != nil {
			if !errors.Is(err, vectors.ErrBadFilter) {
				t.Fatalf("ParseFilter(%q) = %v, not an ErrBadFilter", filter, err)
			}
			if err.Error() == "" {
				t.Fatalf("ParseFilter(%q) returned an empty error", filter)
			}
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("ParseFilter(%q) accepted a filter that Validate refuses: %v", filter, err)
		}
		var attrs map[string]any
		_ = json.Unmarshal([]byte(attrsJSON), &attrs) // any attributes, nil if not an object
		m := got.Match(attrs)
		// ne and nin negate eq and in.
		if neg, ok := negation(got); ok && neg.Match(attrs) == m {
			t.Fatalf("%q and its negation both Match(%v) = %v", filter, attrs, m)
		}
		// Evaluating the filter's own keys, with values it names, never panics.
		for k, v := range values(got) {
			got.Match(map[string]any{k: v})
		}
	})
}

// negation returns f with eq and ne, in and nin swapped, when f is one of them.
func negation(f *vectors.Filter) (*vectors.Filter, bool) {
	swap := map[string]string{"eq": "ne", "ne": "eq", "in": "nin", "nin": "in"}
	t, ok := swap[f.Type]
	if !ok {
		return nil, false
	}
	g := *f
	g.Type = t
	return &g, true
}

// values returns an attribute for each key f names: its value, or its
// list's first value.
func values(f *vectors.Filter) map[string]any {
	out := map[string]any{}
	var walk func(f *vectors.Filter)
	walk = func(f *vectors.Filter) {
		for i := range f.Filters {
			walk(&f.Filters[i])
		}
		if f.Key == "" {
			return
		}
		if vs, ok := f.Value.([]any); ok && len(vs) > 0 {
			out[f.Key] = vs[0]
		} else {
			out[f.Key] = f.Value
		}
	}
	walk(f)
	return out
}
