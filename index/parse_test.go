package index

import (
	"fmt"
	"strings"
	"testing"
)

// render writes a parsed query compactly for comparison.
func render(q parsedQuery) string {
	var parts []string
	alt := func(a queryAlt) string {
		if a.phrase {
			return `"` + a.text + `"`
		}
		return a.text
	}
	for _, g := range q.groups {
		var alts []string
		for _, a := range g.alts {
			alts = append(alts, alt(a))
		}
		parts = append(parts, strings.Join(alts, "|"))
	}
	for _, e := range q.excludes {
		parts = append(parts, "-"+alt(e))
	}
	for _, f := range FacetNames() {
		for _, v := range q.filters[f] {
			parts = append(parts, f+"="+v)
		}
	}
	if q.prefix {
		parts = append(parts, "prefix")
	}
	return strings.Join(parts, " ")
}

func TestParseQuery(t *testing.T) {
	cases := []struct{ in, want string }{
		{"django caching", "django caching prefix"},
		{"django caching ", "django caching"},
		{`"exact phrase" rest`, `"exact phrase" rest prefix`},
		{`"unclosed phrase`, "unclosed phrase prefix"},
		{"python -django", "python -django"},
		{`api -"rest api"`, `api -"rest api"`},
		{"flask OR django tutorial", "flask|django tutorial prefix"},
		{"OR django", "or django prefix"},
		{"django OR", "django or"},
		{"languages:python orm", "orm languages=python prefix"},
		{"lang:go type:faq db:postgres x", "x languages=go databases=postgres types=faq prefix"},
		{`topics:"machine learning" models`, "models topics=machine learning prefix"},
		{"http://example.com c# .net", "http://example.com c# .net prefix"},
		{"color:red", "color:red prefix"},
		{"- -- -x", "- -- -x"},
		{"", ""},
		{`""`, ""},
		{"languages:", "languages: prefix"},
		{"C++ back-end", "C++ back-end prefix"},
	}
	for _, c := range cases {
		if got := render(parseQuery(c.in)); got != c.want {
			t.Errorf("parseQuery(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"django caching", `"a b" -c OR d`, "languages:python", `topics:"x y`, "-", `"`, "a OR", "c# .net node.js"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := parseQuery(s)
		for _, g := range q.groups {
			if len(g.alts) == 0 {
				t.Fatalf("%q: empty group", s)
			}
			for _, a := range g.alts {
				if a.text == "" {
					t.Fatalf("%q: empty alternative", s)
				}
			}
		}
		_ = fmt.Sprint(q)
	})
}
