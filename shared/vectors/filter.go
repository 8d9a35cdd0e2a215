package vectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Bounds on one filter. OpenAI documents none; these keep a filter cheap to
// check and to evaluate on every candidate chunk.
const (
	MaxFilterDepth  = 8   // levels of nesting, the outermost filter being level 1
	MaxFilterNodes  = 64  // filters in all, compound and comparison
	MaxFilterValues = 256 // values in one in or nin list
)

// The filter types, as OpenAI spells them.
var (
	comparisons = []string{"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"}
	compounds   = []string{"and", "or"}
)

const wantTypes = "eq, ne, gt, gte, lt, lte, in, nin, and or or"

// ErrBadFilter is what every error of ParseFilter and Validate matches
// (errors.Is), and what backends wrap when given a filter that does not
// validate.
var ErrBadFilter = errors.New("vectors: bad filter")

// filterError is an error of ParseFilter or Validate. Its text is a sentence
// safe to show to a client, naming the offending part by its path inside the
// filter ("filters[1].type: ..."); a caller prefixes the parameter's name.
type filterError struct{ msg string }

func (e *filterError) Error() string        { return e.msg }
func (e *filterError) Is(target error) bool { return target == ErrBadFilter }

// bad returns a filterError about the part of the filter at path ("" for the
// filter itself).
func bad(path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return &filterError{msg}
}

