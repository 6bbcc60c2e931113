package index

import (
	"fmt"
	"testing"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
)

// TestMaxClauseCount checks that wildcard, prefix, regexp and fuzzy terms are
// refused once they would expand past the bound, and run within it.
func TestMaxClauseCount(t *testing.T) {
	defer SetMaxClauseCount(MaxClauseCount())
	b, err := bleve.NewMemOnly(bleve.NewIndexMapping())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	batch := b.NewBatch()
	for i := 0; i < 300; i++ {
		batch.Index(fmt.Sprint(i), map[string]string{"body": fmt.Sprintf("word%03d wore%03d", i, i)})
	}
	if err := b.Batch(batch); err != nil {
		t.Fatal(err)
	}
	field := func(q interface{ SetField(string) }) query.Query {
		q.SetField("body")
		return q.(query.Query)
	}
	fuzzy := query.NewFuzzyQuery("word100")
	fuzzy.SetFuzziness(2)
	queries := map[string]query.Query{
		"wildcard": field(query.NewWildcardQuery("word*")),
		"prefix":   field(query.NewPrefixQuery("wor")),
		"regexp":   field(query.NewRegexpQuery("wor[de].*")),
		"fuzzy":    field(fuzzy),
	}
	SetMaxClauseCount(50)
	for name, q := range queries {
		_, err := b.Search(bleve.NewSearchRequest(q))
		if !IsTooManyClauses(err) {
			t.Errorf("%s over the bound: %v, want TooManyClauses", name, err)
		}
	}
	SetMaxClauseCount(10000)
	for name, q := range queries {
		if res, err := b.Search(bleve.NewSearchRequest(q)); err != nil || res.Total == 0 {
			t.Errorf("%s within the bound: %v, %v", name, res, err)
		}
	}
	if IsTooManyClauses(nil) || IsTooManyClauses(ErrInvalid) {
		t.Error("IsTooManyClauses matches other errors")
	}
}
