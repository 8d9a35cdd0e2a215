package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/shared/chat"
)

// ImageFetcher downloads the images of http(s) URLs from the hosts a deployment
// allows (imagefetch.Fetcher). Its errors are messages a client may read.
type ImageFetcher interface {
	Allowed(rawURL string) bool
	Fetch(ctx context.Context, rawURL string) (data []byte, mediaType string, err error)
}

// fetchImages replaces each image URL of an allowed host with the image's
// bytes, before the capability check and admission: every provider then gets
// the image inline (Bedrock takes no URLs), and the token bound knows its pixel
// size. URLs of other hosts are left as they are, for providers that fetch
// images themselves. A failed fetch refuses the request with a 400 naming the
// part, as OpenAI refuses an image it cannot download.
func (x *exchange) fetchImages(ctx context.Context) error {
	f := x.h.Images
	if f == nil {
		return nil
	}
	for i := range x.c.req.Messages {
		m := &x.c.req.Messages[i]
		for j := range m.Parts {
			p := &m.Parts[j]
			path := fmt.Sprintf("messages[%d].content[%d]", i, chat.ContentIndex(m.Parts, j))
			switch {
			case p.Kind == chat.PartImage:
				if err := fetchImage(ctx, f, p, path); err != nil {
					return err
				}
			case p.Kind == chat.PartToolResult && p.ToolResult != nil:
				// A tool message holds one result, whose parts are its content.
				parts := p.ToolResult.Parts
				for k := range parts {
					if q := &parts[k]; q.Kind == chat.PartImage {
						if err := fetchImage(ctx, f, q, fmt.Sprintf("messages[%d].content[%d]", i, chat.ContentIndex(parts, k))); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	return nil
}

func fetchImage(ctx context.Context, f ImageFetcher, p *chat.Part, path string) error {
	img := p.Image
	if img == nil || len(img.Data) > 0 || img.URL == "" || !f.Allowed(img.URL) {
		return nil
	}
	up := path + ".image_url.url"
	data, mt, err := f.Fetch(ctx, img.URL)
	if err != nil {
		return invalid("invalid_image_url", up, "%s: the image could not be fetched: %s", up, strings.TrimPrefix(err.Error(), "imagefetch: "))
	}
	if mt != "" {
		var ok bool
		if mt, ok = imageMediaType(mt); !ok {
			return invalid("invalid_image_format", up, "%s: the image type must be image/png, image/jpeg, image/gif or image/webp (got %q)", up, clip(mt))
		}
	}
	fetched, err := inlineImage(mt, data, img.Detail, up)
	if err != nil {
		return err
	}
	fetched.URL = img.URL
	p.Image = fetched
	return nil
}
