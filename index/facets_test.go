package index

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"testing"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/collector"
	"github.com/blevesearch/bleve/v2/search/facet"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/stacksearch/stacksearch/corpus"
)

// bleveFacets counts facets over q's matches as Bleve does, from the doc
// values of every match: what the facet tables must agree with.
func bleveFacets(t *testing.T, ix *Index, q query.Query, facets map[string]string) map[string][]FacetValue {
	t.Helper()
	r, err := ix.reader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := q.Searcher(context.Background(), r, ix.bleve.Mapping(), search.SearcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	coll := collector.NewTopNCollector(0, 0, search.ParseSortOrderStrings([]string{"_id"}))
	fb := search.NewFacetsBuilder(r)
	for name, field := range facets {
		fb.Add(name, facet.NewTermsFacetBuilder(field, maxFacetValues))
	}
	coll.SetFacetsBuilder(fb)
	if err := coll.Collect(context.Background(), s, r); err != nil {
		t.Fatal(err)
	}
	out := map[string][]FacetValue{}
	for name, fr := range coll.FacetResults() {
		out[name] = facetValues(fr)
	}
	return out
}

// tableFacets counts facets over q's matches from the facet tables.
func tableFacets(t *testing.T, ix *Index, q query.Query, facets map[string]string) (map[string][]FacetValue, uint64) {
	t.Helper()
	r, err := ix.reader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, total, counts, err := ix.collect(context.Background(), r, q, 0, []string{"_id"}, nil, facets)
	if err != nil {
		t.Fatal(err)
	}
	return counts, total
}

// TestFacetTablesCountAsBleve checks the facet tables against Bleve's own
// counting on an index of many segments, with documents replaced and
// deleted (so that segments hold dead documents), before and after its
// segments are merged, for queries matching all, some and none.
func TestFacetTablesCountAsBleve(t *testing.T) {
	store, err := OpenStore(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// a small batch size makes a segment of every few records
	ix, _, err := store.Build(context.Background(), corpus.Default().Documents(context.Background()), BuildOptions{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	all := maps.Clone(facetFields)
	queries := map[string]query.Query{
		"everything": bleve.NewMatchAllQuery(),
		"database":   termIn(fieldBody, "databas"),
		"django":     termIn(fieldBody, "django"),
		"nothing":    termIn(fieldBody, "zzzqqq"),
	}
	check := func(stage string) {
		t.Helper()
		for name, q := range queries {
			want := bleveFacets(t, ix, q, all)
			got, total := tableFacets(t, ix, q, all)
			for f := range all {
				if !slices.Equal(got[f], want[f]) {
					t.Errorf("%s, %s, facet %s: tables count %v, Bleve %v", stage, name, f, got[f], want[f])
				}
			}
			if name == "everything" && total == 0 {
				t.Errorf("%s: no matches", stage)
			}
		}
	}
	check("as built")

	ids := allIDs(t, ix)
	var changes []Change
	for i, id := range ids {
		switch i % 5 {
		case 0: // retagged: Go and Redis instead of what it had
			doc, err := ix.Document(id)
			if err != nil {
				t.Fatal(err)
			}
			doc.Languages, doc.Databases = []string{"Go"}, []string{"Redis"}
			changes = append(changes, Change{ID: id, Doc: doc})
		case 1:
			changes = append(changes, Change{ID: id})
		}
	}
	for i, c := range changes {
		if err := ix.Apply(uint64(i+1), []Change{c}); err != nil {
			t.Fatal(err)
		}
	}
	check("after replacing and deleting")

	// the tables of segments merged away are dropped, new ones built
	if len(ix.facets.m) == 0 {
		t.Fatal("no facet tables were built")
	}
	before := len(ix.facets.m)
	for i := range 30 {
		doc := &corpus.Document{ID: fmt.Sprintf("extra-%d", i), Title: "Extra", Body: "database extra", Type: corpus.TypeSection,
			Languages: []string{"Python"}}
		if err := ix.Apply(uint64(len(changes)+i+1), []Change{{ID: doc.ID, Doc: doc}}); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("after extra %d", i))
	}
	if after := len(ix.facets.m); after > 2*before+16+32 {
		t.Errorf("facet tables kept: %d (was %d)", after, before)
	}
}

func termIn(field, term string) query.Query {
	q := bleve.NewTermQuery(term)
	q.SetField(field)
	return q
}

func allIDs(t *testing.T, ix *Index) []string {
	t.Helper()
	req := bleve.NewSearchRequestOptions(bleve.NewMatchAllQuery(), 1000, 0, false)
	req.SortBy([]string{"_id"})
	res, err := ix.bleve.Search(req)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range res.Hits {
		ids = append(ids, h.ID)
	}
	return ids
}
