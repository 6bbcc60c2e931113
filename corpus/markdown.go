package corpus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
	"go.yaml.in/yaml/v3"
)

// markdown parses CommonMark with GitHub's tables and strikethrough. It is safe for concurrent use.
var markdown = goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough))

// ParseMarkdown splits a Markdown page into records.
//
// The page may open with YAML front matter between "---" lines. Its keys:
//
//   - title: the page title (else the first H1, else the file name);
//   - url: the page URL, which then also gives the ID prefix ("/guide/install" -> "guide-install--...");
//   - languages, frameworks, databases, topics: facet values, a list or a single string. A document
//     that declares a facet keeps it: the taxonomy only fills the facets left empty;
//   - any other key goes to Document.Fields: a scalar as written ("true", "2024-05-01"), a list or map
//     as JSON (tags: [a, b] -> `["a","b"]`).
//
// Headings H1–H3 split the page; deeper headings stay in their section's text. Text before the first
// heading, and under the page's opening H1, is the introduction record, titled with the page title. A
// heading with no text under it gives no record. Under a "Frequently Asked Questions" (or "FAQ",
// "FAQs") heading, each deeper heading that is numbered or ends in "?" is a TypeFAQ record titled with
// the question without its number.
//
// Bodies are plain text: no Markdown markers, one line per list item, table row or code line, a blank
// line between paragraphs. A front matter error is a *RecordError with its line.
func ParseMarkdown(path string, src []byte) ([]Document, error) {
	src = bytes.ToValidUTF8(src, []byte("\uFFFD"))
	src = bytes.TrimPrefix(src, []byte("\uFEFF"))
	p := page{path: path}
	fm, body, ok := splitFrontMatter(src)
	var declared Document
	if ok {
		if err := parseFrontMatter(fm, &p, &declared); err != nil {
			return nil, &RecordError{Path: path, Line: err.line, Err: fmt.Errorf("front matter: %w", err.err)}
		}
	}

	if line := tooDeep(body); line > 0 {
		line += bytes.Count(src[:len(src)-len(body)], []byte("\n"))
		return nil, &RecordError{Path: path, Line: line, Err: fmt.Errorf("blocks nested more than %d deep", maxMarkdownNesting)}
	}

	root := markdown.Parser().Parse(text.NewReader(body))
	var (
		cur      *section
		sections []section
		tb       textBuilder
		firstH1  string
	)
	flush := func() {
		if cur != nil {
			cur.body = strings.TrimSpace(tb.String())
			sections = append(sections, *cur)
		} else {
			p.intro = strings.TrimSpace(tb.String())
		}
		tb = textBuilder{}
	}
	for n := root.FirstChild(); n != nil; n = n.NextSibling() {
		h, ok := n.(*ast.Heading)
		if !ok || h.Level > 3 {
			mdBlock(n, body, &tb, 2)
			continue
		}
		var ht textBuilder
		mdInline(h, body, &ht)
		title := strings.TrimSpace(ht.String())
		if h.Level == 1 && firstH1 == "" {
			firstH1 = title
		}
		if cur == nil && len(sections) == 0 && p.head == nil && h.Level == 1 {
			// The page's own heading: its text belongs to the introduction.
			p.head = &section{level: 1, title: title}
			continue
		}
		flush()
		cur = &section{level: h.Level, title: title}
	}
	flush()
	p.sections = sections
	if p.title == "" {
		p.title = firstH1
	}
	docs := p.records()
	for i := range docs {
		docs[i].Languages, docs[i].Frameworks = slices.Clone(declared.Languages), slices.Clone(declared.Frameworks)
		docs[i].Databases, docs[i].Topics = slices.Clone(declared.Databases), slices.Clone(declared.Topics)
	}
	return docs, nil
}

// maxMarkdownNesting bounds the quotes and lists a line may open: goldmark takes time quadratic in
// the nesting of a line, and no real page nests a hundred lists.
const maxMarkdownNesting = 100

