package index

import (
	"context"
	"log/slog"
	"testing"

	"github.com/blevesearch/bleve/v2/index/scorch"

	"github.com/stacksearch/stacksearch/corpus"
)

// segments counts the segments of ix's current state.
func segments(t *testing.T, ix *Index) int {
	t.Helper()
	r, err := ix.reader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		t.Fatalf("reader is a %T, not a scorch snapshot", r)
	}
	return len(snap.Segments())
}

// TestBuildOnDiskIsOneSegment checks that a build on disk ends merged into
// one segment, however many batches it took, and searches the same.
func TestBuildOnDiskIsOneSegment(t *testing.T) {
	store, err := OpenStore(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ix, rep, err := store.Build(context.Background(), corpus.Default().Documents(context.Background()), BuildOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if n := segments(t, ix); n != 1 {
		t.Errorf("a build of %d documents in batches of 2 left %d segments", rep.Documents, n)
	}
	res, err := ix.search(context.Background(), Request{Query: "salary", Size: 3}, corpus.DefaultTaxonomy(), DefaultTuning(corpus.DefaultTaxonomy()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Total == 0 || res.Hits[0].ID != "what-is-back-end-web-development--20-what-is-the-salary-range-for-a-back-end-web-development-job" {
		t.Errorf("salary after the merge: %d hits, first %v", res.Total, res.Hits)
	}
}
