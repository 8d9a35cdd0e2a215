package model

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is what a model does: chat completions or embeddings.
type Kind string

// The kinds.
const (
	Chat      Kind = "chat"
	Embedding Kind = "embedding"
)

// InferKind is the kind a model's id implies: embedding when it says "embed"
// (Amazon Titan Text Embeddings, Cohere Embed, OpenAI's text-embedding-*,
// nomic-embed-text, echo/echo-embed-1, ...), chat otherwise. A MODELS entry
// can say otherwise with a #chat or #embedding suffix.
func InferKind(n Name) Kind {
	if strings.Contains(strings.ToLower(n.Model), "embed") {
		return Embedding
	}
	return Chat
}

// ParseEntry parses a MODELS entry: "provider/model", optionally followed by
// "#chat" or "#embedding" for a model whose id does not tell (such as an
// OpenAI-compatible server's "bge-m3#embedding").
func ParseEntry(s string) (Name, Kind, error) {
	s, suffix, marked := strings.Cut(s, "#")
	n, err := Parse(s)
	if err != nil {
		return Name{}, "", err
	}
	if !marked {
		return n, InferKind(n), nil
	}
	switch k := Kind(suffix); k {
	case Chat, Embedding:
		return n, k, nil
	}
	return Name{}, "", fmt.Errorf("%w: %q: unknown kind %q after # (want chat or embedding)", ErrMalformed, s, suffix)
}

// Catalog is a deployment's models (MODELS), in order, each of one kind. The
// zero Catalog is empty.
type Catalog struct {
	names []Name
	kinds map[Name]Kind
}

// NewCatalog returns the catalog of names, each of the kind InferKind gives it
// unless kinds says otherwise. A name listed twice is kept once.
func NewCatalog(names []Name, kinds map[Name]Kind) Catalog {
	c := Catalog{kinds: map[Name]Kind{}}
	for _, n := range names {
		if _, dup := c.kinds[n]; dup {
			continue
		}
		k, ok := kinds[n]
		if !ok {
			k = InferKind(n)
		}
		c.names = append(c.names, n)
		c.kinds[n] = k
	}
	return c
}

// Of is the catalog of names with their inferred kinds.
func Of(names ...Name) Catalog { return NewCatalog(names, nil) }

// Names returns every model, in order.
func (c Catalog) Names() []Name { return slices.Clone(c.names) }

// Len is the number of models.
func (c Catalog) Len() int { return len(c.names) }

// Has reports whether n is in the catalog.
func (c Catalog) Has(n Name) bool {
	_, ok := c.kinds[n]
	return ok
}

// Kind returns n's kind; "" when n is not in the catalog.
func (c Catalog) Kind(n Name) Kind { return c.kinds[n] }

// OfKind returns the models of kind k, in order.
func (c Catalog) OfKind(k Kind) []Name {
	var out []Name
	for _, n := range c.names {
		if c.kinds[n] == k {
			out = append(out, n)
		}
	}
	return out
}
