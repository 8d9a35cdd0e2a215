package model_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/tollgate/tollgate/shared/model"
)

func TestParseEntry(t *testing.T) {
	for s, want := range map[string]model.Kind{
		"openai/gpt-4o-mini":                        model.Chat,
		"openai/text-embedding-3-small":             model.Embedding,
		"bedrock/amazon.titan-embed-text-v2:0":      model.Embedding,
		"bedrock/cohere.embed-multilingual-v3":      model.Embedding,
		"bedrock/us.cohere.embed-v4:0":              model.Embedding,
		"echo/echo-embed-1":                         model.Embedding,
		"openai/bge-m3#embedding":                   model.Embedding,
		"openai/embedder-that-chats#chat":           model.Chat,
		"bedrock/anthropic.claude-3-5-haiku-2024:0": model.Chat,
	} {
		_, k, err := model.ParseEntry(s)
		if err != nil || k != want {
			t.Errorf("ParseEntry(%q) = %q, %v; want %q", s, k, err, want)
		}
	}
	for _, s := range []string{"openai/bge#vision", "openai/bge#", "gpt-4#chat", "#embedding"} {
		if _, _, err := model.ParseEntry(s); !errors.Is(err, model.ErrMalformed) {
			t.Errorf("ParseEntry(%q) = %v, want ErrMalformed", s, err)
		}
	}
}

func TestCatalog(t *testing.T) {
	chat := model.Name{Provider: model.Echo, Model: "echo-1"}
	emb := model.Name{Provider: model.Echo, Model: "echo-embed-1"}
	bge := model.Name{Provider: model.OpenAI, Model: "bge-m3"}
	c := model.NewCatalog([]model.Name{chat, emb, bge, chat}, map[model.Name]model.Kind{bge: model.Embedding})
	if c.Len() != 3 || !slices.Equal(c.Names(), []model.Name{chat, emb, bge}) {
		t.Errorf("Names = %v, want each once, in order", c.Names())
	}
	if !c.Has(bge) || c.Has(model.Name{Provider: model.OpenAI, Model: "x"}) || c.Kind(chat) != model.Chat || c.Kind(bge) != model.Embedding {
		t.Error("Has or Kind wrong")
	}
	if got := c.OfKind(model.Embedding); !slices.Equal(got, []model.Name{emb, bge}) {
		t.Errorf("OfKind(embedding) = %v", got)
	}
	var zero model.Catalog
	if zero.Len() != 0 || zero.Has(chat) || zero.Kind(chat) != "" {
		t.Error("the zero Catalog is not empty")
	}
}
