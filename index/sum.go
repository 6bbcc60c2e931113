package index

import (
	"context"
	"math"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	bleveindex "github.com/blevesearch/bleve_index_api"
)

// sumQuery matches what any of its children match and scores a document with
// the sum of its children's scores, as BM25 adds up the words of a query.
// Bleve's DisjunctionQuery multiplies that sum by the fraction of children that
// matched (the classic "coord" factor): with BM25 that ranked worse on SciFact
// (train nDCG@10 0.661 against 0.694), and across one word's alternatives it is
// plainly wrong (a synonym should not halve the score of the word).
type sumQuery struct {
	children []query.Query
}

// newSum returns a query summing qs, or qs[0] when there is only one.
func newSum(qs ...query.Query) query.Query {
	if len(qs) == 1 {
		return qs[0]
	}
	return &sumQuery{children: qs}
}

// Searcher implements query.Query.
func (q *sumQuery) Searcher(ctx context.Context, r bleveindex.IndexReader, m mapping.IndexMapping, opts search.SearcherOptions) (search.Searcher, error) {
	s := &sumSearcher{}
	for _, c := range q.children {
		cs, err := c.Searcher(ctx, r, m, opts)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.children = append(s.children, cs)
	}
	s.currs = make([]*search.DocumentMatch, len(s.children))
	sum := 0.0
	for _, c := range s.children {
		sum += c.Weight()
	}
	if sum > 0 {
		norm := 1 / math.Sqrt(sum)
		for _, c := range s.children {
			c.SetQueryNorm(norm)
		}
	}
	return s, nil
}

// sumSearcher merges its children's matches in document order.
type sumSearcher struct {
	children    []search.Searcher
	currs       []*search.DocumentMatch
	initialized bool
}

func (s *sumSearcher) init(ctx *search.SearchContext) error {
	for i, c := range s.children {
		m, err := c.Next(ctx)
		if err != nil {
			return err
		}
		s.currs[i] = m
	}
	s.initialized = true
	return nil
}

// Next returns the next document any child matches, scored with the sum.
func (s *sumSearcher) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	if !s.initialized {
		if err := s.init(ctx); err != nil {
			return nil, err
		}
	}
	var low bleveindex.IndexInternalID
	for _, m := range s.currs {
		if m != nil && (low == nil || m.IndexInternalID.Compare(low) < 0) {
			low = m.IndexInternalID
		}
	}
	if low == nil {
		return nil, nil
	}
	var rv *search.DocumentMatch
	for i, m := range s.currs {
		if m == nil || !m.IndexInternalID.Equals(low) {
			continue
		}
		if rv == nil {
			rv = m
		} else {
			rv.Score += m.Score
			rv.FieldTermLocations = append(rv.FieldTermLocations, m.FieldTermLocations...)
			ctx.DocumentMatchPool.Put(m)
		}
		next, err := s.children[i].Next(ctx)
		if err != nil {
			return nil, err
		}
		s.currs[i] = next
	}
	return rv, nil
}

// Advance moves to the first match at or after id.
func (s *sumSearcher) Advance(ctx *search.SearchContext, id bleveindex.IndexInternalID) (*search.DocumentMatch, error) {
	if !s.initialized {
		if err := s.init(ctx); err != nil {
			return nil, err
		}
	}
	for i, m := range s.currs {
		if m != nil && m.IndexInternalID.Compare(id) >= 0 {
			continue
		}
		if m != nil {
			ctx.DocumentMatchPool.Put(m)
		}
		next, err := s.children[i].Advance(ctx, id)
		if err != nil {
			return nil, err
		}
		s.currs[i] = next
	}
	return s.Next(ctx)
}

