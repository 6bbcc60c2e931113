package index

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/search"
	bleveindex "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// Facet counting. Bleve counts a facet by reading the doc values of every
// match, decompressing their chunks on every search: on the documentation
// corpus that was a third of a faceted search's CPU. Segments never change,
// so each segment's facet values are read once, into a table of small
// numbers, and a search counts a match with a few array increments. A
// segment's table is built by the first faceted search that meets it and
// dropped once the segment has left the index.

// tableFields are the fields a facet table holds: every facet field.
var tableFields = func() []string {
	var out []string
	for _, f := range facetFields {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}()

// facetTable is the facet values of every document of one segment.
type facetTable struct {
	// values lists, per field of tableFields, the values met, by number.
	values [][]string
	// start[d]:start[d+1] are document d's entries in refs.
	start []uint32
	// refs are field<<24 | value number.
	refs []uint32
}

// facetTables caches the tables of an index's segments.
type facetTables struct {
	mu sync.Mutex
	m  map[segment.Segment]*tableEntry
}

type tableEntry struct {
	once  sync.Once
	table *facetTable
	err   error
}

// tables returns the facet tables of the segments of snapshot, building those
// not built yet, and their document number offsets; ok is false when the
// segments cannot be read this way (then Bleve counts).
func (c *facetTables) tables(snap *scorch.IndexSnapshot) (tables []*facetTable, offsets []uint64, ok bool, err error) {
	segs := snap.Segments()
	entries := make([]*tableEntry, len(segs))
	c.mu.Lock()
	if c.m == nil {
		c.m = map[segment.Segment]*tableEntry{}
	}
	for i, ss := range segs {
		seg := ss.Segment()
		if _, visitable := seg.(segment.DocValueVisitable); !visitable {
			c.mu.Unlock()
			return nil, nil, false, nil
		}
		e := c.m[seg]
		if e == nil {
			e = &tableEntry{}
			c.m[seg] = e
		}
		entries[i] = e
	}
	if len(c.m) > 2*len(segs)+16 {
		// forget segments merged away since (a search still holding one
		// keeps its table until it ends)
		keep := make(map[segment.Segment]*tableEntry, len(segs))
		for i, ss := range segs {
			keep[ss.Segment()] = entries[i]
		}
		c.m = keep
	}
	c.mu.Unlock()

	tables = make([]*facetTable, len(segs))
	offsets = make([]uint64, len(segs))
	var running uint64
	for i, ss := range segs {
		seg := ss.Segment()
		e := entries[i]
		e.once.Do(func() { e.table, e.err = buildFacetTable(seg.(segment.DocValueVisitable), seg.Count()) })
		if e.err != nil {
			return nil, nil, false, e.err
		}
		tables[i], offsets[i] = e.table, running
		running += seg.Count() // as scorch numbers documents across segments
	}
	return tables, offsets, true, nil
}

// buildFacetTable reads the facet values of the n documents of seg.
func buildFacetTable(seg segment.DocValueVisitable, n uint64) (*facetTable, error) {
	t := &facetTable{values: make([][]string, len(tableFields)), start: make([]uint32, 1, n+1)}
	ids := make([]map[string]uint32, len(tableFields))
	field := make(map[string]uint32, len(tableFields))
	for i, f := range tableFields {
		ids[i] = map[string]uint32{}
		field[f] = uint32(i)
	}
	var state segment.DocVisitState
	var err error
	for d := range n {
		state, err = seg.VisitDocValues(d, tableFields, func(f string, term []byte) {
			fi, ok := field[f]
			if !ok {
				return
			}
			id, ok := ids[fi][string(term)]
			if !ok {
				id = uint32(len(t.values[fi]))
				ids[fi][string(term)] = id
				t.values[fi] = append(t.values[fi], string(term))
			}
			t.refs = append(t.refs, fi<<24|id)
		}, state)
		if err != nil {
			return nil, fmt.Errorf("read facet values: %w", err)
		}
		t.start = append(t.start, uint32(len(t.refs)))
	}
	for fi, vals := range t.values {
		if len(vals) >= 1<<24 {
			return nil, fmt.Errorf("read facet values: field %s has %d values", tableFields[fi], len(vals))
		}
	}
	return t, nil
}

// facetCounter counts the facet values of every match its searcher returns.
type facetCounter struct {
	search.Searcher
	tables  []*facetTable
	offsets []uint64
	counts  [][][]int // segment, field, value number
	seg     int
}

func newFacetCounter(s search.Searcher, tables []*facetTable, offsets []uint64) *facetCounter {
	c := &facetCounter{Searcher: s, tables: tables, offsets: offsets, counts: make([][][]int, len(tables))}
	for i, t := range tables {
		c.counts[i] = make([][]int, len(tableFields))
		for fi, vals := range t.values {
			c.counts[i][fi] = make([]int, len(vals))
		}
	}
	return c
}

// Next returns the searcher's next match, counted.
func (c *facetCounter) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	dm, err := c.Searcher.Next(ctx)
	if dm != nil {
		c.count(dm.IndexInternalID.Value())
	}
	return dm, err
}

// Advance returns the searcher's first match at or after id, counted.
func (c *facetCounter) Advance(ctx *search.SearchContext, id bleveindex.IndexInternalID) (*search.DocumentMatch, error) {
	dm, err := c.Searcher.Advance(ctx, id)
	if dm != nil {
		c.count(dm.IndexInternalID.Value())
	}
	return dm, err
}

func (c *facetCounter) count(doc uint64) {
	// matches come in document order: the segment is mostly the last one
	if s := c.seg; doc < c.offsets[s] || (s+1 < len(c.offsets) && doc >= c.offsets[s+1]) {
		c.seg = sort.Search(len(c.offsets), func(i int) bool { return c.offsets[i] > doc }) - 1
	}
	t, counts := c.tables[c.seg], c.counts[c.seg]
	local := doc - c.offsets[c.seg]
	if local+1 >= uint64(len(t.start)) {
		return
	}
	for _, ref := range t.refs[t.start[local]:t.start[local+1]] {
		counts[ref>>24][ref&(1<<24-1)]++
	}
}

// results returns the counts of the facets asked for (name → field), most
// frequent first, at most maxFacetValues each.
func (c *facetCounter) results(facets map[string]string) map[string][]FacetValue {
	out := make(map[string][]FacetValue, len(facets))
	for name, field := range facets {
		fi, _ := slices.BinarySearch(tableFields, field)
		sum := map[string]int{}
		for s, t := range c.tables {
			for v, n := range c.counts[s][fi] {
				if n > 0 {
					sum[t.values[fi][v]] += n
				}
			}
		}
		vals := make([]FacetValue, 0, len(sum))
		for v, n := range sum {
			vals = append(vals, FacetValue{Value: v, Count: n})
		}
		sortFacetValues(vals)
		out[name] = vals[:min(len(vals), maxFacetValues)]
	}
	return out
}

// sortFacetValues orders values most frequent first, then by name.
func sortFacetValues(vals []FacetValue) {
	slices.SortFunc(vals, func(a, b FacetValue) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Value, b.Value)
	})
}

// countingSearcher wraps s to count facets from the tables of r's segments, or
// returns nil when r is not a scorch snapshot of visitable segments.
func (ix *Index) countingSearcher(ctx context.Context, r bleveindex.IndexReader, s search.Searcher) (*facetCounter, error) {
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		return nil, nil
	}
	tables, offsets, ok, err := ix.facets.tables(snap)
	if err != nil || !ok {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return newFacetCounter(s, tables, offsets), nil
}
