package index

import (
	"encoding/json"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/mapping"
	bleveindex "github.com/blevesearch/bleve_index_api"

	"github.com/stacksearch/stacksearch/corpus"
)

// Field names in the Bleve documents.
const (
	fieldTitle = "title"
	fieldBody  = "body"
	// fieldTitleExact and fieldBodyExact hold the same text unstemmed and with
	// stop words: for phrases, typo corrections and completions.
	fieldTitleExact = "title_exact"
	fieldBodyExact  = "body_exact"
	// fieldPageKey groups the records of one page (keyword, doc values).
	fieldPageKey = "page_key"
	fieldPage    = "page"
	fieldURL     = "url"
	fieldType    = "type"
	// fieldTags holds a record's facet values as searchable text, so a query for
	// "django" finds records tagged Django even where the body says "the framework".
	fieldTags = "tags"
	// fieldExtra holds a document's further string fields, JSON-encoded, stored only.
	fieldExtra = "fields"
)

// facetFields maps the facet names of the API to the Bleve field they count.
var facetFields = map[string]string{
	corpus.FieldLanguages:  corpus.FieldLanguages,
	corpus.FieldFrameworks: corpus.FieldFrameworks,
	corpus.FieldDatabases:  corpus.FieldDatabases,
	corpus.FieldTopics:     corpus.FieldTopics,
	"types":                fieldType,
}

// storedFields are loaded for every hit.
var storedFields = []string{fieldTitle, fieldBody, fieldPage, fieldURL, fieldType,
	corpus.FieldLanguages, corpus.FieldFrameworks, corpus.FieldDatabases, corpus.FieldTopics}

// Fields lists the fields of an indexed record, as GetIndex reports them.
func Fields() []string {
	return []string{"id", fieldTitle, fieldURL, fieldPage, fieldType, fieldBody,
		corpus.FieldLanguages, corpus.FieldFrameworks, corpus.FieldDatabases, corpus.FieldTopics, fieldExtra}
}

// newMapping builds the explicit index mapping: code-aware English analysis
// with BM25 for text (stemmed for ranking, plus exact copies), keywords with
// doc values for facets, stored fields with term vectors for highlights.
// Nothing is indexed dynamically.
func newMapping() *mapping.IndexMappingImpl {
	m := bleve.NewIndexMapping()
	m.ScoringModel = bleveindex.BM25Scoring
	m.DefaultAnalyzer = analyzerText
	m.IndexDynamic = false
	m.StoreDynamic = false
	m.DocValuesDynamic = false

	// term vectors: positions for phrase queries on the exact fields, and
	// locations for highlighting in the stored ones
	text := func(analyzer string, stored, vectors bool) *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Analyzer = analyzer
		f.Store = stored
		f.IncludeTermVectors = vectors
		f.IncludeInAll = false
		f.DocValues = false
		return f
	}
	keywordField := func(stored bool) *mapping.FieldMapping {
		f := bleve.NewKeywordFieldMapping()
		f.Analyzer = keyword.Name
		f.Store = stored
		f.DocValues = true
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		return f
	}
	storedOnly := func() *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Analyzer = keyword.Name
		f.Index = false
		f.Store = true
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = false
		return f
	}

	doc := bleve.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt(fieldTitle, text(analyzerText, true, true))
	doc.AddFieldMappingsAt(fieldBody, text(analyzerText, true, true))
	doc.AddFieldMappingsAt(fieldTitleExact, text(analyzerExact, false, true))
	doc.AddFieldMappingsAt(fieldBodyExact, text(analyzerExact, false, true))
	doc.AddFieldMappingsAt(fieldPage, text(analyzerText, true, false))
	doc.AddFieldMappingsAt(fieldTags, text(analyzerText, false, false))
	doc.AddFieldMappingsAt(fieldPageKey, keywordField(false))
	doc.AddFieldMappingsAt(fieldURL, storedOnly())
	doc.AddFieldMappingsAt(fieldExtra, storedOnly())
	doc.AddFieldMappingsAt(fieldType, keywordField(true))
	for _, f := range corpus.FacetFields {
		doc.AddFieldMappingsAt(f, keywordField(true))
	}
	m.DefaultMapping = doc
	return m
}

// toBleve turns a document into the map the mapping indexes.
func toBleve(d *corpus.Document) map[string]any {
	m := map[string]any{
		fieldTitle:      d.Title,
		fieldBody:       d.Body,
		fieldTitleExact: d.Title,
		fieldBodyExact:  d.Body,
		fieldPage:       d.Page,
		fieldURL:        d.URL,
		fieldType:       d.Type,
	}
	if d.Page != "" {
		m[fieldPageKey] = d.Page
	}
	var tags []string
	for _, f := range corpus.FacetFields {
		if v := d.Facet(f); len(v) > 0 {
			m[f] = v
			tags = append(tags, v...)
		}
	}
	if len(tags) > 0 {
		m[fieldTags] = strings.Join(tags, " ")
	}
	if len(d.Fields) > 0 {
		raw, _ := json.Marshal(d.Fields) // a map of strings always encodes
		m[fieldExtra] = string(raw)
	}
	return m
}
