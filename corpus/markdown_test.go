package corpus

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseMarkdownGolden pins the records of each sample page in testdata/markdown, untagged, so a
// change in splitting or text extraction shows up as a diff in testdata/markdown/*.golden.json.
func TestParseMarkdownGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/markdown/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			docs, err := ParseMarkdown(path, src)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, strings.TrimPrefix(strings.TrimSuffix(path, ".md"), "testdata/")+".golden.json", golden(docs, 0))
		})
	}
}

func TestParseMarkdown(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // per record: "id | title | url | type | body"
	}{{
		name: "title from the first H1, intro from the text under it",
		src:  "# Hello World\n\nFirst words.\n\n## Next Step\n\nMore.\n",
		want: []string{
			"hello-world | Hello World | /hello-world | section | First words.",
			"hello-world--next-step | Next Step | /hello-world#next-step | section | More.",
		},
	}, {
		name: "title from the file name when there is no H1",
		src:  "Some text.\n\n## Part\n\nPart text.\n",
		want: []string{
			"page-name | page-name | /page-name | section | Some text.",
			"page-name--part | Part | /page-name#part | section | Part text.",
		},
	}, {
		name: "a hash line in a code block is not a heading",
		src:  "# T\n\n## Shell\n\n```sh\n# comment\necho hi\n```\n\n    # indented code\n",
		want: []string{"t--shell | Shell | /t#shell | section | # comment\necho hi\n\n# indented code"},
	}, {
		name: "an H4 stays in its section; a heading without text gives no record",
		src:  "# T\n\n## Empty\n\n## Full\n\n#### Detail\n\nText.\n",
		want: []string{"t--full | Full | /t#full | section | Detail\n\nText."},
	}, {
		name: "lists one item a line, paragraphs apart, markup dropped",
		src:  "# T\n\n## L\n\nA *b* **c** [d](http://e) `f` ![g](h.png) <span>i</span> \\*j\\* &amp; &#169;\nk\n\n- one\n- two\n    - three\n\n1. four\n\n2. five\n",
		want: []string{"t--l | L | /t#l | section | A b c d f g i *j* & © k\n\none\ntwo\nthree\n\nfour\nfive"},
	}, {
		name: "tables a row a line, HTML blocks as text",
		src:  "# T\n\n## Tab\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<div>x <script>no()</script><b>y</b></div>\n",
		want: []string{"t--tab | Tab | /t#tab | section | a b\n1 2\n\nx y"},
	}, {
		name: "FAQ questions are faq records without their numbers",
		src:  "# T\n\n## FAQs\n\n### 1. Why?\n\nBecause.\n\n### 2) How\n\nLike so.\n\n### Q: Who?\n\nUs.\n\n### Notes\n\nNot a question.\n\n## After\n\nA section again.\n\n### What now?\n\nStill a section.\n",
		want: []string{
			"t--1-why | Why? | /t#1-why | faq | Because.",
			"t--2-how | How | /t#2-how | faq | Like so.",
			"t--q-who | Who? | /t#q-who | faq | Us.",
			"t--notes | Notes | /t#notes | section | Not a question.",
			"t--after | After | /t#after | section | A section again.",
			"t--what-now | What now? | /t#what-now | section | Still a section.",
		},
	}, {
		name: "repeated headings get numbered anchors",
		src:  "# T\n\n## Setup\n\na\n\n## Setup\n\nb\n\n## Setup 1\n\nc\n",
		want: []string{
			"t--setup | Setup | /t#setup | section | a",
			"t--setup-1 | Setup | /t#setup-1 | section | b",
			"t--setup-1-1 | Setup 1 | /t#setup-1-1 | section | c",
		},
	}, {
		name: "front matter url gives the page URL and the id prefix",
		src:  "---\ntitle: Install\nurl: /docs/install.html\n---\nIntro.\n\n## Linux\n\nApt.\n",
		want: []string{
			"docs-install | Install | /docs/install.html | section | Intro.",
			"docs-install--linux | Linux | /docs/install.html#linux | section | Apt.",
		},
	}, {
		name: "ids stay URL-safe",
		src:  "---\ntitle: \"Q&A / FAQ?\"\n---\n## What is 50% of #1?\n\nHalf.\n",
		want: []string{"qa--faq--what-is-50-of-1 | What is 50% of #1? | /qa--faq#what-is-50-of-1 | section | Half."},
	}, {
		name: "a thematic break at the top is not front matter",
		src:  "---\n\nText.\n",
		want: []string{"page-name | page-name | /page-name | section | Text."},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := ParseMarkdown("dir/page-name.md", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range docs {
				got = append(got, strings.Join([]string{d.ID, d.Title, d.URL, d.Type, d.Body}, " | "))
			}
			if strings.Join(got, "\n---\n") != strings.Join(tt.want, "\n---\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n---\n"), strings.Join(tt.want, "\n---\n"))
			}
		})
	}
}

func TestParseMarkdownFrontMatter(t *testing.T) {
	src := "---\ntitle: T\nlanguages: python\nframeworks: [Django, ' flask ']\ndatabases:\ntopics: []\ndraft: true\nweight: 2.5\ndate: 2024-05-01\nempty: null\ntags: [a, b]\nmeta: {k: v}\n---\nBody.\n"
	docs, err := ParseMarkdown("p.md", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Fatalf("%d records", len(docs))
	}
	d := docs[0]
	if strings.Join(d.Languages, ",") != "python" || strings.Join(d.Frameworks, ",") != "Django,flask" || d.Databases != nil || d.Topics != nil {
		t.Errorf("facets = %q %q %q %q", d.Languages, d.Frameworks, d.Databases, d.Topics)
	}
	want := map[string]string{"draft": "true", "weight": "2.5", "date": "2024-05-01", "tags": `["a","b"]`, "meta": `{"k":"v"}`}
	if len(d.Fields) != len(want) {
		t.Errorf("fields = %q, want %q", d.Fields, want)
	}
	for k, v := range want {
		if d.Fields[k] != v {
			t.Errorf("fields[%s] = %q, want %q", k, d.Fields[k], v)
		}
	}
}

func TestParseMarkdownErrors(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		wantLine int
		wantErr  string
	}{
		{"bad YAML", "---\ntitle: ok\nurl: a: b\n---\nBody.\n", 3, "front matter: mapping values are not allowed"},
		{"not a mapping", "---\n- a\n- b\n---\nBody.\n", 2, "not a mapping"},
		{"title not a string", "---\n\ntitle: [a, b]\n---\n", 3, "title must be a string"},
		{"facet map", "---\ntopics:\n  a: b\n---\n", 3, "topics must be a string or a list of strings"},
		{"facet list of lists", "---\nlanguages: [[go]]\n---\n", 2, "languages must be a string or a list of strings"},
		{"nesting too deep", "---\na: b\n---\ntext\n" + strings.Repeat("> ", 101) + "deep\n", 5, "nested more than 100 deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMarkdown("p.md", []byte(tt.src))
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a *RecordError", err)
			}
			if re.Path != "p.md" || re.Line != tt.wantLine || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %q (line %d), want p.md:%d: ...%s...", err, re.Line, tt.wantLine, tt.wantErr)
			}
		})
	}
}
