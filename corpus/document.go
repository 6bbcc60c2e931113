package corpus

// Record types: every searchable record is one section of a page or one FAQ entry.
const (
	TypeSection = "section"
	TypeFAQ     = "faq"
)

// Facet fields a document can carry. Each holds canonical names from the taxonomy
// (or whatever the document declared itself).
const (
	FieldLanguages  = "languages"
	FieldFrameworks = "frameworks"
	FieldDatabases  = "databases"
	FieldTopics     = "topics"
)

// FacetFields lists the facet fields in the order they are shown.
var FacetFields = []string{FieldLanguages, FieldFrameworks, FieldDatabases, FieldTopics}

// Document is one searchable record: a section of a page, or one FAQ question with its answer.
type Document struct {
	// ID is stable across rebuilds: the page slug and the heading anchor, or the id a JSONL line gave.
	ID string `json:"id"`
	// Title is the section heading or the FAQ question.
	Title string `json:"title"`
	// URL is the page URL plus the heading anchor ("/page-slug#anchor").
	URL string `json:"url,omitempty"`
	// Page is the title of the page the record belongs to.
	Page string `json:"page,omitempty"`
	// Type is TypeSection or TypeFAQ.
	Type string `json:"type,omitempty"`
	// Body is the record's text: plain words, no markup.
	Body string `json:"body,omitempty"`

	Languages  []string `json:"languages,omitempty"`
	Frameworks []string `json:"frameworks,omitempty"`
	Databases  []string `json:"databases,omitempty"`
	Topics     []string `json:"topics,omitempty"`

	// Fields holds any further string fields a source declared (extra front matter keys).
	Fields map[string]string `json:"fields,omitempty"`
}

// Facet returns the values of the named facet field, or nil for an unknown name.
func (d *Document) Facet(field string) []string {
	switch field {
	case FieldLanguages:
		return d.Languages
	case FieldFrameworks:
		return d.Frameworks
	case FieldDatabases:
		return d.Databases
	case FieldTopics:
		return d.Topics
	}
	return nil
}

// facetSlot returns the slice behind the named facet field, or nil for an unknown name.
func (d *Document) facetSlot(field string) *[]string {
	switch field {
	case FieldLanguages:
		return &d.Languages
	case FieldFrameworks:
		return &d.Frameworks
	case FieldDatabases:
		return &d.Databases
	case FieldTopics:
		return &d.Topics
	}
	return nil
}
