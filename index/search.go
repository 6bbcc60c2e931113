package index

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/collector"
	"github.com/blevesearch/bleve/v2/search/facet"
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
const distinctWindow = 100

// search runs req on the index. Everything a search reads (dictionaries for
// typo corrections and completions, postings, doc values, stored fields) comes
// from one reader, so it sees one state of the index.
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
	defer r.Close()
	p := buildPlan(ctx, r, req.Query, tax, tune, req.Typos, ix.lengths.averages())
	for name, vals := range p.filters {
		// field:value typed in the query: a bad value finds nothing, it is not an error
		if norm, err := normaliseFilters(map[string][]string{name: vals}, tax); err == nil {
			filters[name] = append(filters[name], norm[name]...)
		} else {
			filters[name] = append(filters[name], "\x00no-such-value")
		}
	}
	// Hits are ranked by score alone, which lets Bleve skip reading every
	// match's id; equal scores keep the index's order, and a page token
	// counts the hits of the last score already shown (see cursor).
	sortBy := []string{"-_score"}
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
	inWindow := distinct && cur.After == nil

	// one search ranks (a page, one more hit to know whether another page
	// follows, and the hits of a tied score already shown; or the window to
	// diversify) and counts the facets
	size := req.Size + 1 + cur.Ties
	if inWindow {
		size = distinctWindow
	}
	facets := map[string]string{}
	for _, f := range req.Facets {
		if !req.DisjunctiveFacets || len(filters[f]) == 0 {
			facets[f] = facetFields[f]
		}
	}
	after := cur.After
	if after != nil && !p.browse {
		// Bleve continues strictly after a key: start just above the last
		// score, so that the hits of that score not shown yet come back too
		score, _ := strconv.ParseFloat(after[0], 64)
		after = []string{formatScore(math.Nextafter(score, math.Inf(1)))}
	}
	hits, total, counts, err := ix.collect(ctx, r, q, size, sortBy, after, facets)
	if err != nil {
		return nil, err
	}
	out := &Result{Total: int(total), Facets: counts, Applied: p.applied, Corrected: p.corrected}
	for _, f := range req.Facets {
		if req.DisjunctiveFacets && len(filters[f]) > 0 {
			// counted with every filter but its own
			_, _, fc, err := ix.collect(ctx, r, withFilters(p.query, filters, f), 0, sortBy, nil, map[string]string{f: facetFields[f]})
			if err != nil {
				return nil, err
			}
			out.Facets[f] = fc[f]
		}
	}

	var page []*search.DocumentMatch
	more := map[string]int{}
	if inWindow {
		order, counts, err := diversify(r, hits)
		if err != nil {
			return nil, err
		}
		end := min(cur.Offset+req.Size, len(order))
		page = order[min(cur.Offset, end):end]
		for _, dm := range page {
			more[dm.ID] = counts[dm.ID]
		}
		switch {
		case end < len(order):
			out.NextPageToken = encodeCursor(cursor{Fingerprint: fp, Offset: end})
		case total > uint64(len(hits)):
			// continue in score order after the window
			out.NextPageToken = encodeCursor(nextCursor(fp, cursor{}, hits))
		}
	} else {
		hits = skipShown(hits, cur)
		page = hits[:min(len(hits), req.Size)]
		if len(hits) > req.Size {
			if p.browse {
				out.NextPageToken = encodeCursor(cursor{Fingerprint: fp, After: []string{page[len(page)-1].ID}})
			} else {
				out.NextPageToken = encodeCursor(nextCursor(fp, cur, page))
			}
		}
	}

	bodies := map[string]string{}
	for _, dm := range page {
		doc, err := ix.loadHit(r, dm.ID)
		if err != nil {
			return nil, err
		}
		h := toHit(dm.ID, dm.Score, doc)
		h.MoreInPage = more[dm.ID]
		bodies[h.ID] = doc.Body
		if req.Highlight {
			h.Highlights, h.Snippet = highlightHit(h.Title, doc.Body, p.marks)
		}
		out.Hits = append(out.Hits, h)
	}
	if cur.After == nil && cur.Offset == 0 {
		out.Answer = findAnswer(p, out.Hits, bodies)
	}
	return out, nil
}

