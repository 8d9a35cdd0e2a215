// Package schema makes example JSON values from JSON Schemas: the smallest value
// that a schema's common keywords (type, properties, required, items, enum,
// const, anyOf/oneOf/allOf, minItems, minimum, minLength, $ref to $defs) accept.
// The echo provider answers tool calls and structured-output requests with them,
// and the fake providers of the tests do the same. It is no validator.
package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// maxDepth bounds nesting and $ref chains, so a recursive schema ends.
const maxDepth = 32

// ErrNotObject is returned for a schema that is not a JSON object (or boolean).
var ErrNotObject = errors.New("schema: a JSON Schema must be an object")

// Example returns a JSON value that schema accepts. text, when not empty, is the
// value of the first string it needs (so an echo can carry a message); other
// strings are "example". A nil or empty schema gives {}.
func Example(schema []byte, text string) ([]byte, error) {
	if len(strings.TrimSpace(string(schema))) == 0 {
		return []byte("{}"), nil
	}
	var root any
	if err := json.Unmarshal(schema, &root); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	switch root.(type) {
	case map[string]any, bool:
	default:
		return nil, ErrNotObject
	}
	g := &gen{root: root, text: text}
	v := g.value(root, 0)
	return json.Marshal(v)
}

type gen struct {
	root any
	text string
}

func (g *gen) str() string {
	if g.text != "" {
		s := g.text
		g.text = ""
		return s
	}
	return "example"
}

func (g *gen) value(s any, depth int) any {
	m, ok := s.(map[string]any)
	if !ok || depth > maxDepth {
		return map[string]any{}
	}
	if ref, ok := m["$ref"].(string); ok {
		return g.value(g.resolve(ref), depth+1)
	}
	if c, ok := m["const"]; ok {
		return c
	}
	if e, ok := m["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	if d, ok := m["default"]; ok {
		return d
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if alts, ok := m[k].([]any); ok && len(alts) > 0 {
			return g.value(alts[0], depth+1)
		}
	}
	if all, ok := m["allOf"].([]any); ok && len(all) > 0 {
		merged := map[string]any{}
		for _, a := range all {
			if am, ok := a.(map[string]any); ok {
				for k, v := range am {
					merged[k] = v
				}
			}
		}
		return g.value(merged, depth+1)
	}
	typ := m["type"]
	if ts, ok := typ.([]any); ok { // ["string","null"]: the first non-null
		typ = "null"
		for _, t := range ts {
			if t != "null" {
				typ = t
				break
			}
		}
	}
	if typ == nil {
		switch {
		case m["properties"] != nil:
			typ = "object"
		case m["items"] != nil:
			typ = "array"
		default:
			typ = "object"
		}
	}
	switch typ {
	case "object":
		return g.object(m, depth)
	case "array":
		n := int(num(m["minItems"]))
		out := make([]any, 0, n)
		for range min(n, 64) {
			out = append(out, g.value(m["items"], depth+1))
		}
		return out
	case "string":
		s := g.str()
		if n := int(num(m["minLength"])); len(s) < n {
			s += strings.Repeat("x", min(n, 1<<16)-len(s))
		}
		if f, _ := m["format"].(string); f != "" {
			switch f {
			case "date-time":
				s = "2026-01-01T00:00:00Z"
			case "date":
				s = "2026-01-01"
			case "email":
				s = "user@example.com"
			case "uri":
				s = "https://example.com/"
			case "uuid":
				s = "00000000-0000-4000-8000-000000000000"
			}
		}
		return s
	case "integer":
		return math.Ceil(bound(m))
	case "number":
		return bound(m)
	case "boolean":
		return false
	case "null":
		return nil
	}
	return map[string]any{}
}

// bound is the smallest number m allows, 0 when it allows 0.
func bound(m map[string]any) float64 {
	lo := 0.0
	if v, ok := m["minimum"]; ok {
		lo = max(lo, num(v))
	}
	if v, ok := m["exclusiveMinimum"]; ok {
		lo = max(lo, num(v)+1)
	}
	if v, ok := m["maximum"]; ok && num(v) < lo {
		lo = num(v)
	}
	return lo
}

func (g *gen) object(m map[string]any, depth int) any {
	props, _ := m["properties"].(map[string]any)
	out := map[string]any{}
	required := map[string]bool{}
	if req, ok := m["required"].([]any); ok {
		for _, r := range req {
			if s, ok := r.(string); ok {
				required[s] = true
			}
		}
	}
	// Every property, required or not, in a stable order: strict schemas
	// (OpenAI's structured outputs) list all of them as required anyway.
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		out[k] = g.value(props[k], depth+1)
	}
	for k := range required {
		if _, ok := out[k]; !ok {
			out[k] = g.str()
		}
	}
	return out
}

// resolve follows a local reference ("#", "#/$defs/x", "#/definitions/x").
func (g *gen) resolve(ref string) any {
	if !strings.HasPrefix(ref, "#") {
		return nil
	}
	cur := g.root
	for _, p := range strings.Split(strings.TrimPrefix(ref, "#"), "/") {
		if p == "" {
			continue
		}
		p = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func num(v any) float64 {
	f, _ := v.(float64)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}
