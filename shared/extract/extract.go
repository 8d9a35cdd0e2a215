// Package extract returns the plain text of an uploaded file, the first step
// of indexing it in a vector store: plain text, Markdown, JSON, HTML and PDF.
package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The errors Text returns wrap one of these, so that a caller can tell with
// errors.Is a file the client must fix (each is a 400) from a fault of ours.
var (
	// ErrUnsupportedType: the file is of none of the supported types. The
	// wrapping error names the file and its content type.
	ErrUnsupportedType = errors.New("unsupported file type")
	// ErrEmpty: the file has no extractable text (it is empty or blank, or a
	// PDF of images only).
	ErrEmpty = errors.New("no text in file")
	// ErrInvalid: the file is not what its type says: malformed JSON or PDF,
	// or text that is not UTF-8.
	ErrInvalid = errors.New("invalid file")
)

// Extensions are the file name extensions of the supported types, lower
// case, in the order error messages list them.
var Extensions = []string{".txt", ".md", ".markdown", ".json", ".html", ".htm", ".pdf"}

// kind is a supported type, or unknown.
type kind int

const (
	unknown kind = iota
	plain
	markdown
	jsonKind
	htmlKind
	pdfKind
)

var byExtension = map[string]kind{
	".txt": plain, ".md": markdown, ".markdown": markdown, ".json": jsonKind,
	".html": htmlKind, ".htm": htmlKind, ".pdf": pdfKind,
}

var byMediaType = map[string]kind{
	"text/plain": plain, "text/markdown": markdown, "text/x-markdown": markdown,
	"application/json": jsonKind, "text/json": jsonKind,
	"text/html": htmlKind, "application/xhtml+xml": htmlKind,
	"application/pdf": pdfKind, "application/x-pdf": pdfKind,
}

// decide returns the type of a file, or unknown, and whether Text should sniff
// the content. In order:
//
//  1. a supported extension of the name decides (case-insensitive), whatever
//     the content type says: clients often send application/octet-stream;
//  2. otherwise a supported content type decides (parameters ignored);
//  3. otherwise a content type that names another type (image/png) makes
//     the file unsupported;
//  4. otherwise (no content type, or application/octet-stream) Text sniffs
//     the first bytes with http.DetectContentType: text becomes plain text
//     (JSON included: the sniffer does not know JSON), HTML and PDF theirs.
func decide(filename, contentType string) (k kind, sniff bool) {
	if k := byExtension[extension(filename)]; k != unknown {
		return k, false
	}
	mt := mediaType(contentType)
	if k := byMediaType[mt]; k != unknown {
		return k, false
	}
	return unknown, generic(mt)
}

// Supported reports whether Text may accept a file of that name and content
// type, without reading it (for checking at upload time): true when the name
// has a supported extension or the content type is a supported one, and for a
// name without an extension and a missing or generic content type, since Text
// then sniffs the content. A true answer is no promise: the content may be
// invalid, empty, or sniffed as another type.
func Supported(filename, contentType string) bool {
	k, sniff := decide(filename, contentType)
	return k != unknown || sniff && extension(filename) == ""
}

// Text returns the plain text of a file, valid UTF-8, its type decided as
// Supported describes. Plain text and Markdown come back as they are, less a
// byte order mark and with line ends made "\n" (UTF-16 with a byte order
// mark is decoded); JSON likewise once validated; HTML as its visible text,
// one line per block; PDF as its pages' text, one line per line of text.
// Errors wrap ErrUnsupportedType, ErrEmpty or ErrInvalid.
func Text(filename, contentType string, data []byte) (string, error) {
	k, sniff := decide(filename, contentType)
	if k == unknown && sniff {
		k = sniffed(data)
	}
	var (
		text string
		err  error
	)
	switch k {
	case plain, markdown:
		text, err = decodeText(data)
	case jsonKind:
		text, err = decodeText(data)
		if err == nil && !json.Valid([]byte(text)) {
			err = fmt.Errorf("malformed JSON: %s: %w", jsonError(text), ErrInvalid)
		}
	case htmlKind:
		text, err = decodeText(data)
		if err == nil {
			text, err = htmlText(text)
		}
	case pdfKind:
		text, err = pdfText(data)
	default:
		return "", fmt.Errorf("extract: %s: %w", describe(filename, contentType, data), ErrUnsupportedType)
	}
	if err != nil {
		return "", fmt.Errorf("extract: %s: %w", quote(filename), err)
	}
	if strings.TrimSpace(text) == "" {
		return "", fmt.Errorf("extract: %s: %w", quote(filename), ErrEmpty)
	}
	return text, nil
}

