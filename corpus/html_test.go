package corpus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseHTMLGolden pins the records of each sample page in testdata/html (Sphinx, Django, Node.js,
// PostgreSQL's DocBook, Javadoc and a hand-written page), tagged by the default taxonomy.
func TestParseHTMLGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/html/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			docs, err := ParseHTML(filepath.Base(path), f)
			if err != nil {
				t.Fatal(err)
			}
			for i := range docs {
				DefaultTaxonomy().Tag(&docs[i])
			}
			checkGolden(t, strings.TrimPrefix(strings.TrimSuffix(path, ".html"), "testdata/")+".golden.json", golden(docs, 0))
		})
	}
}

func TestParseHTML(t *testing.T) {
	tests := []struct {
		name string
		path string // "docs/page.html" if empty
		src  string
		want []string // per record: "id | title | url | type | body"
	}{{
		name: "title suffix stripped; the heading that repeats the title opens the page",
		src: `<title>Intro | Acme Docs</title><div class="banner"><h1>Acme</h1><p>Banner text</p></div>
			<h1>Intro</h1><p>Hello.</p><h2 id="more">More</h2><p>Text.</p>`,
		want: []string{
			"docs-page | Intro | /docs/page.html | section | Hello.",
			"docs-page--more | More | /docs/page.html#more | section | Text.",
		},
	}, {
		name: "no title: the first h1",
		src:  `<h1>Only <em>Heading</em></h1><p>A</p><p>B</p>`,
		want: []string{"docs-page | Only Heading | /docs/page.html | section | A\n\nB"},
	}, {
		name: "no title, no h1: the file name",
		src:  `<p>Loose text</p><h2>Part</h2><p>Part text</p>`,
		want: []string{
			"docs-page | page | /docs/page.html | section | Loose text",
			"docs-page--part | Part | /docs/page.html#part | section | Part text",
		},
	}, {
		name: "anchors: id, permalink, inner id, enclosing section, slug",
		src: `<title>T</title><h1>T</h1>
			<h2 id="own">A</h2><p>a</p>
			<h2>B<a class="headerlink" href="#b-link">¶</a></h2><p>b</p>
			<h2><a name="b-name"></a>C</h2><p>c</p>
			<section id="d-section"><h2>D</h2><p>d</p><h3>E</h3><p>e</p></section>
			<div id="wrapper"><p>x</p><h2>F Heading</h2><p>f</p></div>`,
		want: []string{
			"docs-page--own | A | /docs/page.html#own | section | a",
			"docs-page--b-link | B | /docs/page.html#b-link | section | b",
			"docs-page--b-name | C | /docs/page.html#b-name | section | c",
			"docs-page--d-section | D | /docs/page.html#d-section | section | d",
			"docs-page--e | E | /docs/page.html#e | section | e\n\nx",
			"docs-page--f-heading | F Heading | /docs/page.html#f-heading | section | f",
		},
	}, {
		name: "invisible things are skipped",
		src: `<title>T</title><body><nav>Menu</nav><header>Site</header><h1>T</h1>
			<p>Seen<script>var x;</script><style>p{}</style><noscript>JS off</noscript><template>tpl</template></p>
			<p hidden>hidden</p><p aria-hidden="true">aria</p><p style="display: none">none</p>
			<div role="search">search</div><div class="sphinxsidebar">side</div><footer>foot</footer>
			<p>Also seen<button>Click</button></p></body>`,
		want: []string{"docs-page | T | /docs/page.html | section | Seen\n\nAlso seen"},
	}, {
		name: "main content only, when marked",
		src:  `<title>T</title><div>Outside</div><div role="main"><h1>T</h1><p>Inside</p></div><p>After</p>`,
		want: []string{"docs-page | T | /docs/page.html | section | Inside"},
	}, {
		name: "headings in notes are text; pre keeps lines; br breaks; cells apart",
		src: `<title>T</title><h1>T</h1><div class="admonition warning"><h3>Careful</h3><p>Hot.</p></div>
			<pre>a  b
  c</pre><p>x<br>y</p><table><tr><td>1</td><td>2</td></tr></table>`,
		want: []string{"docs-page | T | /docs/page.html | section | Careful\n\nHot.\n\na  b\n  c\n\nx\ny\n\n1 2"},
	}, {
		name: "FAQ page",
		src:  `<title>FAQ: Billing — Acme documentation</title><h1>FAQ: Billing</h1><h2>Why was I charged?</h2><p>A hold.</p><h2>Refunds</h2><p>Ask.</p>`,
		want: []string{
			"docs-page--why-was-i-charged | Why was I charged? | /docs/page.html#why-was-i-charged | faq | A hold.",
			"docs-page--refunds | Refunds | /docs/page.html#refunds | section | Ask.",
		},
	}, {
		name: "a declared charset is decoded",
		src:  "<meta charset=\"iso-8859-1\"><title>Caf\xe9</title><h1>Caf\xe9</h1><p>Cr\xe8me br\xfbl\xe9e</p>",
		want: []string{"docs-page | Café | /docs/page.html | section | Crème brûlée"},
	}, {
		name: "UTF-8 wins over a wrong declaration",
		src:  "<meta charset=\"iso-8859-1\"><title>Café</title><h1>Café</h1><p>Crème</p>",
		want: []string{"docs-page | Café | /docs/page.html | section | Crème"},
	}, {
		name: "undeclared and not UTF-8: Windows-1252",
		src:  "<title>Caf\xe9</title><h1>Caf\xe9</h1><p>\x93Cr\xe8me\x94</p>",
		want: []string{"docs-page | Café | /docs/page.html | section | “Crème”"},
	}, {
		name: "a file name with a space",
		path: "my docs/page one.html",
		src:  "<h1>One</h1><p>x</p>",
		want: []string{"my-docs-page-one | One | /my%20docs/page%20one.html | section | x"},
	}, {
		name: "unsafe anchors are made safe in ids and escaped in urls",
		src:  `<title>T</title><h1>T</h1><section id="append(java.lang.String, int)"><h3>append</h3><p>x</p></section>`,
		want: []string{"docs-page--append(java.lang.String--int) | append | /docs/page.html#append(java.lang.String,%20int) | section | x"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "docs/page.html"
			}
			docs, err := ParseHTML(path, strings.NewReader(tt.src))
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

func TestStripSiteSuffix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"4. More Control Flow Tools — Python 3.11.2 documentation", "4. More Control Flow Tools"},
		{"Path | Node.js v18.20.4 Documentation", "Path"},
		{"Models | Django documentation | Django", "Models"},
		{"Quickstart — Flask Documentation (2.2.x)", "Quickstart"},
		{"8.1. Numeric Types", "8.1. Numeric Types"},
		{"Rock - Paper - Scissors", "Rock - Paper - Scissors"},
		{"StringBuilder (Java SE 17 & JDK 17)", "StringBuilder (Java SE 17 & JDK 17)"},
	}
	for _, tt := range tests {
		if got := stripSiteSuffix(tt.in); got != tt.want {
			t.Errorf("stripSiteSuffix(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
