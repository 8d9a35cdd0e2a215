package chat_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/imagefetch"
)

// TestImageURLs: an image URL of an allowed host (IMAGE_FETCH_HOSTS) is fetched
// and reaches Bedrock, which takes no URLs, inline; other hosts' URLs are
// refused for Bedrock and passed to the OpenAI-compatible provider unchanged;
// a failed fetch is a 400 naming the part, charged nothing.
func TestImageURLs(t *testing.T) {
	t.Parallel()
	png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(tinyPNG, "data:image/png;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	fetched := 0
	host := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cat.png" {
			http.NotFound(w, r)
			return
		}
		fetched++
		w.Header().Set("Content-Type", "image/png")
		w.Write(png)
	}))
	t.Cleanup(host.Close)
	g := newGateway(t, nil, func(a *app.App) {
		a.Images = imagefetch.New([]string{strings.TrimPrefix(host.URL, "https://")}, imagefetch.WithClient(host.Client()))
	})
	key := g.tenant("pictures", nil)
	ask := func(model, url string) response {
		return g.do("POST", "/v1/chat/completions", key, map[string]any{"model": model, "messages": []any{
			map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "text", "text": "what is this", "cache_control": map[string]any{"type": "ephemeral"}},
				map[string]any{"type": "image_url", "image_url": map[string]any{"url": url}},
			}},
		}})
	}

	if r := ask(bedrockModel, host.URL+"/cat.png"); r.Status != 200 {
		t.Fatalf("allowed host, Bedrock: %d %s", r.Status, r.Body)
	}
	reqs := g.Bedrock.Requests()
	blocks := reqs[len(reqs)-1].Messages[0].Content
	if len(blocks) != 3 || blocks[2].Image == nil || !bytes.Equal(blocks[2].Image.Source.Bytes, png) || fetched != 1 {
		t.Errorf("Bedrock received %+v after %d fetches, want the text, its cache point and the fetched PNG", blocks, fetched)
	}
	if r := ask("openai/gpt-a", host.URL+"/cat.png"); r.Status != 200 {
		t.Fatalf("allowed host, OpenAI: %d %s", r.Status, r.Body)
	}
	oa := g.OpenAI.Requests()
	if parts := oa[len(oa)-1].Body.Messages[0].Parts; len(parts) != 2 || parts[1].ImageURL == nil || parts[1].ImageURL.URL != tinyPNG {
		t.Errorf("the OpenAI-compatible provider received %+v, want the fetched image as a data URL", parts)
	}

	const elsewhere = "https://images.example.com/cat.png"
	wantError(t, ask(bedrockModel, elsewhere), 400, "invalid_value", "messages[0].content[1]")
	if r := ask("openai/gpt-a", elsewhere); r.Status != 200 {
		t.Fatalf("other host, OpenAI: %d %s", r.Status, r.Body)
	}
	oa = g.OpenAI.Requests()
	if parts := oa[len(oa)-1].Body.Messages[0].Parts; len(parts) != 2 || parts[1].ImageURL == nil || parts[1].ImageURL.URL != elsewhere {
		t.Errorf("the OpenAI-compatible provider received %+v, want the URL unchanged", parts)
	}

	before := len(g.OpenAI.Requests())
	r := ask("openai/gpt-a", host.URL+"/missing.png")
	wantError(t, r, 400, "invalid_image_url", "messages[0].content[1].image_url.url")
	if !strings.Contains(string(r.Body), "404") || len(g.OpenAI.Requests()) != before {
		t.Errorf("a failed fetch: %s; the provider was called %d times", r.Body, len(g.OpenAI.Requests())-before)
	}
}
