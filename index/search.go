package index

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/stacksearch/stacksearch/corpus"
)

// Request is one search: words, filters, facets and a page.
type Request struct {
	// Query is the text typed; empty lists every record.
	Query string
	// Filters maps a facet name (languages, frameworks, databases, topics, types)
	// to the values a record must have one of. Values OR within a field, AND across fields.
	Filters map[string][]string
	// Facets names the facet fields to count over all matches.
	Facets []string
	// DisjunctiveFacets counts each facet field with every filter but its own.
	DisjunctiveFacets bool
	// Size is the number of hits per page (1 to MaxPageSize).
	Size int
	// PageToken continues from the page that returned it.
	PageToken string
	// Highlight asks for highlighted fragments and a snippet per hit.
	Highlight bool
}

// Limits on a request.
const (
	// MaxPageSize is the most hits a page may ask for.
	MaxPageSize = 100
	// maxFacetValues is the most values counted per facet field.
	maxFacetValues = 100
)

// Result is one page of hits.
type Result struct {
	Hits []Hit
	// Facets maps each requested facet name to its values, most frequent first.
	Facets map[string][]FacetValue
	// Total is the number of matching records.
	Total int
	// NextPageToken continues with the next page; empty on the last.
	NextPageToken string
	// Applied lists the facet values the query named, applied as soft boosts.
	Applied []AppliedFilter
}

// Hit is one ranked record.
type Hit struct {
	ID, Title, URL, Page, Type               string
	Languages, Frameworks, Databases, Topics []string
	Score                                    float64
	// Highlights holds HTML-escaped fragments with matches in <mark>, per field.
	Highlights []Highlight
	// Snippet is the best-matching passage of the body, HTML-escaped, matches in <mark>.
	Snippet string
}

// Highlight is the highlighted fragments of one field.
type Highlight struct {
	Field     string
	Fragments []string
}

// FacetValue is one value of a facet field and its count.
type FacetValue struct {
	Value string
	Count int
}

// FacetNames lists the names Request.Facets and Request.Filters accept.
func FacetNames() []string {
	return []string{corpus.FieldLanguages, corpus.FieldFrameworks, corpus.FieldDatabases, corpus.FieldTopics, "types"}
}

// search runs req on the index.
func (ix *Index) search(ctx context.Context, req Request, tax *corpus.Taxonomy) (*Result, error) {
	if req.Size < 1 || req.Size > MaxPageSize {
		return nil, &FieldError{Field: "page_size", Reason: fmt.Sprintf("must be between 1 and %d", MaxPageSize)}
	}
	for _, f := range req.Facets {
		if _, ok := facetFields[f]; !ok {
			return nil, &FieldError{Field: "facets", Reason: fmt.Sprintf("unknown facet %q; use one of %s", f, strings.Join(FacetNames(), ", "))}
		}
	}
	filters, err := normaliseFilters(req.Filters, tax)
	if err != nil {
		return nil, err
	}
	q, applied := textQuery(req.Query, tax)
	browse := strings.TrimSpace(req.Query) == ""
	sortBy := []string{"-_score", "_id"}
	if browse {
		sortBy = []string{"_id"}
	}
	fp := fingerprint(req.Query, filters)
	var after []string
	if req.PageToken != "" {
		if after, err = decodeCursor(req.PageToken, fp, len(sortBy)); err != nil {
			return nil, err
		}
	}

	sr := bleve.NewSearchRequestOptions(withFilters(q, filters, ""), req.Size, 0, false)
	sr.SortBy(sortBy)
	sr.Fields = storedFields
	if after != nil {
		sr.SetSearchAfter(after)
	}
	if req.Highlight && !browse {
		sr.IncludeLocations = true
	}
	for _, f := range req.Facets {
		if req.DisjunctiveFacets && len(filters[f]) > 0 {
			continue // counted below without its own filter
		}
		sr.AddFacet(f, bleve.NewFacetRequest(facetFields[f], maxFacetValues))
	}
	res, err := ix.bleve.SearchInContext(ctx, sr)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	out := &Result{Total: int(res.Total), Facets: map[string][]FacetValue{}, Applied: applied}
	for name, fr := range res.Facets {
		out.Facets[name] = facetValues(fr)
	}
	for _, f := range req.Facets {
		if req.DisjunctiveFacets && len(filters[f]) > 0 {
			vals, err := ix.countFacet(ctx, q, filters, f)
			if err != nil {
				return nil, err
			}
			out.Facets[f] = vals
		}
	}
	for _, dm := range res.Hits {
		out.Hits = append(out.Hits, toHit(dm, req.Highlight))
	}
	if len(res.Hits) == req.Size && uint64(req.Size) < res.Total {
		last := res.Hits[len(res.Hits)-1]
		vals := []string{formatScore(last.Score), last.ID}
		if browse {
			vals = []string{last.ID}
		}
		out.NextPageToken = encodeCursor(fp, vals)
	}
	return out, nil
}

