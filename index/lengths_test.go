package index

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stacksearch/stacksearch/corpus"
)

// TestRankingIndependentOfBatches builds the default corpus in batches of 1 and
// of 1,000 (so with very different segments) and expects the same field lengths
// and the same scores: BM25 must not depend on how the index was written.
func TestRankingIndependentOfBatches(t *testing.T) {
	build := func(batch int) *Live {
		store, err := OpenStore("", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		ix, _, err := store.Build(context.Background(), corpus.Default().Documents(context.Background()), BuildOptions{BatchSize: batch})
		if err != nil {
			t.Fatal(err)
		}
		tax := corpus.DefaultTaxonomy()
		l := NewLive(tax, DefaultTuning(tax))
		l.Swap(ix)
		return l
	}
	a, b := build(1), build(1000)
	ia, _, _ := a.acquire()
	ib, _, _ := b.acquire()
	avgA, avgB := ia.lengths.averages(), ib.lengths.averages()
	for _, f := range lengthFields {
		if avgA[f] != avgB[f] || (f == fieldBody && avgA[f] < 50) {
			t.Errorf("average %s length: %.2f in batches of 1, %.2f in batches of 1000", f, avgA[f], avgB[f])
		}
	}
	for _, q := range []string{"django", "security audits", "how long does it take to learn backend"} {
		ra, err := a.Search(context.Background(), Request{Query: q, Size: 5})
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.Search(context.Background(), Request{Query: q, Size: 5})
		if err != nil {
			t.Fatal(err)
		}
		for i := range ra.Hits {
			if ra.Hits[i].ID != rb.Hits[i].ID || ra.Hits[i].Score != rb.Hits[i].Score {
				t.Errorf("%q hit %d: %s %.6f vs %s %.6f", q, i, ra.Hits[i].ID, ra.Hits[i].Score, rb.Hits[i].ID, rb.Hits[i].Score)
			}
		}
	}
}
