package extract

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// skipped are the elements whose content is not text a reader sees.
var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Iframe: true, atom.Object: true, atom.Embed: true, atom.Canvas: true,
	atom.Svg: true, atom.Select: true, atom.Datalist: true,
	// In the head only the title is text; meta, link, base and the like have none.
	atom.Meta: true, atom.Link: true, atom.Base: true,
}

// breaks are the elements that start and end on a line of their own: 2 for
// those a blank line sets apart (paragraphs), 1 for the others.
var breaks = map[atom.Atom]int{
	atom.P: 2, atom.H1: 2, atom.H2: 2, atom.H3: 2, atom.H4: 2, atom.H5: 2, atom.H6: 2,
	atom.Blockquote: 2, atom.Pre: 2, atom.Table: 2, atom.Ul: 2, atom.Ol: 2, atom.Dl: 2,
	atom.Hr: 2, atom.Figure: 2, atom.Section: 2, atom.Article: 2, atom.Header: 2,
	atom.Footer: 2, atom.Aside: 2, atom.Nav: 2, atom.Main: 2, atom.Address: 2,
	atom.Details: 2, atom.Form: 2, atom.Fieldset: 2,
	atom.Title: 1, atom.Div: 1, atom.Li: 1, atom.Tr: 1, atom.Dt: 1, atom.Dd: 1,
	atom.Caption: 1, atom.Figcaption: 1, atom.Summary: 1, atom.Legend: 1,
	atom.Option: 1, atom.Body: 1, atom.Center: 1, atom.Dialog: 1, atom.Menu: 1,
}

// htmlText returns the text of an HTML document as a browser shows it, more
// or less: no scripts, styles or head elements but the title; entities
// decoded; white space collapsed but in pre and textarea; a line per block,
// a blank line after paragraphs, and table cells apart by tabs.
func htmlText(src string) (string, error) {
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		return "", err // never for a strings.Reader
	}
	var w textWriter
	pre := 0 // depth of pre and textarea elements around the node
	// Walk the tree without recursion: documents may nest deeply.
	n := doc
	for n != nil {
		enter := true
		switch n.Type {
		case html.TextNode:
			w.text(n.Data, pre > 0)
		case html.ElementNode:
			if skipped[n.DataAtom] || hasAttr(n, "hidden") {
				enter = false
				break
			}
			w.open(n.DataAtom)
			if n.DataAtom == atom.Pre || n.DataAtom == atom.Textarea || n.DataAtom == atom.Listing {
				pre++
			}
		}
		if enter && n.FirstChild != nil {
			n = n.FirstChild
			continue
		}
		if enter && n.Type == html.ElementNode {
			w.close(n.DataAtom, &pre)
		}
		// Leave n and every ancestor that has no next sibling.
		for n != nil && n.NextSibling == nil {
			n = n.Parent
			if n != nil && n.Type == html.ElementNode {
				w.close(n.DataAtom, &pre)
			}
		}
		if n != nil {
			n = n.NextSibling
		}
	}
	return w.String(), nil
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return true
		}
	}
	return false
}

// textWriter collects text with at most one space between words and at most
// one blank line between blocks, deciding separators only when the next
// word comes so none dangles at the end.
type textWriter struct {
	b        strings.Builder
	newlines int  // pending line breaks, at most 2
	space    bool // a pending space
	cell     bool // a pending cell separator
	rowStart bool // no cell of the current row has been written yet
}

func (w *textWriter) open(a atom.Atom) {
	switch a {
	case atom.Br:
		w.newlines = min(w.newlines+1, 2)
		if w.b.Len() == 0 {
			w.newlines = 0
		}
	case atom.Td, atom.Th:
		if !w.rowStart {
			w.cell = true
		}
		w.rowStart = false
	case atom.Tr:
		w.rowStart = true
	}
	w.block(a)
}

func (w *textWriter) close(a atom.Atom, pre *int) {
	if a == atom.Pre || a == atom.Textarea || a == atom.Listing {
		*pre--
	}
	w.block(a)
}

func (w *textWriter) block(a atom.Atom) {
	if n := breaks[a]; n > w.newlines && w.b.Len() > 0 {
		w.newlines = n
	}
}

// text writes the content of a text node: collapsed, or as it is in pre.
func (w *textWriter) text(s string, pre bool) {
	if pre {
		if s == "" {
			return
		}
		w.separate()
		w.b.WriteString(s)
		return
	}
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if unicode.IsSpace(r) {
			w.space = true
			s = s[n:]
			continue
		}
		end := strings.IndexFunc(s, unicode.IsSpace)
		if end < 0 {
			end = len(s)
		}
		w.separate()
		w.b.WriteString(s[:end])
		s = s[end:]
	}
}

// separate writes what is pending before the next text.
func (w *textWriter) separate() {
	switch {
	case w.b.Len() == 0:
	case w.newlines > 0:
		w.b.WriteString("\n\n"[:w.newlines])
	case w.cell:
		w.b.WriteByte('\t')
	case w.space:
		w.b.WriteByte(' ')
	}
	w.newlines, w.space, w.cell = 0, false, false
}

func (w *textWriter) String() string { return w.b.String() }
