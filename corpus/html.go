package corpus

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
)

// ParseHTML splits an HTML page into records, one per h1–h3 section, as ParseMarkdown does for
// Markdown (FAQ headings included).
//
// The page's URL is "/" + path, so path should be the file's path from the site root
// ("topics/db/models.html"): documentation sets repeat titles ("Models", "Index") across pages, so
// the path, not the title, names the page in URLs and IDs ("topics-db-models--quick-example").
//
// The page title is the <title> without a site suffix ("Models — Django 3.2 documentation" ->
// "Models"), else the first h1, else the file name. Only visible text is kept: no script, style,
// nav, footer, noscript or template, no header outside an article, nothing hidden, no navigation or
// search landmarks, no Sphinx sidebars, DocBook navigation bars or tables of contents, no "¶"
// permalinks. When the page marks its main content (<main>, role="main"), only that is read. When a
// top-level heading repeats the title, it is the page's own heading and everything before it
// (banners, site names) is dropped. Headings inside notes and warnings stay in their section's text.
//
// A heading's anchor is its id, else the target of its permalink, else the id of an element inside
// it, else the id of the nearest enclosing element it is the first heading of (Sphinx <section>,
// DocBook <div class="sect2">, Javadoc <section>), else a slug of its text. Whitespace is collapsed,
// block elements end lines, <pre> keeps its lines. A page in another charset than UTF-8 (declared in
// a <meta> tag or by a byte order mark) is decoded.
func ParseHTML(path string, r io.Reader) ([]Document, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &RecordError{Path: path, Err: fmt.Errorf("read: %w", err)}
	}
	root, err := html.Parse(bytes.NewReader(toUTF8(data)))
	if err != nil {
		return nil, &RecordError{Path: path, Err: fmt.Errorf("parse HTML: %w", err)}
	}
	w := htmlWalker{}
	for _, n := range mainContent(root) {
		w.walk(n, htmlContext{})
	}
	w.endSection()

	p := page{
		path:  path,
		url:   (&url.URL{Path: "/" + strings.TrimLeft(filepath.ToSlash(path), "./")}).EscapedPath(),
		title: stripSiteSuffix(collapseSpace(htmlTitle(root))),
	}
	sections, intro := w.sections, w.intro
	head := -1
	if p.title != "" {
		// The page's own heading is a top-level heading that repeats the title.
		want, top := headingKey(p.title), 3
		for _, s := range sections {
			top = min(top, s.level)
		}
		head = slices.IndexFunc(sections, func(s section) bool { return s.level == top && headingKey(s.title) == want })
		if head >= 0 {
			intro = ""
		}
	}
	if head < 0 && len(sections) > 0 && sections[0].level == 1 {
		head = 0
	}
	if p.title == "" {
		if i := slices.IndexFunc(sections, func(s section) bool { return s.level == 1 }); i >= 0 {
			p.title = sections[i].title
		}
	}
	if head >= 0 {
		p.head = &sections[head]
		intro = strings.TrimSpace(intro + "\n\n" + sections[head].body)
		sections = sections[head+1:]
	}
	p.intro, p.sections = intro, sections
	return p.records(), nil
}

// toUTF8 decodes a page to UTF-8. A page that is valid UTF-8 is taken as such, whatever it declares
// (ASCII pages and pages mislabelled "iso-8859-1" are common); otherwise its byte order mark or
// declared charset decides, and Windows-1252 (what browsers assume) when it declares none.
func toUTF8(data []byte) []byte {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	e, _, certain := charset.DetermineEncoding(data, "")
	if (!certain || e == encoding.Nop) && utf8.Valid(data) {
		return data
	}
	if e != encoding.Nop {
		if out, err := e.NewDecoder().Bytes(data); err == nil {
			data = out
		}
	}
	return bytes.ToValidUTF8(data, []byte("\uFFFD"))
}

// htmlWalker collects the text of a page, split at its h1–h3 headings.
type htmlWalker struct {
	intro    string
	sections []section
	cur      *section
	tb       textBuilder
	// pending holds the ids of the open elements that have seen neither text nor a heading yet: the
	// innermost one names the next heading's section. A consumed entry is "".
	pending []string
	live    int // non-empty entries of pending
}

// consumePending marks every open element as having content: none of them can name a later heading.
func (w *htmlWalker) consumePending() {
	if w.live == 0 {
		return
	}
	for i := range w.pending {
		w.pending[i] = ""
	}
	w.live = 0
}

// htmlContext is what the walker knows about a node's ancestors. (The recursion over the tree is
// bounded: html.Parse refuses pages nested more than 512 elements deep.)
type htmlContext struct {
	pre     bool // inside <pre>: keep lines
	aside   bool // inside a note or warning: headings are text
	article bool // inside <article> or <main>: a <header> belongs to the content
}

