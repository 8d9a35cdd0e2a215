package extract

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"
)

// maxPages bounds the pages read, against a page count no file has.
const maxPages = 10000

// pdfText returns the text of a PDF, its pages' text joined with newlines.
//
// The library's own text extraction (Page.GetPlainText) writes every line of
// a text object without a break between them ("lazy dog.Next"), so each page's
// content stream is interpreted here instead, tracking where each string is
// shown: a line break where the text moves to another line, a space where it
// jumps ahead on the same one (as pdfTeX and Ghostscript set word spaces).
//
// The library panics on many malformed files; a panic while opening the file
// makes it invalid, one within a page ends that page's text where it came (the
// pages before and after it are kept). Only a file none of whose pages can be
// read is invalid.
func pdfText(data []byte) (text string, err error) {
	r, err := openPDF(data)
	if errors.Is(err, pdf.ErrInvalidPassword) {
		return "", fmt.Errorf("the PDF is protected by a password: %w", ErrInvalid)
	}
	if err != nil {
		return "", fmt.Errorf("malformed PDF: %s: %w", clip(err.Error()), ErrInvalid)
	}
	n, err := numPages(r)
	if err != nil {
		return "", fmt.Errorf("malformed PDF: %s: %w", clip(err.Error()), ErrInvalid)
	}
	var (
		b        strings.Builder
		firstErr error
		good     int
	)
	for i := 1; i <= min(n, maxPages); i++ {
		p, err := page(r, i)
		if err == nil && p.V.IsNull() {
			break // past the real pages: the count was wrong
		}
		if i > 1 {
			b.WriteByte('\n')
		}
		if err == nil {
			err = pageText(&b, p)
		}
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		good++
	}
	if good == 0 && firstErr != nil {
		if encrypted(r) {
			// The library decrypts only some files (not even every RC4 one).
			return "", fmt.Errorf("the PDF is encrypted, and its text cannot be read: %w", ErrInvalid)
		}
		return "", fmt.Errorf("malformed PDF: %s: %w", clip(firstErr.Error()), ErrInvalid)
	}
	return strings.TrimSpace(strings.ToValidUTF8(b.String(), "\uFFFD")), nil
}

func clip(s string) string {
	const max = 200
	if len(s) > max {
		return strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}

// recovered turns a panic into *err.
func recovered(err *error) {
	if x := recover(); x != nil {
		if e, ok := x.(error); ok {
			*err = e
		} else {
			*err = fmt.Errorf("%v", x)
		}
	}
}

func openPDF(data []byte) (r *pdf.Reader, err error) {
	defer recovered(&err)
	return pdf.NewReader(bytes.NewReader(data), int64(len(data)))
}

func numPages(r *pdf.Reader) (n int, err error) {
	defer recovered(&err)
	return r.NumPage(), nil
}

func encrypted(r *pdf.Reader) (yes bool) {
	defer func() { _ = recover() }()
	return !r.Trailer().Key("Encrypt").IsNull()
}

func page(r *pdf.Reader, i int) (p pdf.Page, err error) {
	defer recovered(&err)
	return r.Page(i), nil
}

// matrix is a PDF transformation matrix [a b c d e f].
type matrix [6]float64

var identity = matrix{1, 0, 0, 1, 0, 0}

// mul returns m × n: m applied first.
func (m matrix) mul(n matrix) matrix {
	return matrix{
		m[0]*n[0] + m[1]*n[2], m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2], m[2]*n[1] + m[3]*n[3],
		m[4]*n[0] + m[5]*n[2] + n[4], m[4]*n[1] + m[5]*n[3] + n[5],
	}
}

func translate(x, y float64) matrix { return matrix{1, 0, 0, 1, x, y} }

// font is what showing text needs of a font: how its codes decode and how
// far each moves the pen, in thousandths of the font size.
type font struct {
	enc      pdf.TextEncoding
	twoByte  bool // a Type0 font with 2-byte codes (Identity-H)
	first    int
	widths   []float64
	cid      map[int]float64 // a Type0 font's widths, from its W array
	fallback float64         // width of a code the font does not size
}

