package corpus

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// scifactLike returns n JSONL lines shaped like SciFact's corpus.jsonl: a title of about 15 words and
// an abstract of about 200, with a metadata object.
func scifactLike(n int) []byte {
	words := strings.Fields(`the of cells in and patients with were to a expression protein cell that
		by for was is these associated we increased human mice analysis results levels response activity
		clinical model gene role study tumor treatment disease risk data signaling immune cancer receptor
		database server security performance Python Java Go learning cloud architecture`)
	r := rand.New(rand.NewPCG(1, 2))
	sentence := func(k int) string {
		w := make([]string, k)
		for i := range w {
			w[i] = words[r.IntN(len(words))]
		}
		return strings.Join(w, " ")
	}
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"_id": "%d", "title": %q, "text": %q, "metadata": {}}`+"\n", 1000+i, sentence(15), sentence(200)+".")
	}
	return b.Bytes()
}

// BenchmarkReadJSONL reads and tags SciFact-sized data; docs/s is the figure to watch.
func BenchmarkReadJSONL(b *testing.B) {
	const n = 5000
	data := scifactLike(n)
	tax := DefaultTaxonomy()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		for doc, err := range ReadJSONL("bench.jsonl", bytes.NewReader(data)) {
			if err != nil {
				b.Fatal(err)
			}
			tax.Tag(&doc)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkTag tags the 32 records of the default corpus.
func BenchmarkTag(b *testing.B) {
	var docs []Document
	for d, err := range Default().Documents(context.Background()) {
		if err != nil {
			b.Fatal(err)
		}
		d.Languages, d.Frameworks, d.Databases, d.Topics = nil, nil, nil, nil
		docs = append(docs, d)
	}
	tax := DefaultTaxonomy()
	b.ResetTimer()
	for b.Loop() {
		for _, d := range docs {
			tax.Tag(&d)
		}
	}
	b.ReportMetric(float64(len(docs)*b.N)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkParseMarkdown parses the default article.
func BenchmarkParseMarkdown(b *testing.B) {
	src, err := defaultFS.ReadFile(defaultFile)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := ParseMarkdown("bench.md", src); err != nil {
			b.Fatal(err)
		}
	}
}