// join returns the path of field inside the filter at path.
func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// ParseFilter decodes OpenAI's JSON form of a filter, a comparison
// {"type":"eq","key":"k","value":…} or a compound
// {"type":"and","filters":[…]}, refusing unknown fields, and validates it.
// Its errors match ErrBadFilter; their text names the offending part relative
// to the filter, e.g. `filters[1].type: unknown type "like" (…)`, so that a
// caller writes "filters: " + err.Error().
func ParseFilter(data []byte) (*Filter, error) {
	if !json.Valid(data) {
		// json.Valid is iterative, so a deeply nested document is refused
		// here or by depth below, never by a deep recursion.
		var v any
		err := json.Unmarshal(data, &v)
		return nil, bad("", "not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	nodes := 0
	f, err := parseFilter(data, "", 1, &nodes)
	if err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// parseFilter decodes the filter at path, depth levels down, counting nodes.
// It checks the JSON's shape (objects, fields, a type); Validate checks the
// rest.
func parseFilter(data []byte, path string, depth int, nodes *int) (*Filter, error) {
	if err := bound(path, depth, nodes); err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return nil, bad(path, "must be a JSON object")
	}
	for name := range fields {
		if name != "type" && name != "key" && name != "value" && name != "filters" {
			return nil, bad(path, "unknown field %q (a filter has type, key and value, or type and filters)", clip(name))
		}
	}
	raw, ok := fields["type"]
	if !ok {
		return nil, bad(join(path, "type"), "required")
	}
	f := &Filter{}
	if err := json.Unmarshal(raw, &f.Type); err != nil {
		return nil, bad(join(path, "type"), "must be a string")
	}
	switch {
	case slices.Contains(compounds, f.Type):
		for _, name := range []string{"key", "value"} {
			if _, ok := fields[name]; ok {
				return nil, bad(join(path, name), "not allowed in an %q filter, which takes filters", f.Type)
			}
		}
		raw, ok := fields["filters"]
		if !ok {
			return nil, bad(join(path, "filters"), "required in an %q filter", f.Type)
		}
		var subs []json.RawMessage
		if err := json.Unmarshal(raw, &subs); err != nil || subs == nil {
			return nil, bad(join(path, "filters"), "must be an array of filters")
		}
		if len(subs) == 0 {
			return nil, bad(join(path, "filters"), "an %q filter needs at least one filter", f.Type)
		}
		f.Filters = make([]Filter, len(subs))
		for i, sub := range subs {
			g, err := parseFilter(sub, fmt.Sprintf("%s[%d]", join(path, "filters"), i), depth+1, nodes)
			if err != nil {
				return nil, err
			}
			f.Filters[i] = *g
		}
	case slices.Contains(comparisons, f.Type):
		if _, ok := fields["filters"]; ok {
			return nil, bad(join(path, "filters"), "not allowed in an %q filter, which takes key and value", f.Type)
		}
		raw, ok := fields["key"]
		if !ok {
			return nil, bad(join(path, "key"), "required")
		}
		if err := json.Unmarshal(raw, &f.Key); err != nil {
			return nil, bad(join(path, "key"), "must be a string")
		}
		raw, ok = fields["value"]
		if !ok {
			return nil, bad(join(path, "value"), "required")
		}
		if err := json.Unmarshal(raw, &f.Value); err != nil {
			return nil, bad(join(path, "value"), "not a valid value: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return nil, bad(join(path, "value"), "must be a string, a number or a boolean, not null")
		}
	default:
		return nil, unknownType(path, f.Type)
	}
	return f, nil
}

// bound counts one more filter, at depth, and reports whether that passes the
// bounds.
func bound(path string, depth int, nodes *int) error {
	if depth > MaxFilterDepth {
		return bad(path, "filters nest more than %d levels deep", MaxFilterDepth)
	}
	if *nodes++; *nodes > MaxFilterNodes {
		return bad(path, "a filter may hold at most %d filters in all", MaxFilterNodes)
	}
	return nil
}

func unknownType(path, typ string) error {
	if typ == "" {
		return bad(join(path, "type"), "required")
	}
	return bad(join(path, "type"), "unknown type %q (want %s)", clip(typ), wantTypes)
}

// Validate checks f as ParseFilter checks a decoded filter: known types;
// comparisons with a key and a string, number or boolean value (a number for
// gt, gte, lt and lte; a non-empty array of strings and numbers for in and
// nin); compounds with at least one filter; at most MaxFilterDepth levels and
// MaxFilterNodes filters. Numbers are float64, as encoding/json decodes them,
// and finite. Errors match ErrBadFilter and name the offending part.
func (f *Filter) Validate() error {
	nodes := 0
	return f.validate("", 1, &nodes)
}

func (f *Filter) validate(path string, depth int, nodes *int) error {
	if err := bound(path, depth, nodes); err != nil {
		return err
	}
	switch {
	case slices.Contains(compounds, f.Type):
		if f.Key != "" {
			return bad(join(path, "key"), "not allowed in an %q filter, which takes filters", f.Type)
		}
		if f.Value != nil {
			return bad(join(path, "value"), "not allowed in an %q filter, which takes filters", f.Type)
		}
		if len(f.Filters) == 0 {
			return bad(join(path, "filters"), "an %q filter needs at least one filter", f.Type)
		}
		for i := range f.Filters {
			if err := f.Filters[i].validate(fmt.Sprintf("%s[%d]", join(path, "filters"), i), depth+1, nodes); err != nil {
				return err
			}
		}
		return nil
	case slices.Contains(comparisons, f.Type):
		if len(f.Filters) != 0 {
			return bad(join(path, "filters"), "not allowed in an %q filter, which takes key and value", f.Type)
		}
		if f.Key == "" {
			return bad(join(path, "key"), "required, and not empty")
		}
		return f.validateValue(join(path, "value"))
	default:
		return unknownType(path, f.Type)
	}
}

// validateValue checks a comparison's value, at path, against its type.
func (f *Filter) validateValue(path string) error {
	switch f.Type {
	case "gt", "gte", "lt", "lte":
		if _, ok := f.Value.(float64); !ok {
			return bad(path, "%s compares numbers, not %s", f.Type, describe(f.Value))
		}
		return finite(path, f.Value)
	case "in", "nin":
		vs, ok := f.Value.([]any)
		if !ok {
			return bad(path, "%s takes an array of strings and numbers, not %s", f.Type, describe(f.Value))
		}
		if len(vs) == 0 {
			return bad(path, "%s takes a non-empty array", f.Type)
		}
		if len(vs) > MaxFilterValues {
			return bad(path, "%s takes at most %d values, not %d", f.Type, MaxFilterValues, len(vs))
		}
		for i, v := range vs {
			p := fmt.Sprintf("%s[%d]", path, i)
			switch v.(type) {
			case string, float64:
			default:
				return bad(p, "must be a string or a number, not %s", describe(v))
			}
			if err := finite(p, v); err != nil {
				return err
			}
		}
		return nil
	default: // eq, ne
		switch f.Value.(type) {
		case string, float64, bool:
		default:
			return bad(path, "%s takes a string, a number or a boolean, not %s", f.Type, describe(f.Value))
		}
		return finite(path, f.Value)
	}
}

// finite refuses NaN and infinities, which JSON cannot carry but Go code can.
func finite(path string, v any) error {
	if x, ok := v.(float64); ok && (math.IsNaN(x) || math.IsInf(x, 0)) {
		return bad(path, "must be a finite number")
	}
	return nil
}

// describe names v's JSON type for an error message.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a Go %T", v)
}

// clip shortens what a client sent before an error message repeats it.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	for i := limit; i > 0; i-- {
		if !isContinuation(s[i]) {
			return s[:i] + "…"
		}
	}
	return s[:limit] + "…"
}

