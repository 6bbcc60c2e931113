package index

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
	bleveindex "github.com/blevesearch/bleve_index_api"

	"github.com/stacksearch/stacksearch/corpus"
)

// metaKey is the Bleve internal key under which an index keeps its Meta.
var metaKey = []byte("stacksearch.meta")

// Meta describes how an index was built. It is kept inside the index itself.
type Meta struct {
	// Version names the build; every reindex makes a new one.
	Version string `json:"version"`
	// Source says where the documents came from.
	Source string `json:"source"`
	// BuildTime is when the build finished.
	BuildTime time.Time `json:"build_time"`
	// BuildDuration is how long the build took.
	BuildDuration time.Duration `json:"build_duration"`
}

// Index is one Bleve index with its Meta: built in memory, or on disk in Dir.
type Index struct {
	bleve bleve.Index
	meta  Meta
	// applied is the sequence of the last change-log batch applied (0: none).
	applied atomic.Uint64
	// lengths counts field lengths for BM25.
	lengths lengths
	// facets caches each segment's facet values for counting.
	facets facetTables
	// Dir is the index's directory, empty for an in-memory index.
	Dir string
}

// appliedKey is the Bleve internal key under which an index keeps the sequence
// of the last change-log batch it applied, written in the same batch as the
// documents, so the two never disagree.
var appliedKey = []byte("stacksearch.applied_seq")

// Change is one document change: an upsert when Doc is set, else the deletion of ID.
// Every change to an index, from a corpus build, the documents API, the change
// log at start-up or (later) a replicated log, goes through Index.Apply.
type Change struct {
	ID  string
	Doc *corpus.Document
}

// newIndex creates an empty index in dir, or in memory when dir is empty. It
// always uses scorch, in memory too, so that BM25 scoring works the same everywhere.
func newIndex(dir string) (*Index, error) {
	b, err := bleve.NewUsing(dir, newMapping(), scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("create index %q: %w", dir, err)
	}
	return &Index{bleve: b, Dir: dir}, nil
}

// openIndex opens the complete index in dir.
func openIndex(dir string) (*Index, error) {
	b, err := bleve.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", dir, err)
	}
	ix := &Index{bleve: b, Dir: dir}
	raw, err := b.GetInternal(metaKey)
	if err != nil || len(raw) == 0 {
		b.Close()
		return nil, fmt.Errorf("open index %s: no build metadata (an incomplete build?): %w", dir, ErrNoIndex)
	}
	if err := json.Unmarshal(raw, &ix.meta); err != nil {
		b.Close()
		return nil, fmt.Errorf("open index %s: read build metadata: %w", dir, err)
	}
	if raw, err := b.GetInternal(lengthsKey); err == nil && len(raw) > 0 {
		if err := ix.lengths.unmarshal(raw); err != nil {
			b.Close()
			return nil, fmt.Errorf("open index %s: %w", dir, err)
		}
	}
	raw, err = b.GetInternal(appliedKey)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open index %s: read applied sequence: %w", dir, err)
	}
	if len(raw) == 8 {
		ix.applied.Store(binary.BigEndian.Uint64(raw))
	}
	return ix, nil
}

// Meta returns how the index was built.
func (ix *Index) Meta() Meta { return ix.meta }

// setMeta records how the index was built, inside the index.
func (ix *Index) setMeta(m Meta) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := ix.bleve.SetInternal(metaKey, raw); err != nil {
		return fmt.Errorf("write build metadata: %w", err)
	}
	ix.meta = m
	return nil
}

// Count returns the number of documents in the index.
func (ix *Index) Count() (int, error) {
	n, err := ix.bleve.DocCount()
	return int(n), err
}

// Close closes the index.
func (ix *Index) Close() error { return ix.bleve.Close() }