// tooDeep returns the 1-based number of the first line of src that opens more than maxMarkdownNesting
// quotes or list items, or 0.
func tooDeep(src []byte) int {
	for n := 1; len(src) > 0; n++ {
		line := src
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
		} else {
			src = nil
		}
		depth := 0
	markers:
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case c == ' ' || c == '\t':
			case c == '>':
				depth++
			case c == '-' || c == '*' || c == '+':
				if i+1 < len(line) && (line[i+1] == ' ' || line[i+1] == '\t') {
					depth++
				} else {
					break markers
				}
			case '0' <= c && c <= '9':
				j := i
				for j < len(line) && '0' <= line[j] && line[j] <= '9' {
					j++
				}
				if j+1 < len(line) && (line[j] == '.' || line[j] == ')') && (line[j+1] == ' ' || line[j+1] == '\t') {
					depth, i = depth+1, j
				} else {
					break markers
				}
			default:
				break markers
			}
		}
		if depth > maxMarkdownNesting {
			return n
		}
	}
	return 0
}

// mdBlock writes the text of a block node. brk is the break between blocks: 2 (a blank line) at the
// top level, 1 inside lists so that each item is one line.
func mdBlock(n ast.Node, src []byte, tb *textBuilder, brk int) {
	switch n := n.(type) {
	case *ast.Paragraph, *ast.TextBlock, *ast.Heading:
		mdInline(n, src, tb)
		tb.Break(brk)
	case *ast.List:
		for item := n.FirstChild(); item != nil; item = item.NextSibling() {
			for c := item.FirstChild(); c != nil; c = c.NextSibling() {
				mdBlock(c, src, tb, 1)
			}
			tb.Break(1)
		}
		tb.Break(brk)
	case *ast.FencedCodeBlock, *ast.CodeBlock:
		lines := n.Lines()
		for i := range lines.Len() {
			seg := lines.At(i)
			tb.Raw(strings.TrimRight(string(seg.Value(src)), " \t\r\n"))
			tb.Break(1)
		}
		tb.Break(brk)
	case *ast.HTMLBlock:
		var raw bytes.Buffer
		lines := n.Lines()
		for i := range lines.Len() {
			seg := lines.At(i)
			raw.Write(seg.Value(src))
		}
		if n.HasClosure() {
			raw.Write(n.ClosureLine.Value(src))
		}
		htmlFragmentText(raw.String(), tb)
		tb.Break(brk)
	case *east.Table:
		for row := n.FirstChild(); row != nil; row = row.NextSibling() {
			for cell := row.FirstChild(); cell != nil; cell = cell.NextSibling() {
				mdInline(cell, src, tb)
				tb.Text(" ")
			}
			tb.Break(1)
		}
		tb.Break(brk)
	case *ast.ThematicBreak:
		tb.Break(brk)
	default:
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			mdBlock(c, src, tb, brk)
		}
		tb.Break(brk)
	}
}

// mdInline writes the text of a node's inline children: words without emphasis markers, link text
// without its target, image alt text, code spans as written.
func mdInline(n ast.Node, src []byte, tb *textBuilder) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			tb.Text(mdUnescape(c.Value(src)))
			if c.HardLineBreak() {
				tb.Break(1)
			} else if c.SoftLineBreak() {
				tb.Text(" ")
			}
		case *ast.String:
			tb.Text(mdUnescape(c.Value))
		case *ast.CodeSpan:
			for t := c.FirstChild(); t != nil; t = t.NextSibling() {
				if t, ok := t.(*ast.Text); ok {
					tb.Text(string(t.Value(src)))
				}
			}
		case *ast.AutoLink:
			tb.Text(string(c.Label(src)))
		case *ast.RawHTML:
			// Inline tags carry no words.
		default:
			mdInline(c, src, tb)
		}
	}
}

// mdUnescape resolves backslash escapes and character references, as a renderer would.
func mdUnescape(b []byte) string {
	if bytes.IndexByte(b, '\\') >= 0 {
		b = util.UnescapePunctuations(b)
	}
	if bytes.IndexByte(b, '&') >= 0 {
		b = util.ResolveEntityNames(util.ResolveNumericReferences(b))
	}
	return string(b)
}

