package index

import (
	"context"
	"math"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	bleveindex "github.com/blevesearch/bleve_index_api"
)

// BM25 parameters. Bleve's own BM25 takes the square root of the term
// frequency and multiplies the IDF in twice (once in the document score, once
// in the query weight); termQuery scores the textbook way instead:
//
//	idf · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl)) · boost
//
// and fieldsQuery scores one term over several fields with BM25F: each field's
// frequency is normalised by its own length and weighted before the sum
// saturates, so a word in the title adds weight without counting twice.
//
// k1 and b were chosen on SciFact's 809 training claims (queries-train.jsonl),
// not on the 300 test claims that are reported: with true average field
// lengths (lengths.go) the textbook values, k1 1.2 and b 0.75, with a title
// weight of 4 scored best (train nDCG@10 0.694; k1 0.9/b 0.4 0.689, k1 0.6/b 0.3
// 0.682, title weight 2 0.689, 3 0.692, 5 0.694).
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// termQuery matches one term in one field, scored with BM25.
type termQuery struct {
	term  string
	field string
	boost float64
	// avgdl is the field's average length; 0 turns length normalisation off.
	avgdl float64
}

func newTerm(term, field string, boost, avgdl float64) *termQuery {
	return &termQuery{term: term, field: field, boost: boost, avgdl: avgdl}
}

// Searcher implements query.Query.
func (q *termQuery) Searcher(ctx context.Context, r bleveindex.IndexReader, _ mapping.IndexMapping, _ search.SearcherOptions) (search.Searcher, error) {
	if err := search.RecordTermSearcher(ctx); err != nil {
		return nil, err
	}
	tfr, err := r.TermFieldReader(ctx, []byte(q.term), q.field, true, true, false)
	if err != nil {
		return nil, err
	}
	n, err := r.DocCount()
	if err != nil {
		tfr.Close()
		return nil, err
	}
	df := float64(tfr.Count())
	idf := math.Log(1 + (float64(n)-df+0.5)/(df+0.5))
	return &termSearcher{tfr: tfr, weight: idf * q.boost, avgdl: q.avgdl}, nil
}

// termSearcher walks one term's postings and scores them with BM25.
type termSearcher struct {
	tfr    bleveindex.TermFieldReader
	weight float64 // idf · boost
	avgdl  float64
	tfd    bleveindex.TermFieldDoc
}

func (s *termSearcher) match(ctx *search.SearchContext, tfd *bleveindex.TermFieldDoc) *search.DocumentMatch {
	dm := ctx.DocumentMatchPool.Get()
	dm.IndexInternalID = append(dm.IndexInternalID[:0], tfd.ID...)
	tf := float64(tfd.Freq) / lengthNorm(tfd.Norm, s.avgdl)
	dm.Score = s.weight * tf * (bm25K1 + 1) / (tf + bm25K1)
	return dm
}

// Next returns the next posting.
func (s *termSearcher) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	tfd, err := s.tfr.Next(s.tfd.Reset())
	if err != nil || tfd == nil {
		return nil, err
	}
	return s.match(ctx, tfd), nil
}

// Advance moves to the first posting at or after id.
func (s *termSearcher) Advance(ctx *search.SearchContext, id bleveindex.IndexInternalID) (*search.DocumentMatch, error) {
	tfd, err := s.tfr.Advance(id, s.tfd.Reset())
	if err != nil || tfd == nil {
		return nil, err
	}
	return s.match(ctx, tfd), nil
}

// Close closes the postings reader.
func (s *termSearcher) Close() error { return s.tfr.Close() }

// Weight is 1: scores are not normalised by the query.
func (s *termSearcher) Weight() float64 { return 1 }

// SetQueryNorm ignores the norm: BM25 scores are comparable without it.
func (s *termSearcher) SetQueryNorm(float64) {}

// Count is the number of documents holding the term.
func (s *termSearcher) Count() uint64 { return s.tfr.Count() }