func newFont(f pdf.Font) *font {
	ft := &font{enc: f.Encoder(), fallback: 500}
	if f.V.Key("Subtype").Name() == "Type0" {
		ft.twoByte = true
		ft.cid = map[int]float64{}
		d := f.V.Key("DescendantFonts").Index(0)
		ft.fallback = 1000
		if dw := d.Key("DW"); dw.Kind() == pdf.Integer || dw.Kind() == pdf.Real {
			ft.fallback = dw.Float64()
		}
		w := d.Key("W")
		for i := 0; i+1 < w.Len() && len(ft.cid) < 1<<16; {
			c := int(w.Index(i).Int64())
			if next := w.Index(i + 1); next.Kind() == pdf.Array {
				for j := 0; j < next.Len() && j < 1<<16; j++ {
					ft.cid[c+j] = next.Index(j).Float64()
				}
				i += 2
				continue
			}
			if i+2 >= w.Len() {
				break
			}
			last, width := int(w.Index(i+1).Int64()), w.Index(i+2).Float64()
			for k := c; k <= last && k-c < 1<<16; k++ {
				ft.cid[k] = width
			}
			i += 3
		}
		return ft
	}
	ft.first = f.FirstChar()
	ws := f.V.Key("Widths")
	for i := 0; i < ws.Len() && i < 256; i++ {
		ft.widths = append(ft.widths, ws.Index(i).Float64())
	}
	return ft
}

// decode returns the text of raw. Apart, it puts a space between every two
// glyphs: some producers (Ghostscript) set a word space as character spacing
// wide enough to look like one, around a string of two glyphs ("(,p)").
func (f *font) decode(raw string, apart bool) string {
	if !apart {
		return f.enc.Decode(raw)
	}
	step := 1
	if f.twoByte {
		step = 2
	}
	var b strings.Builder
	for i := 0; i+step <= len(raw); i += step {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f.enc.Decode(raw[i : i+step]))
	}
	return b.String()
}

// spaceWidth returns how far code 32 moves the pen, in text space.
func (f *font) spaceWidth(size, tc, tw float64) float64 {
	w, _, _ := f.advance(" ")
	return w/1000*size + tc + tw
}

// advance returns the width of raw, in thousandths of the font size, and the
// number of spaces in it (word spacing applies to code 32 of 1-byte fonts).
func (f *font) advance(raw string) (width float64, codes, spaces int) {
	if f.twoByte {
		for i := 0; i+1 < len(raw); i += 2 {
			w, ok := f.cid[int(raw[i])<<8|int(raw[i+1])]
			if !ok {
				w = f.fallback
			}
			width += w
			codes++
		}
		return width, codes, 0
	}
	for i := 0; i < len(raw); i++ {
		c := int(raw[i])
		if j := c - f.first; j >= 0 && j < len(f.widths) && f.widths[j] > 0 {
			width += f.widths[j]
		} else {
			width += f.fallback
		}
		if c == ' ' {
			spaces++
		}
	}
	return width, len(raw), spaces
}

// textState is the part of the graphics state that places text.
type textState struct {
	ctm              matrix
	font             *font
	size, tc, tw, th float64 // Tf size, Tc, Tw, Tz/100
	leading          float64 // TL
	tm, tlm          matrix
}

// pageWriter writes a page's text with separators from where strings are shown.
type pageWriter struct {
	b       *strings.Builder
	started bool    // something is written on this page
	x, y    float64 // where the last string ended, in device space
	em      float64 // its font size, in device space
}

// show writes s, shown at (x, y) with font size em, all in device space,
// after a line break or space if the pen moved.
func (w *pageWriter) show(s string, x, y, em float64) {
	if s == "" {
		return
	}
	if w.started {
		e := max(em, w.em)
		dy, dx := y-w.y, x-w.x
		first, _ := utf8.DecodeRuneInString(s)
		last := lastRune(w.b.String())
		switch {
		case math.Abs(dy) > 0.5*e:
			if last != '\n' {
				w.b.WriteByte('\n')
			}
		case (dx > 0.15*e || dx < -e) && !unicode.IsSpace(first) && !unicode.IsSpace(last):
			w.b.WriteByte(' ')
		}
	}
	w.b.WriteString(s)
	w.started = true
	w.em = em
}

func lastRune(s string) rune {
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}

