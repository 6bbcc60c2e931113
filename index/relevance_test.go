package index

import (
	"bufio"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stacksearch/stacksearch/corpus"
)

// pagePrefix is the id prefix of every record of the default article.
const pagePrefix = "what-is-back-end-web-development--"

// defaultLive serves the default corpus, built once for the package's tests.
var defaultLive = sync.OnceValues(func() (*Live, error) {
	store, err := OpenStore("", slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	ix, _, err := store.Build(context.Background(), corpus.Default().Documents(context.Background()), BuildOptions{Source: "test"})
	if err != nil {
		return nil, err
	}
	l := NewLive(corpus.DefaultTaxonomy(), DefaultTuning(corpus.DefaultTaxonomy()))
	l.Swap(ix)
	return l, nil
})

func mustDefaultLive(t testing.TB) *Live {
	t.Helper()
	l, err := defaultLive()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// relevanceCase is one row of testdata/relevance.tsv.
type relevanceCase struct {
	line        int
	kind, query string
	// groups must each have a member in the top 3.
	groups [][]string
}

func readRelevance(t *testing.T) []relevanceCase {
	t.Helper()
	f, err := os.Open("testdata/relevance.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []relevanceCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 3 {
			t.Fatalf("relevance.tsv:%d: want 3 tab-separated columns, got %d", n, len(cols))
		}
		c := relevanceCase{line: n, kind: cols[0], query: cols[1]}
		for _, g := range strings.Fields(cols[2]) {
			var ids []string
			for _, id := range strings.Split(g, "|") {
				if id == "intro" {
					ids = append(ids, strings.TrimSuffix(pagePrefix, "--"))
				} else {
					ids = append(ids, pagePrefix+id)
				}
			}
			c.groups = append(c.groups, ids)
		}
		out = append(out, c)
	}
	return out
}

// TestRelevance checks that each query of the table finds its expected records in its top 3.
func TestRelevance(t *testing.T) {
	l := mustDefaultLive(t)
	cases := readRelevance(t)
	if len(cases) < 30 {
		t.Fatalf("relevance table has %d queries, want at least 30", len(cases))
	}
	// every expected id must exist, so a renamed record fails loudly
	for _, c := range cases {
		for _, g := range c.groups {
			for _, id := range g {
				if _, err := l.Document(context.Background(), id); err != nil {
					t.Errorf("relevance.tsv:%d: %v", c.line, err)
				}
			}
		}
	}
	passed := 0
	for _, c := range cases {
		t.Run(c.kind+"/"+c.query, func(t *testing.T) {
			res, err := l.Search(context.Background(), Request{Query: c.query, Size: 3, Typos: true})
			if err != nil {
				t.Fatal(err)
			}
			var top []string
			for _, h := range res.Hits {
				top = append(top, h.ID)
			}
			for _, g := range c.groups {
				if !anyIn(g, top) {
					t.Errorf("relevance.tsv:%d: %q: none of %v in top 3 %v", c.line, c.query, short(g), short(top))
					return
				}
			}
			passed++
		})
	}
	t.Logf("relevance: %d of %d queries pass", passed, len(cases))
}

func anyIn(want, have []string) bool {
	for _, w := range want {
		for _, h := range have {
			if w == h {
				return true
			}
		}
	}
	return false
}

func short(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strings.TrimPrefix(id, pagePrefix)
	}
	return out
}