// Min is 0.
func (s *termSearcher) Min() int { return 0 }

// Size estimates the searcher's memory.
func (s *termSearcher) Size() int { return 96 + s.tfr.Size() }

// DocumentMatchPoolSize is 1: one match at a time.
func (s *termSearcher) DocumentMatchPoolSize() int { return 1 }

// lengthNorm is BM25's length normalisation of a posting: 1 − b + b·dl/avgdl,
// with dl recovered from the posting's norm (1/√length). It is 1 when the
// average is unknown.
func lengthNorm(norm, avgdl float64) float64 {
	if avgdl <= 0 || norm <= 0 {
		return 1
	}
	dl := 1 / (norm * norm)
	return 1 - bm25B + bm25B*dl/avgdl
}

// weightedField is a field of a BM25F query with its weight.
type weightedField struct {
	name   string
	weight float64
}

// fieldsQuery matches one term in several fields, scored with BM25F.
type fieldsQuery struct {
	term   string
	fields []weightedField
	boost  float64
	// avgdl holds the fields' average lengths.
	avgdl map[string]float64
}

// Searcher implements query.Query.
func (q *fieldsQuery) Searcher(ctx context.Context, r bleveindex.IndexReader, _ mapping.IndexMapping, _ search.SearcherOptions) (search.Searcher, error) {
	n, err := r.DocCount()
	if err != nil {
		return nil, err
	}
	s := &fieldsSearcher{}
	df := 0.0
	for _, f := range q.fields {
		if err := search.RecordTermSearcher(ctx); err != nil {
			s.Close()
			return nil, err
		}
		tfr, err := r.TermFieldReader(ctx, []byte(q.term), f.name, true, true, false)
		if err != nil {
			s.Close()
			return nil, err
		}
		df = max(df, float64(tfr.Count()))
		s.fields = append(s.fields, fieldPostings{tfr: tfr, weight: f.weight, avgdl: q.avgdl[f.name]})
	}
	s.idf = math.Log(1+(float64(n)-df+0.5)/(df+0.5)) * q.boost
	return s, nil
}

// fieldPostings is one field's postings of the term.
type fieldPostings struct {
	tfr    bleveindex.TermFieldReader
	weight float64
	avgdl  float64
	cur    *bleveindex.TermFieldDoc
	buf    bleveindex.TermFieldDoc // reused by every read: no allocation per posting
	done   bool
}

// fieldsSearcher merges the term's postings over the fields in document order.
type fieldsSearcher struct {
	fields      []fieldPostings
	idf         float64 // idf · boost
	initialized bool
}

func (s *fieldsSearcher) init() error {
	for i := range s.fields {
		if err := s.fields[i].next(); err != nil {
			return err
		}
	}
	s.initialized = true
	return nil
}

func (f *fieldPostings) next() error {
	tfd, err := f.tfr.Next(f.buf.Reset())
	if err != nil {
		return err
	}
	f.cur, f.done = tfd, tfd == nil
	return nil
}

func (f *fieldPostings) advance(id bleveindex.IndexInternalID) error {
	tfd, err := f.tfr.Advance(id, f.buf.Reset())
	if err != nil {
		return err
	}
	f.cur, f.done = tfd, tfd == nil
	return nil
}

// Next returns the next document holding the term in any field.
func (s *fieldsSearcher) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	if !s.initialized {
		if err := s.init(); err != nil {
			return nil, err
		}
	}
	var low bleveindex.IndexInternalID
	for i := range s.fields {
		if f := &s.fields[i]; !f.done && (low == nil || f.cur.ID.Compare(low) < 0) {
			low = f.cur.ID
		}
	}
	if low == nil {
		return nil, nil
	}
	dm := ctx.DocumentMatchPool.Get()
	dm.IndexInternalID = append(dm.IndexInternalID[:0], low...)
	tf := 0.0
	for i := range s.fields {
		f := &s.fields[i]
		if f.done || !f.cur.ID.Equals(dm.IndexInternalID) {
			continue
		}
		tf += f.weight * float64(f.cur.Freq) / lengthNorm(f.cur.Norm, f.avgdl)
		if err := f.next(); err != nil {
			return nil, err
		}
	}
	dm.Score = s.idf * tf * (bm25K1 + 1) / (tf + bm25K1)
	return dm, nil
}