// Apply writes changes to the index as one batch: every change is visible to
// searches, and on disk durable, when Apply returns. seq is the sequence of the
// change-log batch the changes come from, recorded in the same Bleve batch as
// the documents (AppliedSeq); 0, for documents read from the corpus, records
// nothing. The recorded sequence never goes back.
func (ix *Index) Apply(seq uint64, changes []Change) error {
	b := ix.bleve.NewBatch()
	docs := make([]*document.Document, 0, len(changes))
	for _, c := range changes {
		if c.Doc == nil {
			b.Delete(c.ID)
			continue
		}
		doc := document.NewDocument(c.Doc.ID)
		if err := ix.bleve.Mapping().MapDocument(doc, toBleve(c.Doc)); err != nil {
			return fmt.Errorf("index document %q: %w", c.Doc.ID, err)
		}
		if err := b.IndexAdvanced(doc); err != nil {
			return fmt.Errorf("index document %q: %w", c.Doc.ID, err)
		}
		docs = append(docs, doc)
	}
	if seq > ix.applied.Load() {
		b.SetInternal(appliedKey, binary.BigEndian.AppendUint64(nil, seq))
	}
	if err := ix.bleve.Batch(b); err != nil {
		return fmt.Errorf("write batch of %d changes: %w", len(changes), err)
	}
	if seq > ix.applied.Load() {
		ix.applied.Store(seq)
	}
	if len(docs) > 0 {
		// the batch analysed the documents: count their lengths
		ix.lengths.add(docs)
		raw, err := ix.lengths.marshal()
		if err != nil {
			return err
		}
		if err := ix.bleve.SetInternal(lengthsKey, raw); err != nil {
			return fmt.Errorf("write field lengths: %w", err)
		}
	}
	return nil
}

// compact merges a built index on disk into one segment. A search then reads
// one dictionary and one postings list per term instead of one per segment: on
// the documentation corpus (12 segments after its build) searches were a
// quarter faster, for 4.5 s more of a 22 s build. An index in memory has no
// merger, and is small.
func (ix *Index) compact(ctx context.Context) error {
	if ix.Dir == "" {
		return nil
	}
	adv, err := ix.bleve.Advanced()
	if err != nil {
		return fmt.Errorf("merge segments: %w", err)
	}
	s, ok := adv.(*scorch.Scorch)
	if !ok {
		return nil
	}
	if err := s.ForceMerge(ctx, &mergeplan.SingleSegmentMergePlanOptions); err != nil {
		return fmt.Errorf("merge segments: %w", err)
	}
	return ctx.Err()
}

// AppliedSeq returns the sequence of the last change-log batch applied to the
// index, 0 for none.
func (ix *Index) AppliedSeq() uint64 { return ix.applied.Load() }

// existing returns which of ids are in the index.
func (ix *Index) existing(ids []string) (map[string]bool, error) {
	req := bleve.NewSearchRequestOptions(bleve.NewDocIDQuery(ids), len(ids), 0, false)
	res, err := ix.bleve.Search(req)
	if err != nil {
		return nil, fmt.Errorf("look up ids: %w", err)
	}
	found := make(map[string]bool, len(res.Hits))
	for _, h := range res.Hits {
		found[h.ID] = true
	}
	return found, nil
}

// Document returns the whole stored record with the given id.
func (ix *Index) Document(id string) (*corpus.Document, error) {
	doc, err := ix.bleve.Document(id)
	if err != nil {
		return nil, fmt.Errorf("load document %q: %w", id, err)
	}
	if doc == nil {
		return nil, fmt.Errorf("document %q: %w", id, ErrNotFound)
	}
	return decodeDocument(id, doc)
}

// decodeDocument turns a stored Bleve document back into the record.
func decodeDocument(id string, doc bleveindex.Document) (*corpus.Document, error) {
	d := &corpus.Document{ID: id}
	var extra string
	doc.VisitFields(func(f bleveindex.Field) {
		v := string(f.Value())
		switch f.Name() {
		case fieldTitle:
			d.Title = v
		case fieldBody:
			d.Body = v
		case fieldPage:
			d.Page = v
		case fieldURL:
			d.URL = v
		case fieldType:
			d.Type = v
		case fieldExtra:
			extra = v
		case corpus.FieldLanguages:
			d.Languages = append(d.Languages, v)
		case corpus.FieldFrameworks:
			d.Frameworks = append(d.Frameworks, v)
		case corpus.FieldDatabases:
			d.Databases = append(d.Databases, v)
		case corpus.FieldTopics:
			d.Topics = append(d.Topics, v)
		}
	})
	if extra != "" {
		if err := json.Unmarshal([]byte(extra), &d.Fields); err != nil {
			return nil, fmt.Errorf("document %q: decode stored fields: %w", id, err)
		}
	}
	return d, nil
}