// extension returns the lower-case extension of the last element of a path
// with either slash ("" for "README" or ".profile").
func extension(filename string) string {
	base := filename[strings.LastIndexAny(filename, `/\`)+1:]
	i := strings.LastIndexByte(base, '.')
	if i <= 0 {
		return ""
	}
	return strings.ToLower(base[i:])
}

func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		// A malformed parameter still leaves a usable type before the ';'.
		mt, _, _ = strings.Cut(contentType, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	return mt
}

// generic reports whether a media type says nothing of the content.
func generic(mt string) bool {
	switch mt {
	case "", "application/octet-stream", "binary/octet-stream", "application/binary", "application/unknown":
		return true
	}
	return false
}

func sniffed(data []byte) kind {
	switch mt := mediaType(http.DetectContentType(data)); {
	case mt == "text/plain":
		return plain // UTF-8, or UTF-16 with a byte order mark
	case mt == "text/html":
		return htmlKind
	case mt == "application/pdf":
		return pdfKind
	}
	return unknown
}

// describe names a file for an unsupported-type error: its name and the
// content type it came with, or else the one sniffed.
func describe(filename, contentType string, data []byte) string {
	ct := mediaType(contentType)
	if generic(ct) {
		ct = mediaType(http.DetectContentType(data))
	}
	return fmt.Sprintf("%s (%s)", quote(filename), ct)
}

func quote(filename string) string {
	const max = 100
	if len(filename) > max {
		filename = strings.ToValidUTF8(filename[:max], "") + "…"
	}
	return fmt.Sprintf("%q", filename)
}

// decodeText returns data as UTF-8 text with "\n" line ends: UTF-8, with or
// without a byte order mark, or UTF-16 with one.
func decodeText(data []byte) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		s, err := decodeUTF16(data)
		if err != nil {
			return "", err
		}
		data = []byte(s)
	}
	if i := invalidUTF8(data); i >= 0 {
		return "", fmt.Errorf("text is not UTF-8 (at byte %d): %w", i, ErrInvalid)
	}
	if bytes.IndexByte(data, '\r') >= 0 {
		data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		data = bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))
	}
	return string(data), nil
}

func decodeUTF16(data []byte) (string, error) {
	if len(data)%2 != 0 {
		return "", fmt.Errorf("UTF-16 text of an odd number of bytes: %w", ErrInvalid)
	}
	big := data[0] == 0xFE
	u := make([]uint16, 0, len(data)/2-1)
	for i := 2; i < len(data); i += 2 {
		if big {
			u = append(u, uint16(data[i])<<8|uint16(data[i+1]))
		} else {
			u = append(u, uint16(data[i+1])<<8|uint16(data[i]))
		}
	}
	for i := 0; i < len(u); i++ {
		switch c := u[i]; {
		case utf16.IsSurrogate(rune(c)) && c < 0xDC00 && i+1 < len(u) && u[i+1] >= 0xDC00 && u[i+1] < 0xE000:
			i++ // a well-formed pair
		case utf16.IsSurrogate(rune(c)):
			return "", fmt.Errorf("UTF-16 text with an unpaired surrogate (at byte %d): %w", 2+2*i, ErrInvalid)
		}
	}
	return string(utf16.Decode(u)), nil
}

// invalidUTF8 returns the offset of the first byte of data that is not part
// of valid UTF-8, or -1.
func invalidUTF8(data []byte) int {
	if utf8.Valid(data) {
		return -1
	}
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// jsonError describes why text is not JSON, with the offset where it stops
// being JSON.
func jsonError(text string) string {
	var v any
	err := json.Unmarshal([]byte(text), &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, max(se.Offset-1, 0))
	}
	if err != nil {
		return err.Error()
	}
	return "not JSON"
}