// Advance moves to the first document at or after id.
func (s *fieldsSearcher) Advance(ctx *search.SearchContext, id bleveindex.IndexInternalID) (*search.DocumentMatch, error) {
	if !s.initialized {
		if err := s.init(); err != nil {
			return nil, err
		}
	}
	for i := range s.fields {
		if f := &s.fields[i]; !f.done && f.cur.ID.Compare(id) < 0 {
			if err := f.advance(id); err != nil {
				return nil, err
			}
		}
	}
	return s.Next(ctx)
}

// Close closes the postings readers.
func (s *fieldsSearcher) Close() error {
	var first error
	for _, f := range s.fields {
		if err := f.tfr.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Weight is 1: scores are not normalised by the query.
func (s *fieldsSearcher) Weight() float64 { return 1 }

// SetQueryNorm ignores the norm.
func (s *fieldsSearcher) SetQueryNorm(float64) {}

// Count is a worst-case estimate: the sum over the fields.
func (s *fieldsSearcher) Count() uint64 {
	var n uint64
	for _, f := range s.fields {
		n += f.tfr.Count()
	}
	return n
}

// Min is 0.
func (s *fieldsSearcher) Min() int { return 0 }

// Size estimates the searcher's memory.
func (s *fieldsSearcher) Size() int {
	n := 64
	for _, f := range s.fields {
		n += 64 + f.tfr.Size()
	}
	return n
}

// DocumentMatchPoolSize is 1: one match at a time.
func (s *fieldsSearcher) DocumentMatchPoolSize() int { return 1 }

// phraseQuery matches a phrase in an exact field. Bleve finds the phrase; its
// score is replaced by BM25's for a single occurrence of the phrase's words in
// a record of average length, so phrases weigh like the words they hold and do
// not depend on Bleve's own statistics.
type phraseQuery struct {
	text  string
	words []string
	field string
	boost float64
}

// Searcher implements query.Query.
func (q *phraseQuery) Searcher(ctx context.Context, r bleveindex.IndexReader, m mapping.IndexMapping, opts search.SearcherOptions) (search.Searcher, error) {
	n, err := r.DocCount()
	if err != nil {
		return nil, err
	}
	idf := 0.0
	for _, w := range q.words {
		tfr, err := r.TermFieldReader(ctx, []byte(w), q.field, false, false, false)
		if err != nil {
			return nil, err
		}
		df := float64(tfr.Count())
		tfr.Close()
		idf += math.Log(1 + (float64(n)-df+0.5)/(df+0.5))
	}
	mp := query.NewMatchPhraseQuery(q.text)
	mp.SetField(q.field)
	s, err := mp.Searcher(ctx, r, m, opts)
	if err != nil {
		return nil, err
	}
	return &rescoredSearcher{Searcher: s, score: q.boost * idf}, nil
}

// rescoredSearcher gives every match of its searcher the same score.
type rescoredSearcher struct {
	search.Searcher
	score float64
}

// Next returns the next match with the fixed score.
func (s *rescoredSearcher) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	dm, err := s.Searcher.Next(ctx)
	if dm != nil {
		dm.Score = s.score
	}
	return dm, err
}

// Advance returns the first match at or after id with the fixed score.
func (s *rescoredSearcher) Advance(ctx *search.SearchContext, id bleveindex.IndexInternalID) (*search.DocumentMatch, error) {
	dm, err := s.Searcher.Advance(ctx, id)
	if dm != nil {
		dm.Score = s.score
	}
	return dm, err
}