// pageText writes the text of one page to b.
func pageText(b *strings.Builder, p pdf.Page) (err error) {
	defer recovered(&err)
	contents := p.V.Key("Contents")
	if contents.IsNull() {
		return nil
	}
	fonts := map[string]*font{}
	res := p.V.Key("Resources")
	for v, depth := p.V.Key("Parent"), 0; res.IsNull() && !v.IsNull() && depth < 64; v, depth = v.Key("Parent"), depth+1 {
		res = v.Key("Resources") // inherited from the page tree (which may loop)
	}
	w := pageWriter{b: b}
	g := textState{ctm: identity, th: 1, tm: identity, tlm: identity}
	var stack []textState
	pos := func() (x, y, em float64) {
		t := g.tm.mul(g.ctm)
		em = math.Abs(g.size) * math.Sqrt(math.Abs(t[0]*t[3]-t[1]*t[2]))
		return t[4], t[5], em
	}
	show := func(raw string) {
		x, y, em := pos()
		var s string
		width, codes, spaces := 500.0*float64(len(raw)), len(raw), 0
		if g.font != nil {
			width, codes, spaces = g.font.advance(raw)
			if spaces > 0 && g.font.spaceWidth(g.size, g.tc, g.tw)*g.th < 0.1*math.Abs(g.size) {
				// Word spacing that cancels the space (Ghostscript sets a
				// justified line so, "(ev e)" with -2.15 Tw): no space shows.
				raw = strings.ReplaceAll(raw, " ", "")
			}
			s = g.font.decode(raw, g.tc*g.th > 0.15*math.Abs(g.size))
		} else {
			s = raw
		}
		w.show(printable(s), x, y, em)
		tx := (width/1000*g.size + float64(codes)*g.tc + float64(spaces)*g.tw) * g.th
		g.tm = translate(tx, 0).mul(g.tm)
		w.x, w.y, _ = pos()
	}
	nextLine := func() {
		g.tlm = translate(0, -g.leading).mul(g.tlm)
		g.tm = g.tlm
	}
	pdf.Interpret(contents, func(stk *pdf.Stack, op string) {
		n := stk.Len()
		args := make([]pdf.Value, n)
		for i := n - 1; i >= 0; i-- {
			args[i] = stk.Pop()
		}
		num := func(i int) float64 {
			if i < len(args) {
				return args[i].Float64()
			}
			return 0
		}
		mat := func() matrix {
			var m matrix
			for i := range m {
				m[i] = num(len(args) - 6 + i)
			}
			return m
		}
		switch op {
		case "q":
			if len(stack) < 1024 {
				stack = append(stack, g)
			}
		case "Q":
			if len(stack) > 0 {
				g = stack[len(stack)-1]
				stack = stack[:len(stack)-1]
			}
		case "cm":
			if len(args) >= 6 {
				g.ctm = mat().mul(g.ctm)
			}
		case "BT":
			g.tm, g.tlm = identity, identity
		case "Tf":
			if len(args) >= 2 {
				name := args[len(args)-2].Name()
				f, ok := fonts[name]
				if !ok && len(fonts) < 1024 {
					if fv := res.Key("Font").Key(name); !fv.IsNull() {
						f = newFont(pdf.Font{V: fv})
					}
					fonts[name] = f
				}
				g.font, g.size = f, num(len(args)-1)
			}
		case "Tc":
			g.tc = num(len(args) - 1)
		case "Tw":
			g.tw = num(len(args) - 1)
		case "Tz":
			g.th = num(len(args)-1) / 100
		case "TL":
			g.leading = num(len(args) - 1)
		case "TD", "Td":
			if len(args) >= 2 {
				tx, ty := num(len(args)-2), num(len(args)-1)
				if op == "TD" {
					g.leading = -ty
				}
				g.tlm = translate(tx, ty).mul(g.tlm)
				g.tm = g.tlm
			}
		case "Tm":
			if len(args) >= 6 {
				g.tm = mat()
				g.tlm = g.tm
			}
		case "T*":
			nextLine()
		case "'", "\"":
			if op == "\"" && len(args) >= 3 {
				g.tw, g.tc = num(len(args)-3), num(len(args)-2)
			}
			nextLine()
			if len(args) >= 1 {
				show(args[len(args)-1].RawString())
			}
		case "Tj":
			if len(args) >= 1 {
				show(args[len(args)-1].RawString())
			}
		case "TJ":
			if len(args) < 1 {
				break
			}
			a := args[len(args)-1]
			for i := 0; i < a.Len(); i++ {
				switch v := a.Index(i); v.Kind() {
				case pdf.String:
					show(v.RawString())
				case pdf.Integer, pdf.Real:
					g.tm = translate(-v.Float64()/1000*g.size*g.th, 0).mul(g.tm)
				}
			}
		}
	})
	return nil
}

// ligatures are the Latin ligature characters fonts map their ligature
// glyphs to, and their letters: "ﬁnal" is searched for as "final".
var ligatures = strings.NewReplacer("\uFB00", "ff", "\uFB01", "fi", "\uFB02", "fl",
	"\uFB03", "ffi", "\uFB04", "ffl", "\uFB05", "st", "\uFB06", "st")

// printable drops control characters, which fonts without a proper map to
// Unicode decode some codes to, but keeps tabs and line breaks; and spells
// out ligatures.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || !unicode.IsControl(r) {
			return r
		}
		if r == '\r' {
			return '\n'
		}
		return -1
	}, s)
	return ligatures.Replace(s)
}
