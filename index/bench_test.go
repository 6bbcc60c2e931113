package index

// Benchmarks of building and searching, on the embedded default corpus and,
// when STACKSEARCH_BENCH_CORPUS names a JSONL corpus (`make bench-data` writes
// data/debian-docs.jsonl; a relative path is taken from the repository root),
// on that corpus too, with the queries of testdata/bench-queries.tsv:
//
//	go test ./index -run '^$' -bench . -benchmem
//	STACKSEARCH_BENCH_CORPUS=data/debian-docs.jsonl go test ./index -run '^$' -bench 'Search|Suggest|Bleve' -benchmem
//
// Search benchmarks go through Live.Search, the call searchd's SearchService
// makes, one query per operation, walking the query list. The Bleve
// benchmarks are the floor under them: a stock Bleve match query on the same
// index, stored fields loaded, with and without Bleve's own highlighter. The
// comparison with searchd over gRPC and REST is cmd/stackbench's (make bench).

import (
	"bufio"
	"context"
	"fmt"
	"iter"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/stacksearch/stacksearch/corpus"
)

// benchQuery is one line of a query file.
type benchQuery struct {
	text    string
	filters map[string][]string
	facets  []string
}

// defaultBenchQueries are searches over the embedded article.
var defaultBenchQueries = []benchQuery{
	{text: "django"}, {text: "database"}, {text: "security"}, {text: "salary"}, {text: "api"},
	{text: "back end developer"}, {text: "how long does it take to learn backend"}, {text: "node.js express"},
	{text: "postgres vs mysql"}, {text: "caching performance"}, {text: "djnago"}, {text: "secuirty"},
	{text: "authent"}, {text: "python web framework"}, {text: "c# asp.net"}, {text: "cloud deploy"},
	{text: "server", facets: []string{"languages", "frameworks"}},
	{text: "framework", filters: map[string][]string{"languages": {"Python"}}},
	{text: "learn", facets: []string{"topics"}},
	{text: "rest graphql"},
}

// benchFixture is a built index with its queries.
type benchFixture struct {
	live    *Live
	ix      *Index
	docs    int
	queries []benchQuery
}

var (
	benchMu       sync.Mutex
	benchFixtures = map[string]*benchFixture{}
)

// benchCorpora returns the corpora to benchmark on: "default" always, "docs"
// when STACKSEARCH_BENCH_CORPUS is set.
func benchCorpora(b *testing.B) []string {
	names := []string{"default"}
	if benchCorpusPath(b) != "" {
		names = append(names, "docs")
	}
	return names
}

func benchCorpusPath(b *testing.B) string {
	path := os.Getenv("STACKSEARCH_BENCH_CORPUS")
	if path == "" {
		return ""
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join("..", path) // tests run in index/
	}
	if _, err := os.Stat(path); err != nil {
		b.Fatalf("STACKSEARCH_BENCH_CORPUS: %v", err)
	}
	return path
}

// fixture builds (once per test binary) the in-memory index of a corpus.
func fixture(b *testing.B, name string) *benchFixture {
	benchMu.Lock()
	defer benchMu.Unlock()
	if f := benchFixtures[name]; f != nil {
		return f
	}
	tax := corpus.DefaultTaxonomy()
	src := corpus.Default()
	queries := defaultBenchQueries
	if name == "docs" {
		var err error
		if src, err = corpus.Open(benchCorpusPath(b), tax); err != nil {
			b.Fatal(err)
		}
		if queries, err = readBenchQueries("../testdata/bench-queries.tsv"); err != nil {
			b.Fatal(err)
		}
	}
	store, err := OpenStore("", slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ix, rep, err := store.Build(context.Background(), src.Documents(context.Background()), BuildOptions{SkipBad: true})
	if err != nil {
		b.Fatal(err)
	}
	live := NewLive(tax, DefaultTuning(tax))
	live.Swap(ix)
	f := &benchFixture{live: live, ix: ix, docs: rep.Documents, queries: queries}
	benchFixtures[name] = f
	return f
}

// readBenchQueries reads the query file format of cmd/stackbench/load: the
// text, filters as a URL query string, facets comma-separated, tab-separated.
func readBenchQueries(path string) ([]benchQuery, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var qs []benchQuery
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		q := benchQuery{text: cols[0]}
		if len(cols) > 1 && cols[1] != "" {
			v, err := url.ParseQuery(cols[1])
			if err != nil {
				return nil, err
			}
			q.filters = v
		}
		if len(cols) > 2 && cols[2] != "" {
			q.facets = strings.Split(cols[2], ",")
		}
		qs = append(qs, q)
	}
	return qs, sc.Err()
}