// splitFrontMatter splits "---\n<yaml>\n---\n<markdown>". ok is false when src does not open with a
// front matter block (a "---" line with no closing line is a thematic break, not front matter).
func splitFrontMatter(src []byte) (fm, body []byte, ok bool) {
	first, rest, found := bytes.Cut(src, []byte("\n"))
	if !found || string(bytes.TrimRight(first, " \t\r")) != "---" {
		return nil, src, false
	}
	for off := 0; off < len(rest); {
		line := rest[off:]
		end := bytes.IndexByte(line, '\n')
		next := len(rest)
		if end >= 0 {
			line, next = line[:end], off+end+1
		}
		if l := string(bytes.TrimRight(line, " \t\r")); l == "---" || l == "..." {
			return rest[:off], rest[next:], true
		}
		off = next
	}
	return nil, src, false
}

// frontMatterError is a front matter problem at a line of the file.
type frontMatterError struct {
	line int
	err  error
}

// yamlLine finds the line in a yaml.v3 syntax error ("yaml: line 3: mapping values are not allowed").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parseFrontMatter reads the front matter into the page and the declared facets. Lines are counted
// in the file: the YAML starts on line 2.
func parseFrontMatter(fm []byte, p *page, declared *Document) *frontMatterError {
	const offset = 1 // the opening "---"
	var root yaml.Node
	if err := yaml.Unmarshal(fm, &root); err != nil {
		line, msg := offset+1, err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			line, msg = n+offset, msg[len(m[0]):]
		}
		return &frontMatterError{line: line, err: errors.New(strings.TrimPrefix(msg, "yaml: "))}
	}
	if len(root.Content) == 0 {
		return nil // empty front matter
	}
	m := root.Content[0]
	if m.Kind != yaml.MappingNode {
		return &frontMatterError{line: m.Line + offset, err: errors.New("not a mapping of keys to values")}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], resolveAlias(m.Content[i+1])
		bad := func(problem string) *frontMatterError {
			return &frontMatterError{line: v.Line + offset, err: fmt.Errorf("%s %s", k.Value, problem)}
		}
		switch key := strings.ToLower(k.Value); key {
		case "title", "url":
			if v.Kind != yaml.ScalarNode {
				return bad("must be a string")
			}
			if key == "title" {
				p.title = strings.TrimSpace(v.Value)
			} else {
				p.url = strings.TrimSpace(v.Value)
			}
		case FieldLanguages, FieldFrameworks, FieldDatabases, FieldTopics:
			var values []string
			switch v.Kind {
			case yaml.ScalarNode:
				if v.Tag != "!!null" && strings.TrimSpace(v.Value) != "" {
					values = []string{strings.TrimSpace(v.Value)}
				}
			case yaml.SequenceNode:
				for _, item := range v.Content {
					item = resolveAlias(item)
					if item.Kind != yaml.ScalarNode {
						return bad("must be a string or a list of strings")
					}
					if s := strings.TrimSpace(item.Value); s != "" && item.Tag != "!!null" {
						values = append(values, s)
					}
				}
			default:
				return bad("must be a string or a list of strings")
			}
			*declared.facetSlot(key) = values
		default:
			value := v.Value
			if v.Kind != yaml.ScalarNode {
				var x any
				if err := v.Decode(&x); err != nil {
					return &frontMatterError{line: v.Line + offset, err: fmt.Errorf("%s: %w", k.Value, err)}
				}
				b, err := json.Marshal(x)
				if err != nil {
					return bad("cannot be kept as JSON (a map with non-string keys?)")
				}
				value = string(b)
			} else if v.Tag == "!!null" {
				continue
			}
			if p.fields == nil {
				p.fields = map[string]string{}
			}
			p.fields[k.Value] = value
		}
	}
	return nil
}

// resolveAlias follows a YAML alias (*name) to the node it names.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}