// Close closes the children.
func (s *sumSearcher) Close() error {
	var first error
	for _, c := range s.children {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Weight is the sum of the children's weights.
func (s *sumSearcher) Weight() float64 {
	w := 0.0
	for _, c := range s.children {
		w += c.Weight()
	}
	return w
}

// SetQueryNorm passes the norm down.
func (s *sumSearcher) SetQueryNorm(n float64) {
	for _, c := range s.children {
		c.SetQueryNorm(n)
	}
}

// Count is a worst-case estimate: the sum of the children's counts.
func (s *sumSearcher) Count() uint64 {
	var n uint64
	for _, c := range s.children {
		n += c.Count()
	}
	return n
}

// Min is 0: any child matching is enough.
func (s *sumSearcher) Min() int { return 0 }

// Size estimates the searcher's memory.
func (s *sumSearcher) Size() int {
	n := 64 + 8*len(s.currs)
	for _, c := range s.children {
		n += c.Size()
	}
	return n
}

// DocumentMatchPoolSize is what the children need plus one current match each.
func (s *sumSearcher) DocumentMatchPoolSize() int {
	n := len(s.currs)
	for _, c := range s.children {
		n += c.DocumentMatchPoolSize()
	}
	return n
}

// boostQuery matches what main matches; each boost adds its score to the
// matches of main it also matches, and finds nothing by itself. It is a
// Boolean query's "must and should" without Bleve's conjunction machinery.
type boostQuery struct {
	main   query.Query
	boosts []query.Query
}

// Searcher implements query.Query.
func (q *boostQuery) Searcher(ctx context.Context, r bleveindex.IndexReader, m mapping.IndexMapping, opts search.SearcherOptions) (search.Searcher, error) {
	main, err := q.main.Searcher(ctx, r, m, opts)
	if err != nil {
		return nil, err
	}
	s := &boostSearcher{main: main}
	for _, b := range q.boosts {
		bs, err := b.Searcher(ctx, r, m, opts)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.boosts = append(s.boosts, bs)
	}
	s.currs = make([]*search.DocumentMatch, len(s.boosts))
	s.done = make([]bool, len(s.boosts))
	return s, nil
}

// boostSearcher walks main's matches and adds the boosts' scores.
type boostSearcher struct {
	main   search.Searcher
	boosts []search.Searcher
	currs  []*search.DocumentMatch
	done   []bool
}

// boost adds to dm the score of every boost matching it.
func (s *boostSearcher) boost(ctx *search.SearchContext, dm *search.DocumentMatch) (*search.DocumentMatch, error) {
	if dm == nil {
		return nil, nil
	}
	for i, b := range s.boosts {
		if s.done[i] {
			continue
		}
		if c := s.currs[i]; c == nil || c.IndexInternalID.Compare(dm.IndexInternalID) < 0 {
			if c != nil {
				ctx.DocumentMatchPool.Put(c)
			}
			next, err := b.Advance(ctx, dm.IndexInternalID)
			if err != nil {
				return nil, err
			}
			s.currs[i], s.done[i] = next, next == nil
		}
		if c := s.currs[i]; c != nil && c.IndexInternalID.Equals(dm.IndexInternalID) {
			dm.Score += c.Score
		}
	}
	return dm, nil
}

// Next returns main's next match with the boosts added.
func (s *boostSearcher) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	dm, err := s.main.Next(ctx)
	if err != nil {
		return nil, err
	}
	return s.boost(ctx, dm)
}

// Advance returns main's first match at or after id with the boosts added.
func (s *boostSearcher) Advance(ctx *search.SearchContext, id bleveindex.IndexInternalID) (*search.DocumentMatch, error) {
	dm, err := s.main.Advance(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.boost(ctx, dm)
}

// Close closes main and the boosts.
func (s *boostSearcher) Close() error {
	first := s.main.Close()
	for _, b := range s.boosts {
		if err := b.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Weight is main's.
func (s *boostSearcher) Weight() float64 { return s.main.Weight() }

// SetQueryNorm passes the norm down.
func (s *boostSearcher) SetQueryNorm(n float64) {
	s.main.SetQueryNorm(n)
	for _, b := range s.boosts {
		b.SetQueryNorm(n)
	}
}

// Count is main's.
func (s *boostSearcher) Count() uint64 { return s.main.Count() }

// Min is 0.
func (s *boostSearcher) Min() int { return 0 }

// Size estimates the searcher's memory.
func (s *boostSearcher) Size() int {
	n := 64 + s.main.Size()
	for _, b := range s.boosts {
		n += b.Size()
	}
	return n
}

// DocumentMatchPoolSize is what main and the boosts need plus one held match per boost.
func (s *boostSearcher) DocumentMatchPoolSize() int {
	n := s.main.DocumentMatchPoolSize() + len(s.boosts)
	for _, b := range s.boosts {
		n += b.DocumentMatchPoolSize()
	}
	return n
}