var allFacets = []string{corpus.FieldLanguages, corpus.FieldFrameworks, corpus.FieldDatabases, corpus.FieldTopics}

// searchCases are the request shapes benchmarked: each adds one feature to
// plain, then box and full combine them as searchd's clients do.
var searchCases = []struct {
	name string
	req  func(q benchQuery) Request
}{
	{"plain", func(q benchQuery) Request { return Request{Query: q.text, Size: 10, Distinct: true} }},
	{"plain-nodistinct", func(q benchQuery) Request { return Request{Query: q.text, Size: 10} }},
	{"typos", func(q benchQuery) Request { return Request{Query: q.text, Size: 10, Distinct: true, Typos: true} }},
	{"highlights", func(q benchQuery) Request { return Request{Query: q.text, Size: 10, Distinct: true, Highlight: true} }},
	{"facets", func(q benchQuery) Request {
		return Request{Query: q.text, Size: 10, Distinct: true, Facets: allFacets}
	}},
	{"filters", func(q benchQuery) Request {
		return Request{Query: q.text, Size: 10, Distinct: true, Filters: q.filters}
	}},
	// box is the query line as written, with what searchd turns on by default
	{"box", func(q benchQuery) Request {
		return Request{Query: q.text, Size: 10, Distinct: true, Typos: true, Highlight: true, Filters: q.filters, Facets: q.facets}
	}},
	{"full", func(q benchQuery) Request {
		return Request{Query: q.text, Size: 10, Distinct: true, Typos: true, Highlight: true, Filters: q.filters, Facets: allFacets}
	}},
	{"browse-facets", func(q benchQuery) Request { return Request{Size: 10, Distinct: true, Facets: allFacets} }},
}

