package corpus

import (
	"maps"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// page is what the Markdown and HTML readers know about a page once they have split it at its headings.
type page struct {
	path  string // the file, for a title of last resort
	title string // the page title; "" to use the file name
	url   string // the page URL without anchor; "" for "/" + the slug of the title
	// intro is the text before the first heading plus, when the page opens with its own heading
	// (an H1, or the heading that repeats the HTML title), the text under that heading.
	intro string
	// head is the page's own heading, if it has one: it takes part in anchor numbering and, when it
	// reads "FAQ", makes the page's question headings FAQ entries.
	head     *section
	sections []section
	fields   map[string]string
}

// section is the text under one heading.
type section struct {
	level  int    // 1 to 3
	title  string // the heading text
	anchor string // the anchor the source gives the heading; "" to derive it from the title
	body   string
}

// records turns a page into Documents: the introduction, then one record per section or FAQ question
// with text under it.
func (p *page) records() []Document {
	pageTitle := p.title
	if strings.TrimSpace(pageTitle) == "" {
		pageTitle = fileTitle(p.path)
	}
	slug, pageURL := anchorSlug(pageTitle), p.url
	if pageURL != "" {
		if i := strings.IndexByte(pageURL, '#'); i >= 0 {
			pageURL = pageURL[:i]
		}
		if s := pathSlug(pageURL); s != "" {
			slug = s
		}
		if !strings.HasPrefix(pageURL, "/") && !strings.Contains(pageURL, "://") {
			pageURL = "/" + pageURL
		}
	}
	if slug == "" {
		slug = fileSlug(p.path)
	}
	if slug == "" {
		slug = "page"
	}
	slug = idSafe(slug)
	if pageURL == "" {
		pageURL = "/" + slug
	}

	var docs []Document
	ids, next := map[string]bool{}, map[string]int{}
	add := func(id, title, anchor, typ, body string) {
		// Anchors are unique, but making them URL-safe can merge two ("a b", "a-b").
		if base := id; ids[id] {
			for n := max(next[base], 2); ids[id]; n++ {
				id, next[base] = base+"-"+strconv.Itoa(n), n+1
			}
		}
		ids[id] = true
		u := pageURL
		if anchor != "" {
			u += "#" + (&url.URL{Fragment: anchor}).EscapedFragment()
		}
		docs = append(docs, Document{ID: id, Title: title, URL: u, Page: pageTitle, Type: typ, Body: body, Fields: maps.Clone(p.fields)})
	}
	if p.intro != "" {
		add(slug, pageTitle, "", TypeSection, p.intro)
	}

	anchors := anchorSet{}
	faqLevel := 0
	if p.head != nil {
		anchors.claim(p.head.anchor, p.head.title)
		if isFAQHeading(p.head.title) {
			faqLevel = p.head.level
		}
	}
	lastTitle := pageTitle
	for _, s := range p.sections {
		anchor := anchors.claim(s.anchor, s.title)
		if faqLevel > 0 && s.level <= faqLevel {
			faqLevel = 0
		}
		typ, recTitle := TypeSection, s.title
		if strings.TrimSpace(s.title) == "" {
			recTitle = lastTitle // a heading without words (<h3>&nbsp;</h3>) goes on with the one before
		} else {
			lastTitle = s.title
		}
		switch {
		case isFAQHeading(s.title):
			faqLevel = s.level
		case faqLevel > 0:
			if q, ok := faqQuestion(s.title); ok {
				typ, recTitle = TypeFAQ, q
			}
		}
		if s.body == "" {
			continue
		}
		add(slug+"--"+idSafe(anchor), recTitle, anchor, typ, s.body)
	}
	return docs
}

// anchorSet hands out the anchors of one page, numbering repeats as GitHub does ("setup", "setup-1").
type anchorSet map[string]int

func (a anchorSet) claim(explicit, title string) string {
	base := explicit
	if base == "" {
		base = anchorSlug(title)
	}
	if base == "" {
		base = "section"
	}
	anchor := base
	for {
		if _, taken := a[anchor]; !taken {
			break
		}
		a[base]++
		anchor = base + "-" + strconv.Itoa(a[base])
	}
	a[anchor] = 0
	return anchor
}

// isFAQHeading reports whether a heading opens a list of questions: "FAQ", "FAQs", "Frequently Asked
// Questions", "Django FAQ", "FAQ: Installation".
func isFAQHeading(title string) bool {
	t := strings.ToLower(strings.TrimRight(strings.TrimSpace(title), ":."))
	t = strings.ReplaceAll(t, "’", "'")
	for _, name := range []string{"faq", "faqs", "faq's", "frequently asked questions"} {
		if t == name || strings.HasPrefix(t, name+":") || strings.HasPrefix(t, name+" ") || strings.HasSuffix(t, " "+name) {
			return true
		}
	}
	return false
}

// faqQuestion returns a question heading without its number ("20. What Is X?" -> "What Is X?",
// "Q3: Why?" -> "Why?"). ok is false when the heading is neither numbered nor a question.
func faqQuestion(title string) (q string, ok bool) {
	q = strings.TrimSpace(title)
	rest := q
	if len(rest) > 0 && (rest[0] == 'Q' || rest[0] == 'q') {
		rest = rest[1:]
	}
	digits := len(rest) - len(strings.TrimLeftFunc(rest, func(r rune) bool { return '0' <= r && r <= '9' }))
	rest = rest[digits:]
	numbered := false
	if len(rest) > 1 && strings.ContainsRune(".):", rune(rest[0])) && unicode.IsSpace(rune(rest[1])) && (digits > 0 || q[0] == 'Q' || q[0] == 'q') {
		q, numbered = strings.TrimSpace(rest[1:]), true
	}
	return q, q != "" && (numbered || strings.HasSuffix(q, "?"))
}

// textBuilder collects plain text: words from inline runs, lines from block boundaries, blank lines
// between paragraphs. Runs of whitespace in text become one space; breaks at the start or end vanish.
type textBuilder struct {
	sb    strings.Builder
	brk   int  // pending break: 0 none, 1 a new line, 2 a blank line
	space bool // pending space
}

// Break asks for a new line (1) or a blank line (2) before the next text; 0 asks for nothing.
func (t *textBuilder) Break(n int) {
	if n > 0 {
		t.brk = max(t.brk, n)
		t.space = false
	}
}

// Text adds inline text, collapsing whitespace.
func (t *textBuilder) Text(s string) {
	for len(s) > 0 {
		i := strings.IndexFunc(s, unicode.IsSpace)
		if i < 0 {
			t.Raw(s)
			return
		}
		if i > 0 {
			t.Raw(s[:i])
		}
		if t.brk == 0 {
			t.space = true
		}
		s = strings.TrimLeftFunc(s[i:], unicode.IsSpace)
	}
}

// Raw adds text as it is (code), after any pending space or break.
func (t *textBuilder) Raw(s string) {
	if s == "" {
		return
	}
	if t.sb.Len() > 0 {
		switch {
		case t.brk == 1:
			t.sb.WriteByte('\n')
		case t.brk == 2:
			t.sb.WriteString("\n\n")
		case t.space:
			t.sb.WriteByte(' ')
		}
	}
	t.brk, t.space = 0, false
	t.sb.WriteString(s)
}

// String returns the text collected so far.
func (t *textBuilder) String() string { return t.sb.String() }
