package index

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	bleveindex "github.com/blevesearch/bleve_index_api"

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
	// Typos tolerates typos in words the index does not hold.
	Typos bool
	// Distinct groups hits by page: each page's best hit comes first, with a
	// count of its page's other matches.
	Distinct bool
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
	// Corrected is the query with typos corrected from the index's own words,
	// when a correction was made; the hits include the corrected words' matches.
	Corrected string
	// Answer is the FAQ record that answers a question typed as a query.
	Answer *Answer
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
	// MoreInPage counts, in a distinct search, the other matches of the hit's page.
	MoreInPage int
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

// distinctWindow is how many of the best matches a distinct search
// diversifies; past it, hits follow in score order.
const distinctWindow = 200

// search runs req on the index.
func (ix *Index) search(ctx context.Context, req Request, tax *corpus.Taxonomy, tune Tuning) (*Result, error) {
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
	r, err := ix.reader()
	if err != nil {
		return nil, err
	}
	p := buildPlan(ctx, r, req.Query, tax, tune, req.Typos, ix.lengths.averages())
	r.Close()
	for name, vals := range p.filters {
		// field:value typed in the query: a bad value finds nothing, it is not an error
		if norm, err := normaliseFilters(map[string][]string{name: vals}, tax); err == nil {
			filters[name] = append(filters[name], norm[name]...)
		} else {
			filters[name] = append(filters[name], "\x00no-such-value")
		}
	}
	sortBy := []string{"-_score", "_id"}
	if p.browse {
		sortBy = []string{"_id"}
	}
	distinct := req.Distinct && !p.browse
	fp := fingerprint(req.Query, filters, distinct)
	cur, err := decodeCursor(req.PageToken, fp, len(sortBy))
	if err != nil {
		return nil, err
	}
	q := withFilters(p.query, filters, "")

	// the first search ranks (a page and one more hit, to know whether another
	// page follows; or the window to diversify) and counts facets
	size := req.Size + 1
	if distinct && cur.After == nil {
		size = distinctWindow
	}
	sr := bleve.NewSearchRequestOptions(q, size, 0, false)
	sr.SortBy(sortBy)
	if cur.After != nil {
		sr.SetSearchAfter(cur.After)
	}
	if distinct && cur.After == nil {
		sr.Fields = []string{fieldPage}
	} else {
		sr.Fields = storedFields
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
	out := &Result{Total: int(res.Total), Facets: map[string][]FacetValue{}, Applied: p.applied, Corrected: p.corrected}
	for name, fr := range res.Facets {
		out.Facets[name] = facetValues(fr)
	}
	for _, f := range req.Facets {
		if req.DisjunctiveFacets && len(filters[f]) > 0 {
			vals, err := ix.countFacet(ctx, p.query, filters, f)
			if err != nil {
				return nil, err
			}
			out.Facets[f] = vals
		}
	}

	page := res.Hits
	more := map[string]int{}
	if distinct && cur.After == nil {
		order, counts := diversify(res.Hits)
		end := min(cur.Offset+req.Size, len(order))
		page = order[min(cur.Offset, end):end]
		for _, dm := range page {
			more[dm.ID] = counts[dm.ID]
		}
		if err := ix.loadFields(ctx, page); err != nil {
			return nil, err
		}
		switch {
		case end < len(order):
			out.NextPageToken = encodeCursor(cursor{Fingerprint: fp, Offset: end})
		case res.Total > uint64(len(res.Hits)):
			last := res.Hits[len(res.Hits)-1] // continue in score order after the window
			out.NextPageToken = encodeCursor(cursor{Fingerprint: fp, After: []string{formatScore(last.Score), last.ID}})
		}
	} else if len(res.Hits) > req.Size {
		page = res.Hits[:req.Size]
		last := page[len(page)-1]
		after := []string{formatScore(last.Score), last.ID}
		if p.browse {
			after = []string{last.ID}
		}
		out.NextPageToken = encodeCursor(cursor{Fingerprint: fp, After: after})
	}

	bodies := map[string]string{}
	for _, dm := range page {
		h := toHit(dm)
		h.MoreInPage = more[dm.ID]
		body, _ := dm.Fields[fieldBody].(string)
		bodies[h.ID] = body
		if req.Highlight {
			h.Highlights, h.Snippet = highlightHit(h.Title, body, p.marks)
		}
		out.Hits = append(out.Hits, h)
	}
	if cur.After == nil && cur.Offset == 0 {
		out.Answer = findAnswer(p, out.Hits, bodies)
	}
	return out, nil
}

// diversify reorders ranked hits so that one page does not flood them: the
// best hit of each page first, in score order, then the others in score
// order. It also counts, for each page's best hit, the other hits of its page.
// Records without a page are their own group.
func diversify(hits []*search.DocumentMatch) ([]*search.DocumentMatch, map[string]int) {
	first := map[string]*search.DocumentMatch{}
	counts := map[string]int{}
	var lead, rest []*search.DocumentMatch
	for _, dm := range hits {
		key, _ := dm.Fields[fieldPage].(string)
		if key == "" {
			lead = append(lead, dm)
			continue
		}
		if f, ok := first[key]; ok {
			counts[f.ID]++
			rest = append(rest, dm)
			continue
		}
		first[key] = dm
		lead = append(lead, dm)
	}
	return append(lead, rest...), counts
}

// loadFields fills the stored fields of hits found without them.
func (ix *Index) loadFields(ctx context.Context, hits []*search.DocumentMatch) error {
	if len(hits) == 0 {
		return nil
	}
	ids := make([]string, len(hits))
	for i, dm := range hits {
		ids[i] = dm.ID
	}
	sr := bleve.NewSearchRequestOptions(query.NewDocIDQuery(ids), len(ids), 0, false)
	sr.Fields = storedFields
	res, err := ix.bleve.SearchInContext(ctx, sr)
	if err != nil {
		return fmt.Errorf("load hits: %w", err)
	}
	byID := make(map[string]map[string]any, len(res.Hits))
	for _, dm := range res.Hits {
		byID[dm.ID] = dm.Fields
	}
	for _, dm := range hits {
		dm.Fields = byID[dm.ID]
	}
	return nil
}

// reader opens a reader on the index's current state, for dictionary lookups.
func (ix *Index) reader() (bleveindex.IndexReader, error) {
	adv, err := ix.bleve.Advanced()
	if err != nil {
		return nil, fmt.Errorf("open index reader: %w", err)
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, fmt.Errorf("open index reader: %w", err)
	}
	return r, nil
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
func toHit(dm *search.DocumentMatch) Hit {
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
	return h
}