func (w *htmlWalker) walk(n *html.Node, ctx htmlContext) {
	switch n.Type {
	case html.TextNode:
		if strings.TrimSpace(n.Data) != "" {
			w.consumePending()
		}
		if ctx.pre {
			w.preText(n.Data)
		} else {
			w.tb.Text(n.Data)
		}
		return
	case html.DocumentNode:
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			w.walk(c, ctx)
		}
		return
	case html.ElementNode:
	default:
		return
	}
	if skipElement(n, ctx) {
		return
	}
	level := headingLevel(n)
	if level > 0 {
		anchor := headingAnchor(n)
		if anchor == "" && len(w.pending) > 0 {
			anchor = w.pending[len(w.pending)-1]
		}
		w.consumePending()
		if level <= 3 && !ctx.aside {
			w.endSection()
			w.cur = &section{level: level, title: headingText(n), anchor: anchor}
			return
		}
	}
	id := attr(n, "id")
	if id != "" {
		w.pending = append(w.pending, id)
		w.live++
	}
	brk := blockBreak(n)
	w.tb.Break(brk)
	switch n.DataAtom {
	case atom.Br:
		w.tb.Break(1)
	case atom.Td, atom.Th:
		w.tb.Text(" ")
	case atom.Pre:
		ctx.pre = true
	case atom.Article, atom.Main:
		ctx.article = true
	}
	if isAside(n) {
		ctx.aside = true
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c, ctx)
	}
	w.tb.Break(brk)
	if id != "" {
		if w.pending[len(w.pending)-1] != "" {
			w.live--
		}
		w.pending = w.pending[:len(w.pending)-1]
	}
}

// preText writes preformatted text line by line.
func (w *htmlWalker) preText(s string) {
	for i, line := range strings.Split(strings.ReplaceAll(s, "\r", ""), "\n") {
		if i > 0 {
			w.tb.Break(1)
		}
		w.tb.Raw(line)
	}
}

// endSection files the text collected since the last heading.
func (w *htmlWalker) endSection() {
	body := strings.TrimSpace(w.tb.String())
	if w.cur == nil {
		w.intro = body
	} else {
		w.cur.body = body
		w.sections = append(w.sections, *w.cur)
	}
	w.tb = textBuilder{}
}

// skipElement reports whether an element holds no content worth indexing.
func skipElement(n *html.Node, ctx htmlContext) bool {
	switch n.DataAtom {
	case atom.Head, atom.Script, atom.Style, atom.Nav, atom.Footer, atom.Noscript, atom.Template,
		atom.Svg, atom.Math, atom.Button, atom.Form, atom.Select, atom.Textarea, atom.Iframe,
		atom.Object, atom.Canvas, atom.Audio, atom.Video:
		return true
	case atom.Header:
		if !ctx.article {
			return true
		}
	case atom.A:
		if isPermalink(n) {
			return true
		}
	}
	for _, a := range n.Attr {
		switch a.Key {
		case "hidden":
			return true
		case "aria-hidden":
			if a.Val == "true" {
				return true
			}
		case "role":
			switch strings.ToLower(a.Val) {
			case "navigation", "banner", "contentinfo", "search", "menu", "menubar", "toolbar":
				return true
			}
		case "style":
			if strings.Contains(strings.ReplaceAll(strings.ToLower(a.Val), " ", ""), "display:none") {
				return true
			}
		case "class", "id":
			for _, t := range strings.Fields(strings.ToLower(a.Val)) {
				switch t {
				case "sidebar", "sphinxsidebar", "related", "navheader", "navfooter", "nav", "navbar",
					"breadcrumb", "breadcrumbs", "headerlink", "footer", "toc":
					return true
				}
			}
		}
	}
	return false
}

// isPermalink reports whether n is a heading's permalink: an in-page link whose text is only a
// pilcrow, hash or section sign (Sphinx "¶", Node.js "#").
func isPermalink(n *html.Node) bool {
	if !strings.HasPrefix(attr(n, "href"), "#") {
		return false
	}
	if slices.Contains(strings.Fields(attr(n, "class")), "headerlink") {
		return true
	}
	switch strings.TrimSpace(flatText(n)) {
	case "¶", "#", "§", "🔗":
		return true
	}
	return false
}

// isAside reports whether n is an admonition (a note, tip or warning), whose headings are not sections.
func isAside(n *html.Node) bool {
	for _, t := range strings.Fields(strings.ToLower(attr(n, "class"))) {
		switch t {
		case "note", "tip", "hint", "warning", "caution", "important", "attention", "danger", "error",
			"admonition", "seealso":
			return true
		}
	}
	return false
}

