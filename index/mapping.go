package index

import (
	"encoding/json"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/mapping"
	bleveindex "github.com/blevesearch/bleve_index_api"

	"github.com/stacksearch/stacksearch/corpus"
)

// Field names in the Bleve documents.
const (
	fieldTitle = "title"
	fieldBody  = "body"
	fieldPage  = "page"
	fieldURL   = "url"
	fieldType  = "type"
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

// newMapping builds the explicit index mapping: English analysis with BM25 for
// text, keywords with doc values for facets, stored fields with term vectors for
// highlights. Nothing is indexed dynamically.
func newMapping() *mapping.IndexMappingImpl {
	m := bleve.NewIndexMapping()
	m.ScoringModel = bleveindex.BM25Scoring
	m.DefaultAnalyzer = en.AnalyzerName
	m.IndexDynamic = false
	m.StoreDynamic = false
	m.DocValuesDynamic = false

	text := func(stored bool) *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Analyzer = en.AnalyzerName
		f.Store = stored
		f.IncludeTermVectors = stored
		f.IncludeInAll = false
		f.DocValues = false
		return f
	}
	keywordField := func() *mapping.FieldMapping {
		f := bleve.NewKeywordFieldMapping()
		f.Analyzer = keyword.Name
		f.Store = true
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
	doc.AddFieldMappingsAt(fieldTitle, text(true))
	doc.AddFieldMappingsAt(fieldBody, text(true))
	doc.AddFieldMappingsAt(fieldPage, text(true))
	doc.AddFieldMappingsAt(fieldTags, text(false))
	doc.AddFieldMappingsAt(fieldURL, storedOnly())
	doc.AddFieldMappingsAt(fieldExtra, storedOnly())
	doc.AddFieldMappingsAt(fieldType, keywordField())
	for _, f := range corpus.FacetFields {
		doc.AddFieldMappingsAt(f, keywordField())
	}
	m.DefaultMapping = doc
	return m
}

// toBleve turns a document into the map the mapping indexes.
func toBleve(d *corpus.Document) map[string]any {
	m := map[string]any{
		fieldTitle: d.Title,
		fieldBody:  d.Body,
		fieldPage:  d.Page,
		fieldURL:   d.URL,
		fieldType:  d.Type,
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
