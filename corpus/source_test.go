package corpus

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeTree creates files (path -> content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// collect reads a whole sequence: record ids, and errors as messages, record errors with the path
// relative to the source's directory, others marked "fatal: ".
func collect(t *testing.T, src *Source, ctx context.Context) (ids, errs []string, docs []Document) {
	t.Helper()
	for doc, err := range src.Documents(ctx) {
		if err != nil {
			var re *RecordError
			if errors.As(err, &re) {
				msg, ok := strings.CutPrefix(re.Error(), src.Name()+string(filepath.Separator))
				if !ok {
					msg = "outside the source: " + re.Error()
				}
				errs = append(errs, msg)
			} else {
				errs = append(errs, "fatal: "+err.Error())
			}
			continue
		}
		ids, docs = append(ids, doc.ID), append(docs, doc)
	}
	return ids, errs, docs
}

func TestSourceDirectory(t *testing.T) {
	root := filepath.Join(t.TempDir(), "site")
	writeTree(t, root, map[string]string{
		"b/page.html":       `<title>Web Page</title><h1>Web Page</h1><p>Served by Django.</p>`,
		"b/deep.html":       strings.Repeat("<div>", 600),
		"a/guide.md":        "# Guide\n\nUse Flask.\n\n## Step\n\nDo it.\n",
		"a/bad.md":          "---\ntitle: [unclosed\n---\n",
		"a/.hidden.md":      "# Hidden\n\ntext\n",
		"b/.drafts/x.md":    "# Draft\n\ntext\n",
		".git/HEAD.md":      "# Git\n\ntext\n",
		"data.jsonl":        `{"id": "j1", "title": "From JSONL", "body": "Redis."}` + "\nnot json\n",
		"Upper.MD":          "# Upper\n\nCase-insensitive extensions.\n",
		"notes.txt":         "ignored",
		"image.PNG":         "ignored",
		"c/empty-dir/.keep": "",
	})
	if err := os.Symlink(filepath.Join(root, "a", "guide.md"), filepath.Join(root, "link.md")); err != nil {
		t.Fatal(err)
	}
	src, err := Open(root, DefaultTaxonomy())
	if err != nil {
		t.Fatal(err)
	}
	if src.Name() != root {
		t.Errorf("Name() = %q, want %q", src.Name(), root)
	}
	ids, errs, docs := collect(t, src, context.Background())
	if want := []string{"upper", "guide", "guide--step", "b-page", "j1"}; !slices.Equal(ids, want) {
		t.Errorf("ids = %q, want %q", ids, want)
	}
	if want := []string{"a/bad.md:2: front matter: did not find expected ',' or ']'",
		"b/deep.html: parse HTML: html: open stack of elements exceeds 512 nodes", "data.jsonl:2: not a JSON object"}; !slices.Equal(errs, want) {
		t.Errorf("errors = %q, want %q", errs, want)
	}
	if got := src.IgnoredFiles(); got != 3 { // notes.txt, image.PNG, link.md
		t.Errorf("IgnoredFiles() = %d, want 3", got)
	}
	tags := map[string]string{}
	for _, d := range docs {
		tags[d.ID] = strings.Join(d.Frameworks, ",") + "|" + strings.Join(d.Databases, ",")
	}
	if tags["guide"] != "Flask|" || tags["b-page"] != "Django|" || tags["j1"] != "|Redis" {
		t.Errorf("records are not tagged: %q", tags)
	}

	// Without a taxonomy records keep only what they declare.
	untagged, err := Open(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, docs = collect(t, untagged, context.Background())
	for _, d := range docs {
		if d.Frameworks != nil || d.Databases != nil {
			t.Errorf("record %s tagged without a taxonomy", d.ID)
		}
	}
}

func TestSourceFiles(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"one.jsonl":    `{"id": "x", "title": "X"}` + "\n" + `{"id": "y", "title": "Y"}`,
		"page.htm":     `<h1>Page</h1><p>Text</p>`,
		"doc.markdown": "# Doc\n\nText\n",
		"notes.txt":    "text",
	})
	tests := []struct {
		file string
		want []string
	}{
		{"one.jsonl", []string{"x", "y"}},
		{"page.htm", []string{"page"}},
		{"doc.markdown", []string{"doc"}},
	}
	for _, tt := range tests {
		src, err := Open(filepath.Join(dir, tt.file), DefaultTaxonomy())
		if err != nil {
			t.Fatal(err)
		}
		ids, errs, _ := collect(t, src, context.Background())
		if !slices.Equal(ids, tt.want) || errs != nil {
			t.Errorf("%s: ids %q errors %q, want %q", tt.file, ids, errs, tt.want)
		}
	}
	for _, bad := range []string{"notes.txt", "missing.md"} {
		if _, err := Open(filepath.Join(dir, bad), nil); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("Open(%s) err = %v, want an error naming the file", bad, err)
		}
	}
}

func TestSourceTooLarge(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.html")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxFileSize+1); err != nil { // sparse: cheap to make
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"small.md": "# Small\n\ntext\n"})
	src, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, errs, _ := collect(t, src, context.Background())
	if !slices.Equal(ids, []string{"small"}) || len(errs) != 1 || !strings.Contains(errs[0], "big.html: larger than") {
		t.Errorf("ids %q, errors %q", ids, errs)
	}
}

func TestSourceFatalErrors(t *testing.T) {
	t.Run("directory gone", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "gone")
		writeTree(t, dir, map[string]string{"a.md": "# A\n\ntext\n"})
		src, err := Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		ids, errs, _ := collect(t, src, context.Background())
		if ids != nil || len(errs) != 1 || !strings.HasPrefix(errs[0], "fatal: read corpus directory") {
			t.Errorf("ids %q, errors %q", ids, errs)
		}
	})
	t.Run("context cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var got []error
		for _, err := range Default().Documents(ctx) {
			got = append(got, err)
		}
		if len(got) != 1 || !errors.Is(got[0], context.Canceled) {
			t.Errorf("got %v, want one context.Canceled", got)
		}
	})
	t.Run("context cancelled during a JSONL file", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"d.jsonl": strings.Repeat(`{"id": "x", "title": "t"}`+"\n", 10)})
		src, err := Open(filepath.Join(dir, "d.jsonl"), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		records, fatal := 0, 0
		for _, err := range src.Documents(ctx) {
			if err != nil {
				fatal++
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v", err)
				}
				continue
			}
			records++
			if records == 3 {
				cancel()
			}
		}
		if records != 3 || fatal != 1 {
			t.Errorf("%d records and %d errors, want 3 and 1", records, fatal)
		}
	})
	t.Run("consumer stops early", func(t *testing.T) {
		n := 0
		for range Default().Documents(context.Background()) {
			n++
			if n == 2 {
				break
			}
		}
		if n != 2 {
			t.Errorf("n = %d", n)
		}
	})
}

func TestRecordError(t *testing.T) {
	inner := errors.New("bad")
	tests := []struct {
		err  *RecordError
		want string
	}{
		{&RecordError{Path: "a.jsonl", Line: 3, Err: inner}, "a.jsonl:3: bad"},
		{&RecordError{Path: "b.md", Err: inner}, "b.md: bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if !errors.Is(tt.err, inner) {
			t.Errorf("%v does not unwrap to its cause", tt.err)
		}
	}
}
