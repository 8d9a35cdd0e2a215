package extract_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/shared/extract"
)

// twoPages is the text of testdata/two-pages.ms, as both PDFs made of it
// (by gropdf and by Ghostscript) give it: a line per line of the page, "-2-"
// the page number groff heads the second page with, and the ligatures of
// "office", "file", "final", "fluid" and "flints" spelt out.
const twoPages = `Lighthouse Keeping Handbook
The keeper lights the lamp at dusk and trims the wick every four hours. Each night the keeper
records the weather, passing ships and oil used in the logbook kept on the lower landing.
Café crews from the harbour deliver fresh water every Tuesday — rain or shine.
-2-
Second page: the fog signal sounds twice a minute whenever visibility falls below two nautical miles.
Spare mantles are stored in the brass cabinet beside the stairs; the office staff file the final inventory
of fluid and flints.`

const pageHTML = "Orchard Co-op — Harvest Notes\n\n" +
	"Home | About\n\n" +
	"Harvest Notes\n\n" +
	"Apples are picked when the seeds turn dark brown, usually in late September.\n\n" +
	"Prices: 3 € per kilo & 5€ for two <premium> boxes.\n\n" +
	"Gala\nBraeburn\n\n" +
	"Variety\tStorage\nGala\t4 weeks\n\n" +
	"line one\n    indented line two\n\n" +
	"Contact: café desk\nopen daily"

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestText(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	tests := []struct {
		name        string
		filename    string
		contentType string
		data        []byte // or the fixture named filename
		want        string
		wantErr     error
		errHas      []string // in the error's message
	}{
		{name: "pdf by gropdf", filename: "two-pages.pdf", want: twoPages},
		{name: "pdf by ghostscript", filename: "two-pages-gs.pdf", want: twoPages},
		{name: "pdf of an image only", filename: "image-only.pdf", wantErr: extract.ErrEmpty},
		{name: "pdf truncated", filename: "truncated.pdf", wantErr: extract.ErrInvalid, errHas: []string{"truncated.pdf", "malformed PDF"}},
		{name: "pdf with a corrupt page keeps the others", filename: "corrupt-stream.pdf",
			want: twoPages[strings.Index(twoPages, "-2-"):]},
		{name: "pdf with a user password", filename: "password.pdf", wantErr: extract.ErrInvalid, errHas: []string{"protected by a password"}},
		{name: "pdf with an owner password only", filename: "owner-password.pdf", wantErr: extract.ErrInvalid, errHas: []string{"encrypted"}},
		{name: "pdf that is not", filename: "a.pdf", data: []byte("hello"), wantErr: extract.ErrInvalid},
		{name: "html", filename: "page.html", want: pageHTML},
		{name: "html of scripts only", filename: "x.htm", data: []byte("<script>x()</script><style>p{}</style>"), wantErr: extract.ErrEmpty},
		{name: "json", filename: "valid.json", want: string(fixture(t, "valid.json"))},
		{name: "json invalid", filename: "invalid.json", wantErr: extract.ErrInvalid, errHas: []string{"malformed JSON", "at byte 50"}},
		{name: "json with a byte order mark", filename: "b.json", data: []byte("\xef\xbb\xbf[1]"), want: "[1]"},
		{name: "text not UTF-8", filename: "latin1.txt", wantErr: extract.ErrInvalid, errHas: []string{"not UTF-8 (at byte 3)"}},
		{name: "text with CRLF", filename: "plain.txt", want: "Plain text file.\nSecond line with Windows line end.\n"},
		{name: "text in UTF-16", filename: "utf16le.txt", want: "Hi Ж 😀\n"},
		{name: "text in UTF-16 big-endian", filename: "be.txt", data: []byte("\xfe\xff\x00O\x00K"), want: "OK"},
		{name: "text in UTF-16, unpaired surrogate", filename: "s.txt", data: []byte("\xff\xfe\x3d\xd8A\x00"), wantErr: extract.ErrInvalid},
		{name: "markdown as is", filename: "notes.md", want: string(fixture(t, "notes.md"))},
		{name: "empty", filename: "e.txt", data: []byte{}, wantErr: extract.ErrEmpty},
		{name: "blank", filename: "e.md", data: []byte(" \n\t\n"), wantErr: extract.ErrEmpty},
		{name: "unsupported by name and type", filename: "photo.png", contentType: "image/png", data: png,
			wantErr: extract.ErrUnsupportedType, errHas: []string{`"photo.png" (image/png)`}},
		{name: "unsupported when sniffed", filename: "photo.png", contentType: "application/octet-stream", data: png,
			wantErr: extract.ErrUnsupportedType, errHas: []string{`"photo.png" (image/png)`}},
		{name: "extension before content type", filename: "A.TXT", contentType: "application/pdf", data: []byte("%PDF-1.4 not really"), want: "%PDF-1.4 not really"},
		{name: "content type without extension", filename: "upload", contentType: "text/html; charset=utf-8", data: []byte("<p>a</p><p>b"), want: "a\n\nb"},
		{name: "content type for an unknown extension", filename: "server.log", contentType: "text/plain", data: []byte("ok"), want: "ok"},
		{name: "content type unsupported", filename: "data.csv", contentType: "text/csv", data: []byte("a,b"), wantErr: extract.ErrUnsupportedType},
		{name: "sniffed text", filename: "README", data: []byte("read me"), want: "read me"},
		{name: "sniffed html", filename: "index", contentType: "application/octet-stream", data: []byte("<!DOCTYPE html><p>hi &amp; bye"), want: "hi & bye"},
		{name: "sniffed pdf", filename: "scan", data: fixture(t, "two-pages.pdf"), want: twoPages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data
			if data == nil {
				data = fixture(t, tt.filename)
			}
			got, err := extract.Text(tt.filename, tt.contentType, data)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Text(%q, %q) error = %v, want %v", tt.filename, tt.contentType, err, tt.wantErr)
				}
				for _, s := range tt.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("Text(%q) error %q does not say %q", tt.filename, err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Text(%q, %q) error = %v", tt.filename, tt.contentType, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Text(%q, %q) mismatch (-want +got):\n%s", tt.filename, tt.contentType, diff)
			}
		})
	}
}