func isContinuation(b byte) bool { return b&0xC0 == 0x80 }

// Match reports whether attrs (a chunk's attributes) pass f. It never panics,
// even on a filter that does not validate, which passes nothing it cannot
// evaluate.
//
// Semantics, for a comparison on key k with value v:
//   - eq: attrs has k, of v's type, equal to v. Values of different types are
//     never equal (the string "1" is not the number 1); numbers compare as
//     numbers, whatever Go numeric type the attribute has (float64 from JSON,
//     or int and the like from Go code).
//   - gt, gte, lt, lte: attrs has k, a number, in that order to v; false for a
//     string or boolean attribute.
//   - in: attrs has k, equal (as eq) to one of v's values.
//   - ne and nin are the negations of eq and in, so they are TRUE when attrs
//     lacks k: a file without a "status" attribute passes status ne
//     "archived". Neither OpenAI nor Amazon S3 Vectors documents what their
//     ne/$ne and nin/$nin do on a missing key; this is what MongoDB, whose
//     operators S3 Vectors' filters copy, documents for $ne and $nin, and it
//     keeps and/or/ne/nin consistent under negation. A backend whose service
//     differs must compensate (S3 Vectors: "$or" of the comparison and
//     {"$exists": false}); the vectorstest suite checks it.
//
// and passes when every filter passes, or when nothing passes, when any does.
func (f *Filter) Match(attrs map[string]any) bool {
	switch f.Type {
	case "and":
		for i := range f.Filters {
			if !f.Filters[i].Match(attrs) {
				return false
			}
		}
		return len(f.Filters) > 0
	case "or":
		for i := range f.Filters {
			if f.Filters[i].Match(attrs) {
				return true
			}
		}
		return false
	}
	a, ok := attrs[f.Key]
	switch f.Type {
	case "eq":
		return ok && equal(a, f.Value)
	case "ne":
		return !ok || !equal(a, f.Value)
	case "in":
		return ok && member(a, f.Value)
	case "nin":
		return !ok || !member(a, f.Value)
	case "gt", "gte", "lt", "lte":
		x, isNum := Number(a)
		y, isNum2 := f.Value.(float64)
		if !ok || !isNum || !isNum2 {
			return false
		}
		switch f.Type {
		case "gt":
			return x > y
		case "gte":
			return x >= y
		case "lt":
			return x < y
		default:
			return x <= y
		}
	}
	return false
}

// member reports whether attribute a equals one of list's values.
func member(a, list any) bool {
	vs, _ := list.([]any)
	for _, v := range vs {
		if equal(a, v) {
			return true
		}
	}
	return false
}

// equal reports whether attribute a and filter value v are the same string,
// number or boolean.
func equal(a, v any) bool {
	switch v := v.(type) {
	case string:
		a, ok := a.(string)
		return ok && a == v
	case float64:
		a, ok := Number(a)
		return ok && a == v
	case bool:
		a, ok := a.(bool)
		return ok && a == v
	}
	return false
}

// Number returns a numeric attribute (any Go number, or a json.Number) as a
// float64, for backends that store attributes.
func Number(a any) (float64, bool) {
	switch a := a.(type) {
	case float64:
		return a, true
	case float32:
		return float64(a), true
	case int:
		return float64(a), true
	case int8:
		return float64(a), true
	case int16:
		return float64(a), true
	case int32:
		return float64(a), true
	case int64:
		return float64(a), true
	case uint:
		return float64(a), true
	case uint8:
		return float64(a), true
	case uint16:
		return float64(a), true
	case uint32:
		return float64(a), true
	case uint64:
		return float64(a), true
	case json.Number:
		x, err := a.Float64()
		return x, err == nil
	}
	return 0, false
}