// Limits on a document's fields, checked by ValidateDocument.
const (
	MaxIDBytes        = 512
	MaxTitleBytes     = 1 << 10
	MaxURLBytes       = 2 << 10
	MaxBodyBytes      = 1 << 20
	MaxFacetValues    = 64
	MaxFacetValueSize = 128
	MaxExtraFields    = 64
	MaxExtraBytes     = 4 << 10
)

// ValidateDocument checks a document before it is written, returning a
// *FieldError naming the first bad field (relative to the document, e.g. "title").
func ValidateDocument(d *corpus.Document) error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case strings.TrimSpace(d.ID) == "":
		return bad("id", "must not be empty")
	case len(d.ID) > MaxIDBytes:
		return bad("id", "is %d bytes, more than the limit of %d", len(d.ID), MaxIDBytes)
	case !utf8.ValidString(d.ID) || strings.ContainsFunc(d.ID, isControl):
		return bad("id", "must be UTF-8 text without control characters")
	case strings.TrimSpace(d.Title) == "":
		return bad("title", "must not be empty")
	case len(d.Title) > MaxTitleBytes:
		return bad("title", "is %d bytes, more than the limit of %d", len(d.Title), MaxTitleBytes)
	case len(d.URL) > MaxURLBytes:
		return bad("url", "is %d bytes, more than the limit of %d", len(d.URL), MaxURLBytes)
	case len(d.Page) > MaxTitleBytes:
		return bad("page", "is %d bytes, more than the limit of %d", len(d.Page), MaxTitleBytes)
	case len(d.Body) > MaxBodyBytes:
		return bad("body", "is %d bytes, more than the limit of %d", len(d.Body), MaxBodyBytes)
	case d.Type != "" && d.Type != corpus.TypeSection && d.Type != corpus.TypeFAQ:
		return bad("type", "is %q; must be %q or %q", d.Type, corpus.TypeSection, corpus.TypeFAQ)
	case len(d.Fields) > MaxExtraFields:
		return bad("fields", "has %d keys, more than the limit of %d", len(d.Fields), MaxExtraFields)
	}
	for _, f := range corpus.FacetFields {
		vals := d.Facet(f)
		if len(vals) > MaxFacetValues {
			return bad(f, "has %d values, more than the limit of %d", len(vals), MaxFacetValues)
		}
		for i, v := range vals {
			if strings.TrimSpace(v) == "" || len(v) > MaxFacetValueSize {
				return bad(fmt.Sprintf("%s[%d]", f, i), "must be 1 to %d bytes", MaxFacetValueSize)
			}
		}
	}
	for k, v := range d.Fields {
		if k == "" || len(k)+len(v) > MaxExtraBytes {
			return bad("fields["+k+"]", "key must be non-empty and key plus value at most %d bytes", MaxExtraBytes)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// BuildOptions control a build.
type BuildOptions struct {
	// Source describes where the documents come from; it is kept in the index's Meta.
	Source string
	// SkipBad skips malformed records (counted in the report) instead of failing.
	SkipBad bool
	// BatchSize is the number of documents written per Bleve batch (default DefaultBatchSize).
	BatchSize int
	// Progress, when set, is called after each batch with the good records read
	// so far (duplicates included, so that it ends at the count of good records).
	Progress func(done int)
	// Changes, when set, is applied on top of the corpus documents once they are
	// all in: the API-made changes outlive a reindex.
	Changes *ChangeLog
}

// BuildReport says what a build did.
type BuildReport struct {
	// Documents is the number of documents in the built index.
	Documents int
	// Skipped counts malformed records skipped under SkipBad.
	Skipped int
	// BadRecords lists the skipped records' errors, at most maxListed.
	BadRecords []string
	// DuplicateIDs lists ids seen more than once (the last one won), at most maxListed.
	DuplicateIDs []string
	// Duplicates counts all duplicate ids.
	Duplicates int
	// APIChanges counts the documents of the change log applied on top of the corpus.
	APIChanges int
	// Duration is how long the build took.
	Duration time.Duration
}

// maxListed bounds the bad records and duplicate ids a report lists.
const maxListed = 100

// DefaultBatchSize is the number of documents a build writes per Bleve batch.
// BenchmarkBuildBatchSize, 20,000 generated records of about 1 KB on disk, on
// 2 shared cores (CPU seconds are steadier there than wall time; two runs each):
//
//	batch     100   250   500  1000  2000  5000
//	CPU s     8.2   7.0   7.0   6.6   6.5   6.5
//	docs/s   3100  4400  3000  3700  4600  4700
//
// and building the Debian documentation corpus (54,204 records, 79 MB, make
// bench-data) in one process:
//
//	batch       250   500  1000  2000
//	CPU s        42    37    32    30
//	peak RSS MB 249   431   511   811
//
// Past 1,000 the gain is small while a batch's memory grows with its size, so
// 1,000, with maxBatchBytes bounding a batch of large documents.
// Looking each batch's ids up for duplicates costs nothing measurable.
const DefaultBatchSize = 1000

// maxBatchBytes bounds the text of one build batch: 1,000 documents of the
// largest allowed body would otherwise take a gigabyte.
const maxBatchBytes = 32 << 20

// fill reads docs into the index in batches. A malformed record fails the build
// with ErrBadCorpus unless opts.SkipBad is set. It holds one batch of documents
// at a time: a duplicate id is found by looking the batch's ids up in the index
// before writing it, not by remembering every id read.
func (ix *Index) fill(ctx context.Context, docs iter.Seq2[corpus.Document, error], opts BuildOptions) (*BuildReport, error) {
	start := time.Now()
	size := opts.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	rep := &BuildReport{}
	batch := make([]Change, 0, size)
	inBatch := make(map[string]int, size) // id → its place in batch
	read := 0                             // good records read, duplicates included
	batchBytes := 0
	duplicate := func(id string) {
		rep.Duplicates++
		if len(rep.DuplicateIDs) < maxListed {
			rep.DuplicateIDs = append(rep.DuplicateIDs, id)
		}
	}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ids := make([]string, len(batch))
		for i, c := range batch {
			ids[i] = c.ID
		}
		found, err := ix.existing(ids)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if found[id] {
				duplicate(id)
			}
		}
		if err := ix.Apply(0, batch); err != nil {
			return err
		}
		batch, batchBytes = batch[:0], 0
		clear(inBatch)
		if opts.Progress != nil {
			opts.Progress(read)
		}
		return nil
	}
	var badErrs []error
	for doc, err := range docs {
		if err == nil {
			if verr := ValidateDocument(&doc); verr != nil {
				err = fmt.Errorf("document %q: %w", doc.ID, verr)
			}
		}
		if err != nil {
			var rec *corpus.RecordError
			var field *FieldError
			if !errors.As(err, &rec) && !errors.As(err, &field) {
				return nil, fmt.Errorf("read corpus: %w", err)
			}
			rep.Skipped++
			if len(rep.BadRecords) < maxListed {
				rep.BadRecords = append(rep.BadRecords, err.Error())
			}
			if !opts.SkipBad && len(badErrs) < maxListed {
				badErrs = append(badErrs, err)
			}
			continue
		}
		read++
		if doc.Type == "" {
			doc.Type = corpus.TypeSection
		}
		if len(badErrs) > 0 {
			continue // the build will fail: only keep reading to report every bad record
		}
		if i, dup := inBatch[doc.ID]; dup {
			duplicate(doc.ID)
			batch[i] = Change{ID: doc.ID, Doc: &doc} // the last one wins
			continue
		}
		inBatch[doc.ID] = len(batch)
		batch = append(batch, Change{ID: doc.ID, Doc: &doc})
		batchBytes += len(doc.Title) + len(doc.Body) + len(doc.Page)
		if len(batch) >= size || batchBytes >= maxBatchBytes {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if len(badErrs) > 0 {
		return rep, fmt.Errorf("%w: %d malformed records (start with -skip-bad to skip them): %w",
			ErrBadCorpus, rep.Skipped, errors.Join(badErrs...))
	}
	if err := flush(); err != nil {
		return nil, err
	}
	n, err := ix.Count()
	if err != nil {
		return nil, fmt.Errorf("count documents: %w", err)
	}
	rep.Documents = n
	rep.Duration = time.Since(start)
	return rep, nil
}