func TestSupported(t *testing.T) {
	tests := []struct {
		filename, contentType string
		want                  bool
	}{
		{"a.pdf", "", true},
		{"dir/Notes.MD", "application/octet-stream", true},
		{`C:\docs\page.htm`, "", true},
		{"x.markdown", "image/png", true}, // the extension decides
		{"upload", "application/json", true},
		{"upload", "text/plain; charset=utf-8", true},
		{"README", "", true}, // sniffed
		{"README", "application/octet-stream", true},
		{"photo.png", "image/png", false},
		{"photo.png", "", false}, // an extension, none of ours, and nothing else to go by
		{"archive.zip", "application/zip", false},
		{"upload", "image/jpeg", false},
		{".pdf", "", true}, // a dot file is named so, with no extension: sniffed
	}
	for _, tt := range tests {
		if got := extract.Supported(tt.filename, tt.contentType); got != tt.want {
			t.Errorf("Supported(%q, %q) = %v, want %v", tt.filename, tt.contentType, got, tt.want)
		}
	}
	for _, ext := range extract.Extensions {
		if !extract.Supported("file"+ext, "") {
			t.Errorf("Supported(%q, \"\") = false for an entry of Extensions", "file"+ext)
		}
	}
}

// FuzzText checks that no input makes Text panic, that its text is always
// valid UTF-8 and not blank, and that every error is one of the three a
// client can be told.
func FuzzText(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data := fixture(f, e.Name())
		f.Add(e.Name(), data)
		for _, ext := range extract.Extensions {
			f.Add("seed"+ext, data) // every fixture as every type
		}
		f.Add("seed", data) // sniffed
	}
	f.Fuzz(func(t *testing.T, filename string, data []byte) {
		text, err := extract.Text(filename, "", data)
		if err != nil {
			if !errors.Is(err, extract.ErrUnsupportedType) && !errors.Is(err, extract.ErrEmpty) && !errors.Is(err, extract.ErrInvalid) {
				t.Fatalf("Text(%q) error %v is none of the exported ones", filename, err)
			}
			return
		}
		if !utf8.ValidString(text) {
			t.Fatalf("Text(%q) = %q, not valid UTF-8", filename, text)
		}
		if strings.TrimSpace(text) == "" {
			t.Fatalf("Text(%q) = %q, blank without ErrEmpty", filename, text)
		}
	})
}
