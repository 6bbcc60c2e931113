package corpus

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSourceCountMatchesDocuments(t *testing.T) {
	root := filepath.Join(t.TempDir(), "site")
	writeTree(t, root, map[string]string{
		"a/guide.md":   "# Guide\n\nUse Flask.\n\n## Step\n\nDo it.\n",
		"a/bad.md":     "---\ntitle: [unclosed\n---\n",
		"b/page.html":  `<title>Web Page</title><h1>Web Page</h1><p>Served by Django.</p>`,
		"b/image.html": "<html>\n<body>\n\x89PNG\x00\x00\x00\rIHDR</body>",
		"data.jsonl":   `{"id": "j1", "title": "From JSONL", "body": "Redis."}` + "\nnot json\n" + `{"id": "j2", "title": "Two"}`,
	})
	src, err := Open(root, DefaultTaxonomy())
	if err != nil {
		t.Fatal(err)
	}
	ids, errs, _ := collect(t, src, context.Background())
	if want := []string{"guide", "guide--step", "b-page", "j1", "j2"}; !slices.Equal(ids, want) {
		t.Errorf("ids = %q, want %q", ids, want)
	}
	if want := []string{"a/bad.md:2: front matter: did not find expected ',' or ']'",
		"b/image.html:3: not a text file: it holds a NUL byte (binary data named .html?)",
		"data.jsonl:2: not a JSON object"}; !slices.Equal(errs, want) {
		t.Errorf("errors = %q, want %q", errs, want)
	}
	n, err := src.Count(context.Background())
	if err != nil || n != len(ids) {
		t.Errorf("Count() = %d, %v; want %d", n, err, len(ids))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.Count(ctx); err == nil {
		t.Error("Count with a cancelled context did not fail")
	}
}

func TestTitleFromBody(t *testing.T) {
	tests := []struct{ body, want string }{
		{"How do I learn Go?", "How do I learn Go?"},
		{"  spaced\n out  ", "spaced out"},
		{"one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen",
			"one two three four five six seven eight nine ten eleven twelve thirteen fourteen…"},
		{strings.Repeat("é", 50), strings.Repeat("é", 40) + "…"},
	}
	for _, tt := range tests {
		if got := titleFromBody(tt.body); got != tt.want {
			t.Errorf("titleFromBody(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

func TestBlankHeadingGoesOnWithThePreviousTitle(t *testing.T) {
	docs, err := ParseHTML("contents.html", strings.NewReader(
		"<title>Manual</title><h2 id=f>Functions</h2><p>abs</p><h3>&nbsp;</h3><p>floor</p>"))
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, d := range docs {
		titles = append(titles, d.Title+": "+d.Body)
	}
	if want := []string{"Functions: abs", "Functions: floor"}; !slices.Equal(titles, want) {
		t.Errorf("records %q, want %q", titles, want)
	}
}
