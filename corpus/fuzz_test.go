package corpus

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzzers feed the readers arbitrary input. Seeds are the samples in testdata plus the corpora in
// testdata/fuzz/Fuzz*. Beyond not panicking, every record must keep the invariants the index relies
// on, and every error must be a *RecordError.

func addSeeds(f *testing.F, pattern string) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func checkRecords(t *testing.T, docs []Document, err error) {
	t.Helper()
	if err != nil {
		var re *RecordError
		if !errors.As(err, &re) {
			t.Fatalf("error %v is not a *RecordError", err)
		}
		return
	}
	ids := map[string]bool{}
	for _, d := range docs {
		checkRecord(t, d)
		if ids[d.ID] {
			t.Errorf("two records of one page share the id %q", d.ID)
		}
		ids[d.ID] = true
		if strings.TrimSpace(d.Body) == "" {
			t.Errorf("record %q has no body", d.ID)
		}
	}
}

func checkRecord(t *testing.T, d Document) {
	t.Helper()
	if d.ID == "" || strings.ContainsAny(d.ID, "/#?% \t\r\n") {
		t.Errorf("bad id %q", d.ID)
	}
	if strings.TrimSpace(d.Title) == "" {
		t.Errorf("record %q has no title", d.ID)
	}
	if d.Type != TypeSection && d.Type != TypeFAQ {
		t.Errorf("record %q: type %q", d.ID, d.Type)
	}
	DefaultTaxonomy().Tag(&d)
	for _, s := range append([]string{d.ID, d.Title, d.URL, d.Page, d.Body}, append(d.Languages, d.Topics...)...) {
		if !utf8.ValidString(s) {
			t.Errorf("record %q holds invalid UTF-8: %q", d.ID, s)
		}
	}
}

func FuzzParseMarkdown(f *testing.F) {
	addSeeds(f, "testdata/markdown/*.md")
	addSeeds(f, "default/*.md")
	f.Add([]byte("---\ntitle: x\n---\n# FAQ\n## 1. Q?\nA\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		docs, err := ParseMarkdown("fuzz.md", src)
		checkRecords(t, docs, err)
	})
}

func FuzzParseHTML(f *testing.F) {
	addSeeds(f, "testdata/html/*.html")
	f.Add([]byte(`<title>T</title><section id="s"><h2>FAQ</h2><h3>Q?<a class="headerlink" href="#q">¶</a></h3><p>A</p></section>`))
	f.Fuzz(func(t *testing.T, src []byte) {
		docs, err := ParseHTML("fuzz.html", bytes.NewReader(src))
		checkRecords(t, docs, err)
	})
}

func FuzzReadJSONL(f *testing.F) {
	addSeeds(f, "testdata/*.jsonl")
	f.Add([]byte(`{"id": 1e3, "title": "t", "languages": ["go", "Go"], "topics": "x"}`))
	f.Fuzz(func(t *testing.T, src []byte) {
		for doc, err := range ReadJSONL("fuzz.jsonl", bytes.NewReader(src)) {
			if err != nil {
				var re *RecordError
				if !errors.As(err, &re) || re.Line < 1 {
					t.Fatalf("error %v is not a *RecordError with a line", err)
				}
				continue
			}
			checkRecord(t, doc)
		}
	})
}
