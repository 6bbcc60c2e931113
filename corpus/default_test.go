package corpus

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenRecord is the part of a Document a golden file pins. Body is cut to bodyLimit runes when
// bodyLimit > 0.
type goldenRecord struct {
	ID         string            `json:"id"`
	Title      string            `json:"title"`
	URL        string            `json:"url"`
	Page       string            `json:"page"`
	Type       string            `json:"type"`
	Languages  []string          `json:"languages,omitempty"`
	Frameworks []string          `json:"frameworks,omitempty"`
	Databases  []string          `json:"databases,omitempty"`
	Topics     []string          `json:"topics,omitempty"`
	Fields     map[string]string `json:"fields,omitempty"`
	Body       string            `json:"body"`
}

func golden(docs []Document, bodyLimit int) []goldenRecord {
	out := make([]goldenRecord, len(docs))
	for i, d := range docs {
		body := d.Body
		if bodyLimit > 0 && utf8.RuneCountInString(body) > bodyLimit {
			body = string([]rune(body)[:bodyLimit]) + "…"
		}
		out[i] = goldenRecord{d.ID, d.Title, d.URL, d.Page, d.Type, d.Languages, d.Frameworks, d.Databases, d.Topics, d.Fields, body}
	}
	return out
}

// checkGolden compares got, as indented JSON, with the file testdata/name, or rewrites the file
// when the test runs with -update.
func checkGolden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./corpus -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s differs from what the code produces (run go test ./corpus -update and review the diff):\n%s", path, firstDiff(string(want), string(b)))
	}
}

// firstDiff shows the first line where two texts differ.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, w, g)
		}
	}
	return "(no line differs)"
}

func defaultRecords(t *testing.T) []Document {
	t.Helper()
	var docs []Document
	for d, err := range Default().Documents(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	return docs
}

func TestDefaultGolden(t *testing.T) {
	docs := defaultRecords(t)
	if len(docs) != 32 {
		t.Errorf("the default corpus has %d records, want 32 (introduction, 9 sections, conclusion, 20 FAQs, further reading)", len(docs))
	}
	faqs := 0
	for _, d := range docs {
		if d.Type == TypeFAQ {
			faqs++
		}
	}
	if faqs != 20 {
		t.Errorf("%d FAQ records, want 20", faqs)
	}
	checkGolden(t, "default.golden.json", golden(docs, 80))
}

// TestDefaultKeepsEveryLine proves the Markdown conversion kept the article's words: every line of
// the original text is a line of some record (a title or a body line), with the structure the
// Markdown added taken off: "- " bullets became list items, a numbered FAQ question "N. Q" is the
// title Q of the Nth FAQ record, whose anchor keeps the number, and a heading with no text of its
// own ("Frequently Asked Questions") is a heading of the Markdown file, which gives no record.
// Conversely every body line comes from the original.
func TestDefaultKeepsEveryLine(t *testing.T) {
	raw, err := os.ReadFile("testdata/backend-web-development.txt")
	if err != nil {
		t.Fatal(err)
	}
	md, err := defaultFS.ReadFile(defaultFile)
	if err != nil {
		t.Fatal(err)
	}
	bare := bareHeadings(string(md))
	docs := defaultRecords(t)
	lines := map[string]bool{}
	var faqs []Document
	for _, d := range docs {
		lines[d.Title] = true
		for _, l := range strings.Split(d.Body, "\n") {
			lines[l] = true
		}
		if d.Type == TypeFAQ {
			faqs = append(faqs, d)
		}
	}
	original := map[string]bool{}
	for i, line := range strings.Split(string(raw), "\n") {
		if line == "" {
			continue
		}
		original[strings.TrimPrefix(line, "- ")] = true
		if lines[line] || strings.HasPrefix(line, "- ") && lines[line[2:]] || bare[line] {
			continue
		}
		if n, q, ok := numberedQuestion(line); ok && n <= len(faqs) {
			f := faqs[n-1]
			if f.Title == q && strings.Contains(f.URL, fmt.Sprintf("#%d-", n)) {
				continue
			}
		}
		t.Errorf("line %d of the original is in no record: %q", i+1, line)
	}
	for _, d := range docs {
		for _, l := range strings.Split(d.Body, "\n") {
			if l != "" && !original[l] {
				t.Errorf("record %s has a body line that is not in the original: %q", d.ID, l)
			}
		}
	}
}

// bareHeadings returns the text of the Markdown headings that are followed by another heading.
func bareHeadings(md string) map[string]bool {
	bare := map[string]bool{}
	var last string
	for _, line := range strings.Split(md, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "#"):
			if last != "" {
				bare[last] = true
			}
			last = strings.TrimLeft(line, "# ")
		default:
			last = ""
		}
	}
	return bare
}

// numberedQuestion splits "12. What Is X?" into 12 and "What Is X?".
func numberedQuestion(line string) (int, string, bool) {
	var n int
	num, q, ok := strings.Cut(line, ". ")
	if !ok {
		return 0, "", false
	}
	if _, err := fmt.Sscanf(num, "%d", &n); err != nil || fmt.Sprint(n) != num {
		return 0, "", false
	}
	return n, q, true
}

func TestDefaultSource(t *testing.T) {
	src := Default()
	if got, want := src.Name(), "embedded:backend-web-development.md"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	open, err := Open("", DefaultTaxonomy())
	if err != nil {
		t.Fatal(err)
	}
	if open.Name() != src.Name() {
		t.Errorf(`Open("").Name() = %q, want %q`, open.Name(), src.Name())
	}
	seen := map[string]bool{}
	for _, d := range defaultRecords(t) {
		if seen[d.ID] {
			t.Errorf("duplicate id %s", d.ID)
		}
		seen[d.ID] = true
		if strings.ContainsAny(d.ID, "/#? \t\n") {
			t.Errorf("id %q holds a character that does not belong in a URL path", d.ID)
		}
		if d.Page != "What Is Back-End Web Development?" {
			t.Errorf("record %s: page %q", d.ID, d.Page)
		}
		for _, l := range strings.Split(d.Body, "\n") {
			if strings.HasPrefix(l, "#") || strings.HasPrefix(l, "- ") || strings.Contains(l, "**") || strings.Contains(l, "`") {
				t.Errorf("record %s: body line holds Markdown markup: %q", d.ID, l)
			}
		}
	}
}
