package imagefetch_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/imagefetch"
)

var png = []byte("\x89PNG\r\n\x1a\n not really, the fetcher does not decode")

// server is an image host over TLS: /img.png is an image, /big is larger than
// the limit, /text is not an image, /slow never finishes, /redirect-in and
// /redirect-out redirect to an allowed and another host, /loop redirects to
// itself.
func server(t *testing.T, other string) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/img.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(png)
	})
	mux.HandleFunc("/nolength", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.(http.Flusher).Flush() // chunked: no Content-Length
		w.Write(bytes.Repeat([]byte("x"), 2048))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(bytes.Repeat([]byte("x"), 2048))
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>"))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
	})
	mux.HandleFunc("/redirect-in", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/img.png", http.StatusFound)
	})
	mux.HandleFunc("/redirect-out", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other+"/img.png", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	ts := httptest.NewTLSServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func TestFetch(t *testing.T) {
	ts := server(t, "https://127.0.0.2:1")
	host := strings.TrimPrefix(ts.URL, "https://")
	f := imagefetch.New([]string{" " + strings.ToUpper(host) + " "}, imagefetch.WithClient(ts.Client()),
		imagefetch.WithMaxBytes(1024), imagefetch.WithTimeout(500*time.Millisecond))

	data, mt, err := f.Fetch(context.Background(), ts.URL+"/img.png")
	if err != nil || !bytes.Equal(data, png) || mt != "image/png" {
		t.Fatalf("Fetch(img.png) = %q, %q, %v", data, mt, err)
	}
	if data, _, err := f.Fetch(context.Background(), ts.URL+"/redirect-in"); err != nil || !bytes.Equal(data, png) {
		t.Errorf("a redirect within the allowed host: %q, %v", data, err)
	}

	for _, tt := range []struct{ path, want string }{
		{"/big", "larger than 1024 bytes"},
		{"/nolength", "larger than 1024 bytes"},
		{"/text", "not an image"},
		{"/missing", "answered 404"},
		{"/empty", "is empty"},
		{"/slow", "within 500ms"},
		{"/loop", "more than 3 redirects"},
	} {
		_, _, err := f.Fetch(context.Background(), ts.URL+tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Fetch(%s) = %v, want an error saying %q", tt.path, err, tt.want)
		}
	}
	for _, u := range []string{
		ts.URL + "/redirect-out",                                 // to a host not listed
		strings.Replace(ts.URL, "https", "http", 1) + "/img.png", // not https
		"https://user:pw@" + host + "/img.png",                   // user info
		"https://169.254.169.254/latest/meta-data/",              // not listed
		"https://" + host + ".evil.example/img.png",              // a longer host
		"file:///etc/passwd",
		"https://" + host + "\x00/img.png",
	} {
		if _, _, err := f.Fetch(context.Background(), u); !errors.Is(err, imagefetch.ErrNotAllowed) {
			t.Errorf("Fetch(%q) = %v, want ErrNotAllowed", u, err)
		}
	}
}

func TestAllowed(t *testing.T) {
	f := imagefetch.New([]string{"images.example.com", "cdn.example.com:8443"})
	for u, want := range map[string]bool{
		"https://images.example.com/a.png":     true,
		"https://IMAGES.example.com:443/a.png": true,
		"https://images.example.com:8443/a":    false,
		"https://cdn.example.com:8443/a.png":   true,
		"https://cdn.example.com/a.png":        false,
		"http://images.example.com/a.png":      false,
		"https://other.example.com/a.png":      false,
		"https://a@images.example.com/a.png":   false,
		"://bad":                               false,
	} {
		if got := f.Allowed(u); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", u, got, want)
		}
	}
	var none *imagefetch.Fetcher = imagefetch.New(nil)
	if none != nil || none.Allowed("https://images.example.com/a.png") {
		t.Error("a Fetcher without hosts must be nil and allow nothing")
	}
}
