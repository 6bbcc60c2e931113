package index

import (
	"strings"

	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/stacksearch/stacksearch/corpus"
)

// AppliedFilter is a facet value the query named, applied as a soft boost.
type AppliedFilter struct {
	Field, Value string
	// Matched is the query text that named it.
	Matched string
}

// categoryWords are the words of titles that introduce an overview of a facet
// field: a query naming a framework is best answered by a section about
// frameworks, not by one that mentions it in passing.
var categoryWords = map[string]string{
	corpus.FieldLanguages:  "languages",
	corpus.FieldFrameworks: "frameworks",
	corpus.FieldDatabases:  "databases",
}

// Boosts of the parts of a text query.
const (
	boostTitle    = 3
	boostBody     = 1
	boostTags     = 1.5
	boostPage     = 0.5
	boostFacet    = 0.5
	boostCategory = 0.5
)

// textQuery turns the typed words into a ranked query over the text fields,
// with soft boosts for the facet values the words name.
func textQuery(text string, tax *corpus.Taxonomy) (query.Query, []AppliedFilter) {
	if strings.TrimSpace(text) == "" {
		return query.NewMatchAllQuery(), nil
	}
	fields := []struct {
		name  string
		boost float64
	}{{fieldTitle, boostTitle}, {fieldBody, boostBody}, {fieldTags, boostTags}, {fieldPage, boostPage}}
	var disj []query.Query
	for _, f := range fields {
		m := query.NewMatchQuery(text)
		m.SetField(f.name)
		m.SetBoost(f.boost)
		disj = append(disj, m)
	}
	main := query.NewDisjunctionQuery(disj)
	applied := understand(text, tax)
	if len(applied) == 0 {
		return main, nil
	}
	var should []query.Query
	for _, a := range applied {
		t := query.NewTermQuery(a.Value)
		t.SetField(a.Field)
		t.SetBoost(boostFacet)
		should = append(should, t)
		if w, ok := categoryWords[a.Field]; ok {
			m := query.NewMatchQuery(w)
			m.SetField(fieldTitle)
			m.SetBoost(boostCategory)
			should = append(should, m)
		}
	}
	return query.NewBooleanQuery([]query.Query{main}, should, nil), applied
}

// maxPhraseWords is the longest taxonomy name looked up ("ruby on rails").
const maxPhraseWords = 3

// understand finds the taxonomy names in a query, longest first: "ruby on
// rails caching" names Ruby on Rails and the performance topic.
func understand(text string, tax *corpus.Taxonomy) []AppliedFilter {
	if tax == nil {
		return nil
	}
	words := strings.Fields(text)
	var out []AppliedFilter
	seen := map[string]bool{}
	for i := 0; i < len(words); {
		n := min(maxPhraseWords, len(words)-i)
		for ; n > 0; n-- {
			phrase := strings.Join(words[i:i+n], " ")
			entries := tax.Lookup(phrase)
			if len(entries) == 0 {
				continue
			}
			for _, e := range entries {
				key := e.Field + "\x00" + e.Name
				if !seen[key] {
					seen[key] = true
					out = append(out, AppliedFilter{Field: e.Field, Value: e.Name, Matched: phrase})
				}
			}
			break
		}
		i += max(n, 1)
	}
	return out
}