// blockBreak returns the break an element puts around its text: 2 for paragraph-like blocks, 1 for
// line-like ones, 0 for inline elements.
func blockBreak(n *html.Node) int {
	switch n.DataAtom {
	case atom.P, atom.Pre, atom.Blockquote, atom.Table, atom.Ul, atom.Ol, atom.Dl, atom.H1, atom.H2,
		atom.H3, atom.H4, atom.H5, atom.H6, atom.Section, atom.Article, atom.Figure, atom.Hr,
		atom.Address, atom.Details, atom.Fieldset, atom.Main:
		return 2
	case atom.Div, atom.Li, atom.Tr, atom.Dt, atom.Dd, atom.Caption, atom.Figcaption, atom.Summary,
		atom.Header, atom.Aside, atom.Option, atom.Body:
		return 1
	}
	return 0
}

func headingLevel(n *html.Node) int {
	switch n.DataAtom {
	case atom.H1:
		return 1
	case atom.H2:
		return 2
	case atom.H3:
		return 3
	case atom.H4, atom.H5, atom.H6:
		return 4
	}
	return 0
}

// headingText returns the visible text of a heading on one line.
func headingText(n *html.Node) string {
	var w htmlWalker
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c, htmlContext{aside: true})
	}
	return collapseSpace(w.tb.String())
}

// headingAnchor returns the anchor a heading gives itself: its id, its permalink's target, or the id
// of an element inside it. It returns "" when it gives none.
func headingAnchor(h *html.Node) string {
	if id := attr(h, "id"); id != "" {
		return id
	}
	var inner string
	var find func(n *html.Node) string
	find = func(n *html.Node) string {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode {
				continue
			}
			if c.DataAtom == atom.A && isPermalink(c) {
				href := attr(c, "href")[1:]
				if u, err := url.PathUnescape(href); err == nil {
					href = u
				}
				if href != "" {
					return href
				}
			}
			if inner == "" {
				inner = attr(c, "id")
				if inner == "" && c.DataAtom == atom.A {
					inner = attr(c, "name")
				}
			}
			if a := find(c); a != "" {
				return a
			}
		}
		return ""
	}
	if a := find(h); a != "" {
		return a
	}
	return inner
}

// mainContent returns the elements marked as the page's main content, or the whole document.
func mainContent(root *html.Node) []*html.Node {
	var mains []*html.Node
	var find func(n *html.Node)
	find = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.DataAtom == atom.Main || strings.EqualFold(attr(n, "role"), "main")) {
			mains = append(mains, n)
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			find(c)
		}
	}
	find(root)
	if len(mains) == 0 {
		return []*html.Node{root}
	}
	return mains
}

// htmlTitle returns the text of the first <title>.
func htmlTitle(root *html.Node) string {
	var title string
	var find func(n *html.Node) bool
	find = func(n *html.Node) bool {
		if n.Type == html.ElementNode && n.DataAtom == atom.Title {
			title = flatText(n)
			return true
		}
		if n.DataAtom == atom.Body {
			return false
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if find(c) {
				return true
			}
		}
		return false
	}
	find(root)
	return title
}

// stripSiteSuffix drops a documentation site's name from a page title: "Path | Node.js v18
// Documentation" -> "Path", "4. More Control Flow Tools — Python 3.11.2 documentation" -> "4. More
// Control Flow Tools". A suffix is cut at the first separator followed by a mention of documentation.
func stripSiteSuffix(title string) string {
	lower := strings.ToLower(title)
	for _, sep := range []string{" — ", " – ", " | ", " - ", " · ", " :: "} {
		i := strings.Index(lower, sep)
		if i <= 0 {
			continue
		}
		rest := lower[i+len(sep):]
		for _, word := range []string{"documentation", "docs", "manual"} {
			if strings.Contains(rest, word) {
				return strings.TrimSpace(title[:i])
			}
		}
	}
	return title
}

// headingKey is the form in which a heading is compared with the page title.
func headingKey(s string) string {
	return strings.ToLower(collapseSpace(strings.TrimRight(s, " ¶#§")))
}

// flatText returns all text under n, script and style left out.
func flatText(n *html.Node) string {
	var b strings.Builder
	stack := []*html.Node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
			b.WriteByte(' ')
		case n.Type == html.ElementNode && (n.DataAtom == atom.Script || n.DataAtom == atom.Style):
		default:
			for c := n.LastChild; c != nil; c = c.PrevSibling {
				stack = append(stack, c)
			}
		}
	}
	return b.String()
}

// htmlFragmentText writes the text of an HTML fragment (a raw HTML block inside Markdown).
func htmlFragmentText(s string, tb *textBuilder) {
	z := html.NewTokenizer(strings.NewReader(s))
	skip := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return
		case html.TextToken:
			if skip == 0 {
				tb.Text(string(z.Text()))
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			switch a {
			case atom.Script, atom.Style, atom.Template:
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			}
			if brk := blockBreak(&html.Node{Type: html.ElementNode, DataAtom: a}); brk > 0 || a == atom.Br {
				tb.Break(max(brk, 1))
			}
		}
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func collapseSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
