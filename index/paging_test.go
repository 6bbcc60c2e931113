package index

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"testing"

	"github.com/stacksearch/stacksearch/corpus"
)

// TestPagingThroughTiedScores pages through records that all score the same
// (copies of one text under different ids), distinct and not, in pages that
// cut through the tie: every record is seen exactly once.
func TestPagingThroughTiedScores(t *testing.T) {
	docs := func(yield func(corpus.Document, error) bool) {
		for i := range 25 {
			d := corpus.Document{ID: fmt.Sprintf("copy-%02d", i), Title: "Connection pooling", Body: "Reuse database connections.",
				Page: fmt.Sprintf("Page %d", i%3)}
			if !yield(d, nil) {
				return
			}
		}
	}
	store, err := OpenStore("", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ix, _, err := store.Build(context.Background(), iter.Seq2[corpus.Document, error](docs), BuildOptions{BatchSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLive(nil, DefaultTuning(nil))
	l.Swap(ix)
	for _, distinct := range []bool{false, true} {
		for _, size := range []int{1, 4, 10} {
			seen := map[string]int{}
			token := ""
			for pages := 0; ; pages++ {
				res, err := l.Search(context.Background(), Request{Query: "pooling ", Size: size, PageToken: token, Distinct: distinct})
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range res.Hits {
					seen[h.ID]++
				}
				if token = res.NextPageToken; token == "" || pages > 30 {
					break
				}
			}
			if len(seen) != 25 {
				t.Errorf("distinct=%v size %d: saw %d of 25 records", distinct, size, len(seen))
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("distinct=%v size %d: %s seen %d times", distinct, size, id, n)
				}
			}
		}
	}
}