// countFacet counts one facet field over the matches of q with every filter but its own.
func (ix *Index) countFacet(ctx context.Context, q query.Query, filters map[string][]string, facet string) ([]FacetValue, error) {
	sr := bleve.NewSearchRequestOptions(withFilters(q, filters, facet), 0, 0, false)
	sr.AddFacet(facet, bleve.NewFacetRequest(facetFields[facet], maxFacetValues))
	res, err := ix.bleve.SearchInContext(ctx, sr)
	if err != nil {
		return nil, fmt.Errorf("count facet %s: %w", facet, err)
	}
	return facetValues(res.Facets[facet]), nil
}

func facetValues(fr *search.FacetResult) []FacetValue {
	vals := []FacetValue{}
	if fr == nil || fr.Terms == nil {
		return vals
	}
	for _, t := range fr.Terms.Terms() {
		vals = append(vals, FacetValue{Value: t.Term, Count: t.Count})
	}
	slices.SortStableFunc(vals, func(a, b FacetValue) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Value, b.Value)
	})
	return vals
}

// normaliseFilters checks the filter fields and maps values to canonical names.
func normaliseFilters(in map[string][]string, tax *corpus.Taxonomy) (map[string][]string, error) {
	out := make(map[string][]string, len(in))
	for name, vals := range in {
		if _, ok := facetFields[name]; !ok {
			return nil, &FieldError{Field: name, Reason: fmt.Sprintf("unknown filter; use one of %s", strings.Join(FacetNames(), ", "))}
		}
		for _, v := range vals {
			v = strings.TrimSpace(v)
			if v == "" {
				return nil, &FieldError{Field: name, Reason: "filter values must not be empty"}
			}
			if name == "types" {
				v = strings.ToLower(v)
				if v != corpus.TypeSection && v != corpus.TypeFAQ {
					return nil, &FieldError{Field: "types", Reason: fmt.Sprintf("unknown type %q; use %q or %q", v, corpus.TypeSection, corpus.TypeFAQ)}
				}
			} else if tax != nil {
				if c, ok := tax.Canonical(name, v); ok {
					v = c
				}
			}
			if !slices.Contains(out[name], v) {
				out[name] = append(out[name], v)
			}
		}
	}
	return out, nil
}

// withFilters restricts q to records matching every filter but skip's. Filters
// do not change scores.
func withFilters(q query.Query, filters map[string][]string, skip string) query.Query {
	var conj []query.Query
	for _, name := range FacetNames() {
		vals := filters[name]
		if name == skip || len(vals) == 0 {
			continue
		}
		var disj []query.Query
		for _, v := range vals {
			t := query.NewTermQuery(v)
			t.SetField(facetFields[name])
			disj = append(disj, t)
		}
		conj = append(conj, query.NewDisjunctionQuery(disj))
	}
	if len(conj) == 0 {
		return q
	}
	b := query.NewBooleanQuery([]query.Query{q}, nil, nil)
	b.AddFilter(query.NewConjunctionQuery(conj))
	return b
}

// toHit converts a Bleve match with its stored fields.
func toHit(dm *search.DocumentMatch, highlight bool) Hit {
	h := Hit{ID: dm.ID, Score: dm.Score}
	str := func(name string) string {
		s, _ := dm.Fields[name].(string)
		return s
	}
	list := func(name string) []string {
		switch v := dm.Fields[name].(type) {
		case string:
			return []string{v}
		case []any:
			out := make([]string, 0, len(v))
			for _, e := range v {
				if s, ok := e.(string); ok {
					out = append(out, s)
				}
			}
			return out
		}
		return nil
	}
	h.Title, h.URL, h.Page, h.Type = str(fieldTitle), str(fieldURL), str(fieldPage), str(fieldType)
	h.Languages, h.Frameworks = list(corpus.FieldLanguages), list(corpus.FieldFrameworks)
	h.Databases, h.Topics = list(corpus.FieldDatabases), list(corpus.FieldTopics)
	if highlight {
		h.Highlights, h.Snippet = highlightHit(h.Title, str(fieldBody), dm.Locations)
	}
	return h
}
