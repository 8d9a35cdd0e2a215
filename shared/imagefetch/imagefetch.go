// Package imagefetch downloads the images that chat requests give by URL, from
// the hosts a deployment allows, so that providers which take images inline
// only (Bedrock) can answer them.
//
// It is built against server-side request forgery: only https URLs of listed
// hosts are fetched (exact host and port, no user info), redirects are followed
// only to listed hosts and at most maxRedirects times, the body is read up to a
// byte limit, the whole fetch is bounded in time, and only image content types
// are accepted. Nothing is fetched when no host is listed.
package imagefetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of the limits.
const (
	DefaultMaxBytes = 5 << 20
	DefaultTimeout  = 5 * time.Second
	maxRedirects    = 3
)

// ErrNotAllowed is returned for a URL Fetch may not fetch.
var ErrNotAllowed = errors.New("imagefetch: not an https URL of an allowed host")

var errRedirects = fmt.Errorf("more than %d redirects", maxRedirects)

// Fetcher fetches images from allowed hosts. It is safe for concurrent use.
type Fetcher struct {
	hosts    map[string]bool // lower-case host, with the port when not 443
	maxBytes int64
	timeout  time.Duration
	client   *http.Client
}

// Option configures a Fetcher.
type Option func(*Fetcher)

// WithMaxBytes sets the largest image fetched.
func WithMaxBytes(n int64) Option { return func(f *Fetcher) { f.maxBytes = n } }

// WithTimeout bounds each fetch, redirects and body included.
func WithTimeout(d time.Duration) Option { return func(f *Fetcher) { f.timeout = d } }

// WithClient fetches with c (its redirect policy is replaced by the Fetcher's);
// tests pass an httptest TLS server's client.
func WithClient(c *http.Client) Option { return func(f *Fetcher) { f.client = c } }

// New returns a Fetcher for hosts ("images.example.com", or "host:8443"), or
// nil when hosts is empty: a nil Fetcher allows nothing.
func New(hosts []string, opts ...Option) *Fetcher {
	f := &Fetcher{hosts: map[string]bool{}, maxBytes: DefaultMaxBytes, timeout: DefaultTimeout}
	for _, h := range hosts {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			f.hosts[strings.TrimSuffix(h, ":443")] = true
		}
	}
	if len(f.hosts) == 0 {
		return nil
	}
	for _, o := range opts {
		o(f)
	}
	c := http.Client{}
	if f.client != nil {
		c = *f.client
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return errRedirects
		}
		if !f.allowed(req.URL) {
			return fmt.Errorf("imagefetch: redirect to %s: %w", req.URL.Redacted(), ErrNotAllowed)
		}
		return nil
	}
	f.client = &c
	return f
}

// Allowed reports whether Fetch may fetch rawURL.
func (f *Fetcher) Allowed(rawURL string) bool {
	if f == nil {
		return false
	}
	u, err := url.Parse(rawURL)
	return err == nil && f.allowed(u)
}

func (f *Fetcher) allowed(u *url.URL) bool {
	return u.Scheme == "https" && u.User == nil && u.Opaque == "" && f.hosts[strings.TrimSuffix(strings.ToLower(u.Host), ":443")]
}

// Fetch downloads the image at rawURL and returns its bytes and media type (from
// Content-Type; "" when the server sent none or application/octet-stream). Errors say what went wrong in
// words a client may read; they never carry the body.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) (data []byte, mediaType string, err error) {
	if !f.Allowed(rawURL) {
		return nil, "", ErrNotAllowed
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", ErrNotAllowed
	}
	req.Header.Set("Accept", "image/png, image/jpeg, image/gif, image/webp")
	resp, err := f.client.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, ErrNotAllowed):
			return nil, "", ErrNotAllowed
		case errors.Is(err, errRedirects):
			return nil, "", errRedirects
		}
		if ctx.Err() != nil {
			return nil, "", fmt.Errorf("no answer within %s", f.timeout)
		}
		return nil, "", errors.New("the image host could not be reached")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("the image host answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	// Storage services often serve images as application/octet-stream; the
	// caller finds out what the bytes are.
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err == nil && strings.HasPrefix(mt, "image/"):
			mediaType = mt
		case err == nil && mt == "application/octet-stream":
		default:
			return nil, "", fmt.Errorf("the URL is not an image (Content-Type %q)", clip(ct))
		}
	}
	if resp.ContentLength > f.maxBytes {
		return nil, "", fmt.Errorf("the image is larger than %d bytes", f.maxBytes)
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	switch {
	// A body cut by the deadline may read as a clean end (net/http returns
	// io.EOF in some races), so the deadline is checked whatever err says.
	case ctx.Err() != nil:
		return nil, "", fmt.Errorf("the image did not arrive within %s", f.timeout)
	case err != nil:
		return nil, "", errors.New("the image download broke off")
	case int64(len(data)) > f.maxBytes:
		return nil, "", fmt.Errorf("the image is larger than %d bytes", f.maxBytes)
	case len(data) == 0:
		return nil, "", errors.New("the image is empty")
	}
	return data, mediaType, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