// BenchmarkSearch runs each request shape on each corpus, one query per op.
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	for _, name := range benchCorpora(b) {
		for _, c := range searchCases {
			b.Run(name+"/"+c.name, func(b *testing.B) {
				f := fixture(b, name)
				reqs := make([]Request, len(f.queries))
				for i, q := range f.queries {
					reqs[i] = c.req(q)
				}
				i := 0
				for b.Loop() {
					if _, err := f.live.Search(ctx, reqs[i%len(reqs)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
		// the full shape from as many goroutines as GOMAXPROCS: how it scales on the machine's cores
		b.Run(name+"/full-parallel", func(b *testing.B) {
			f := fixture(b, name)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					q := f.queries[i%len(f.queries)]
					r := Request{Query: q.text, Size: 10, Distinct: true, Typos: true, Highlight: true, Filters: q.filters, Facets: allFacets}
					if _, err := f.live.Search(ctx, r); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}

// BenchmarkSearchPage fetches a later page with its page token: page 2 and 5
// come from the distinct window of the first search, page 25 is past it
// (Bleve's search_after).
func BenchmarkSearchPage(b *testing.B) {
	ctx := context.Background()
	for _, name := range benchCorpora(b) {
		for _, page := range []int{2, 5, 25} {
			b.Run(fmt.Sprintf("%s/page%d", name, page), func(b *testing.B) {
				f := fixture(b, name)
				var reqs []Request
				for _, q := range f.queries[:min(len(f.queries), 40)] {
					r := Request{Query: q.text, Size: 10, Distinct: true, Typos: true, Highlight: true, Filters: q.filters}
					for range page - 1 {
						res, err := f.live.Search(ctx, Request{Query: r.Query, Size: 10, Distinct: true, Typos: true, Filters: q.filters, PageToken: r.PageToken})
						if err != nil {
							b.Fatal(err)
						}
						if r.PageToken = res.NextPageToken; r.PageToken == "" {
							break
						}
					}
					if r.PageToken != "" {
						reqs = append(reqs, r)
					}
				}
				if len(reqs) == 0 {
					b.Skipf("no query has %d pages", page)
				}
				i := 0
				for b.Loop() {
					if _, err := f.live.Search(ctx, reqs[i%len(reqs)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkSuggest completes each query typed half-way through its last word.
func BenchmarkSuggest(b *testing.B) {
	ctx := context.Background()
	for _, name := range benchCorpora(b) {
		b.Run(name, func(b *testing.B) {
			f := fixture(b, name)
			i := 0
			for b.Loop() {
				text := f.queries[i%len(f.queries)].text
				if j := strings.LastIndexByte(text, ' ') + 1; len(text)-j > 3 {
					text = text[:j+(len(text)-j+1)/2]
				}
				if _, err := f.live.Suggest(ctx, text, 5, nil); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkBleve is stock Bleve on the same index: a match query on title and
// body (OR of the words, Bleve's own BM25), 11 hits with the stored fields
// loaded as Search loads them, and with Bleve's HTML highlighter.
func BenchmarkBleve(b *testing.B) {
	ctx := context.Background()
	for _, name := range benchCorpora(b) {
		for _, hl := range []bool{false, true} {
			sub := "match"
			if hl {
				sub = "match-highlight"
			}
			b.Run(name+"/"+sub, func(b *testing.B) {
				f := fixture(b, name)
				i := 0
				for b.Loop() {
					text := f.queries[i%len(f.queries)].text
					title, body := query.NewMatchQuery(text), query.NewMatchQuery(text)
					title.SetField(fieldTitle)
					title.SetBoost(2)
					body.SetField(fieldBody)
					sr := bleve.NewSearchRequestOptions(query.NewDisjunctionQuery([]query.Query{title, body}), 11, 0, false)
					sr.Fields = storedFields
					if hl {
						sr.Highlight = bleve.NewHighlightWithStyle("html")
						sr.Highlight.Fields = []string{fieldTitle, fieldBody}
					}
					if _, err := f.ix.bleve.SearchInContext(ctx, sr); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkBuild builds an index of the default corpus in memory and on disk,
// and of the first 10,000 records of the documentation corpus on disk (as
// searchd -data-dir does), reporting documents a second.
func BenchmarkBuild(b *testing.B) {
	log := slog.New(slog.DiscardHandler)
	tax := corpus.DefaultTaxonomy()
	cases := []struct {
		name string
		disk bool
		docs func() iter.Seq2[corpus.Document, error]
	}{
		{"default/memory", false, func() iter.Seq2[corpus.Document, error] { return corpus.Default().Documents(context.Background()) }},
		{"default/disk", true, func() iter.Seq2[corpus.Document, error] { return corpus.Default().Documents(context.Background()) }},
	}
	if path := benchCorpusPath(b); path != "" {
		cases = append(cases, struct {
			name string
			disk bool
			docs func() iter.Seq2[corpus.Document, error]
		}{"docs-10000/disk", true, func() iter.Seq2[corpus.Document, error] {
			src, err := corpus.Open(path, tax)
			if err != nil {
				b.Fatal(err)
			}
			return firstN(src.Documents(context.Background()), 10000)
		}})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			docs := 0
			for b.Loop() {
				dir := ""
				if c.disk {
					dir = b.TempDir()
				}
				store, err := OpenStore(dir, log)
				if err != nil {
					b.Fatal(err)
				}
				ix, rep, err := store.Build(context.Background(), c.docs(), BuildOptions{SkipBad: true})
				if err != nil {
					b.Fatal(err)
				}
				docs += rep.Documents
				ix.Close()
			}
			b.ReportMetric(float64(docs)/b.Elapsed().Seconds(), "docs/s")
		})
	}
}

func firstN(seq iter.Seq2[corpus.Document, error], n int) iter.Seq2[corpus.Document, error] {
	return func(yield func(corpus.Document, error) bool) {
		i := 0
		for d, err := range seq {
			if i >= n || !yield(d, err) {
				return
			}
			i++
		}
	}
}