// collect runs q on r: the first size hits in sortBy order (after the given
// sort key, when set), the number of matches, and the counts of the facets
// (name → field).
func (ix *Index) collect(ctx context.Context, r bleveindex.IndexReader, q query.Query, size int, sortBy, after []string,
	facets map[string]string) (search.DocumentMatchCollection, uint64, map[string][]FacetValue, error) {
	s, err := q.Searcher(ctx, r, ix.bleve.Mapping(), search.SearcherOptions{})
	if err != nil {
		return nil, 0, nil, fmt.Errorf("search: %w", err)
	}
	defer s.Close()
	order := search.ParseSortOrderStrings(sortBy)
	var coll *collector.TopNCollector
	if after != nil {
		coll = collector.NewTopNCollectorAfter(size, order, after)
	} else {
		coll = collector.NewTopNCollector(size, 0, order)
	}
	var counter *facetCounter
	if len(facets) > 0 {
		if counter, err = ix.countingSearcher(ctx, r, s); err != nil {
			return nil, 0, nil, fmt.Errorf("search: %w", err)
		}
		if counter != nil {
			s = counter
		} else {
			fb := search.NewFacetsBuilder(r)
			for name, field := range facets {
				fb.Add(name, facet.NewTermsFacetBuilder(field, maxFacetValues))
			}
			coll.SetFacetsBuilder(fb)
		}
	}
	if err := coll.Collect(ctx, s, r); err != nil {
		return nil, 0, nil, fmt.Errorf("search: %w", err)
	}
	counts := map[string][]FacetValue{}
	if counter != nil {
		counts = counter.results(facets)
	} else {
		for name, fr := range coll.FacetResults() {
			counts[name] = facetValues(fr)
		}
	}
	return coll.Results(), coll.Total(), counts, nil
}

// skipShown drops, on a page continuing from a score, the hits of that score
// the earlier pages already showed: they come back first, in the same order
// as before.
func skipShown(hits search.DocumentMatchCollection, cur cursor) search.DocumentMatchCollection {
	if cur.After == nil || cur.Ties == 0 {
		return hits
	}
	score, _ := strconv.ParseFloat(cur.After[0], 64)
	n := 0
	for n < len(hits) && n < cur.Ties && hits[n].Score == score {
		n++
	}
	return hits[n:]
}

// nextCursor continues after the last of shown, counting how many hits of its
// score have been shown, on this page and (when the score is the same) before.
func nextCursor(fp string, prev cursor, shown []*search.DocumentMatch) cursor {
	last := shown[len(shown)-1].Score
	ties := 0
	for i := len(shown) - 1; i >= 0 && shown[i].Score == last; i-- {
		ties++
	}
	if prev.After != nil && prev.After[0] == formatScore(last) && ties == len(shown) {
		ties += prev.Ties
	}
	return cursor{Fingerprint: fp, After: []string{formatScore(last)}, Ties: ties}
}

// diversify reorders ranked hits so that one page does not flood them: the
// best hit of each page first, in score order, then the others in score
// order. It also counts, for each page's best hit, the other hits of its page.
// Records without a page are their own group. Pages are read from doc values.
func diversify(r bleveindex.IndexReader, hits []*search.DocumentMatch) ([]*search.DocumentMatch, map[string]int, error) {
	dvr, err := r.DocValueReader([]string{fieldPageKey})
	if err != nil {
		return nil, nil, fmt.Errorf("read pages: %w", err)
	}
	// doc values are stored in compressed chunks: read them in document order,
	// so that each chunk is decompressed once
	keys := make(map[*search.DocumentMatch]string, len(hits))
	byDoc := slices.Clone(hits)
	slices.SortFunc(byDoc, func(a, b *search.DocumentMatch) int { return a.IndexInternalID.Compare(b.IndexInternalID) })
	for _, dm := range byDoc {
		if err := dvr.VisitDocValues(dm.IndexInternalID, func(_ string, term []byte) { keys[dm] = string(term) }); err != nil {
			return nil, nil, fmt.Errorf("read pages: %w", err)
		}
	}
	first := map[string]*search.DocumentMatch{}
	counts := map[string]int{}
	var lead, rest []*search.DocumentMatch
	for _, dm := range hits {
		key := keys[dm]
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
	return append(lead, rest...), counts, nil
}

// loadHit loads the stored fields of one hit.
func (ix *Index) loadHit(r bleveindex.IndexReader, id string) (*corpus.Document, error) {
	doc, err := r.Document(id)
	if err != nil {
		return nil, fmt.Errorf("load hit %q: %w", id, err)
	}
	if doc == nil {
		return nil, fmt.Errorf("hit %q: %w", id, ErrNotFound)
	}
	return decodeDocument(id, doc)
}

// reader opens a reader on the index's current state.
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

// facetValues converts Bleve's count of a facet, most frequent first.
func facetValues(fr *search.FacetResult) []FacetValue {
	vals := []FacetValue{}
	if fr == nil || fr.Terms == nil {
		return vals
	}
	for _, t := range fr.Terms.Terms() {
		vals = append(vals, FacetValue{Value: t.Term, Count: t.Count})
	}
	sortFacetValues(vals)
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

// toHit makes a hit of a ranked record.
func toHit(id string, score float64, d *corpus.Document) Hit {
	return Hit{ID: id, Score: score, Title: d.Title, URL: d.URL, Page: d.Page, Type: d.Type,
		Languages: d.Languages, Frameworks: d.Frameworks, Databases: d.Databases, Topics: d.Topics}
}
