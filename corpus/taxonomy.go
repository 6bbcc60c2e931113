package corpus

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

//go:embed taxonomy.yaml
var defaultTaxonomyYAML []byte

// Topic thresholds: a topic named in a record's title counts when the body mentions it too; from the
// body alone its name or keywords must come up at least topicMinMentions times, and once per
// topicWordsPerMention words in long records, in at least topicMinSentences sentences (so that one
// sentence listing "microservices architecture, serverless computing" does not make a career page
// about architecture).
const (
	topicMinMentions     = 3
	topicWordsPerMention = 150
	topicMinSentences    = 2
)

// Entry is one name in the taxonomy: a language, framework, database or topic.
type Entry struct {
	// Field is the facet field the entry belongs to (FieldLanguages, FieldFrameworks, ...).
	Field string `json:"field"`
	// Name is the canonical name, the value facets hold.
	Name string `json:"name"`
	// Aliases are the other names of the entry, for synonym lists: "postgres" for PostgreSQL.
	Aliases []string `json:"aliases,omitempty"`
	// Language is the language a framework implies ("Python" for Django); empty for other entries.
	Language string `json:"language,omitempty"`
}

// Taxonomy tags documents with the languages, frameworks, databases and topics they are about, and
// turns the names people type into canonical ones. It is immutable and safe for concurrent use.
type Taxonomy struct {
	entries   []Entry
	language  []int                     // entry -> the language entry a framework implies, or -1
	field     []int                     // entry -> index of its field in FacetFields
	canonical map[string]map[string]int // field -> normalised name or alias -> entry
	lookup    map[string][]int          // normalised name, alias or keyword -> entries
	rules     map[string][]rule         // normalised phrase -> how it is found in text
	longest   map[string]int            // first word of a phrase -> most words of a phrase it starts
	scratch   sync.Pool
}

// rule says how a phrase found in text counts.
type rule struct {
	entry int // -1 for an ignored phrase
	// exact holds the words as they must be written, for names that are also ordinary words.
	exact []string
	// capital is set for a capitalised exact name ("Go"): it does not count as the first word of a
	// sentence unless what follows says it is a name ("Go is", "Go's", "Go:").
	capital bool
}

// taxonomyFile is the YAML form of a taxonomy (see taxonomy.yaml).
type taxonomyFile struct {
	Ignore     []string    `yaml:"ignore"`
	Languages  []entrySpec `yaml:"languages"`
	Frameworks []entrySpec `yaml:"frameworks"`
	Databases  []entrySpec `yaml:"databases"`
	Topics     []entrySpec `yaml:"topics"`
}

type entrySpec struct {
	Name     string   `yaml:"name"`
	Aliases  []string `yaml:"aliases"`
	Cased    []string `yaml:"cased"`
	Search   []string `yaml:"search"`
	Keywords []string `yaml:"keywords"`
	Language string   `yaml:"language"`
}

var defaultTaxonomy = sync.OnceValue(func() *Taxonomy {
	t, err := parseTaxonomy(defaultTaxonomyYAML)
	if err != nil {
		panic("corpus: embedded taxonomy.yaml: " + err.Error())
	}
	return t
})

// DefaultTaxonomy returns the taxonomy embedded in the binary (corpus/taxonomy.yaml).
func DefaultTaxonomy() *Taxonomy { return defaultTaxonomy() }

// LoadTaxonomy reads a site's own taxonomy from a YAML file in the format of corpus/taxonomy.yaml.
func LoadTaxonomy(path string) (*Taxonomy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load taxonomy %s: %w", path, err)
	}
	t, err := parseTaxonomy(data)
	if err != nil {
		return nil, fmt.Errorf("load taxonomy %s: %w", path, err)
	}
	return t, nil
}

func parseTaxonomy(data []byte) (*Taxonomy, error) {
	var f taxonomyFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse taxonomy: %w", err)
	}
	t := &Taxonomy{
		canonical: map[string]map[string]int{},
		lookup:    map[string][]int{},
		rules:     map[string][]rule{},
		longest:   map[string]int{},
	}
	t.scratch.New = func() any { return &tagScratch{} }
	for _, phrase := range f.Ignore {
		if err := t.addRule(phrase, rule{entry: -1}); err != nil {
			return nil, fmt.Errorf("ignore: %w", err)
		}
	}
	// Languages come first, so that frameworks can name theirs.
	for fi, specs := range [][]entrySpec{f.Languages, f.Frameworks, f.Databases, f.Topics} {
		field := FacetFields[fi]
		t.canonical[field] = map[string]int{}
		for _, spec := range specs {
			if err := t.addEntry(fi, spec); err != nil {
				return nil, fmt.Errorf("%s: %w", field, err)
			}
		}
	}
	return t, nil
}

// addEntry adds one entry of the field FacetFields[fi] and the ways of finding it.
func (t *Taxonomy) addEntry(fi int, spec entrySpec) error {
	field, name := FacetFields[fi], strings.TrimSpace(spec.Name)
	if name == "" {
		return errors.New("an entry has no name")
	}
	idx := len(t.entries)
	e := Entry{Field: field, Name: name}
	lang := -1
	if spec.Language != "" {
		if field != FieldFrameworks {
			return fmt.Errorf("%s: only frameworks imply a language", name)
		}
		var ok bool
		if lang, ok = t.canonical[FieldLanguages][normalizePhrase(spec.Language)]; !ok {
			return fmt.Errorf("%s: unknown language %q", name, spec.Language)
		}
		e.Language = t.entries[lang].Name
	}

	// Every name is a synonym: Canonical and Lookup find the entry by it.
	nameKey := normalizePhrase(name)
	seen := map[string]bool{nameKey: true}
	for _, n := range slices.Concat([]string{name}, spec.Aliases, spec.Cased, spec.Search) {
		key := normalizePhrase(n)
		if key == "" {
			return fmt.Errorf("%s: name %q has no words", name, n)
		}
		if other, ok := t.canonical[field][key]; ok && other != idx {
			return fmt.Errorf("%s: %q already names %s", name, n, t.entries[other].Name)
		}
		t.canonical[field][key] = idx
		t.addLookup(key, idx)
		if !seen[key] {
			seen[key] = true
			e.Aliases = append(e.Aliases, strings.TrimSpace(n))
		}
	}
	for _, k := range spec.Keywords {
		t.addLookup(normalizePhrase(k), idx)
	}
	t.entries = append(t.entries, e)
	t.language = append(t.language, lang)
	t.field = append(t.field, fi)

	// How each is found in text: the name (unless it is only found as written, or never), aliases and
	// keywords in any case, cased names as written.
	anyCase := slices.Concat(spec.Aliases, spec.Keywords)
	if !slices.ContainsFunc(slices.Concat(spec.Cased, spec.Search), func(n string) bool { return normalizePhrase(n) == nameKey }) {
		anyCase = append(anyCase, name)
	}
	for _, n := range anyCase {
		if err := t.addRule(n, rule{entry: idx}); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	for _, n := range spec.Cased {
		words := phraseWords(n)
		if err := t.addRule(n, rule{entry: idx, exact: words, capital: len(words) > 0 && isCapitalised(words[0])}); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// addRule registers how a phrase is found in text. A phrase registered twice for the same entry
// counts once.
func (t *Taxonomy) addRule(phrase string, r rule) error {
	words := phraseWords(phrase)
	if len(words) == 0 {
		return fmt.Errorf("phrase %q has no words", phrase)
	}
	key := normalizePhrase(phrase)
	for _, old := range t.rules[key] {
		if old.entry == r.entry && slices.Equal(old.exact, r.exact) {
			return nil
		}
	}
	t.rules[key] = append(t.rules[key], r)
	first := string(lowerASCII(nil, words[0]))
	t.longest[first] = max(t.longest[first], len(words))
	return nil
}

func (t *Taxonomy) addLookup(key string, idx int) {
	if key != "" && !slices.Contains(t.lookup[key], idx) {
		t.lookup[key] = append(t.lookup[key], idx)
	}
}

// phraseWords returns the words of a phrase as written.
func phraseWords(s string) []string {
	var words []string
	for _, tok := range tokenize(s, nil) {
		words = append(words, s[tok.start:tok.end])
	}
	return words
}

// isCapitalised reports whether w is written like a proper name ("Go", "Rails"), not in capitals
// ("REST") or lower case.
func isCapitalised(w string) bool {
	r, n := utf8.DecodeRuneInString(w)
	return unicode.IsUpper(r) && strings.IndexFunc(w[n:], unicode.IsLower) >= 0
}

// Entries returns every entry, languages first, then frameworks, databases and topics, each in the
// order of the taxonomy file. The slice is the caller's.
func (t *Taxonomy) Entries() []Entry {
	out := make([]Entry, len(t.entries))
	for i, e := range t.entries {
		e.Aliases = slices.Clone(e.Aliases)
		out[i] = e
	}
	return out
}

// Canonical returns the canonical name for a value of a facet field, matching names and aliases
// without regard to case: ("databases", "postgres") -> "PostgreSQL". ok is false for a value the
// taxonomy does not know or an unknown field.
func (t *Taxonomy) Canonical(field, value string) (string, bool) {
	idx, ok := t.canonical[field][normalizePhrase(value)]
	if !ok {
		return "", false
	}
	return t.entries[idx].Name, true
}

// Lookup returns the entries a phrase typed in a search box names, in any field: "django", "node",
// "postgres", "c#", and topic keywords such as "k8s" or "xss". It is lenient, since a search-box
// query is about technology: "go" and "rails" find Go and Ruby on Rails. It returns nil for a phrase
// it does not know.
func (t *Taxonomy) Lookup(phrase string) []Entry {
	idxs := t.lookup[normalizePhrase(phrase)]
	if len(idxs) == 0 {
		return nil
	}
	out := make([]Entry, len(idxs))
	for i, idx := range idxs {
		e := t.entries[idx]
		e.Aliases = slices.Clone(e.Aliases)
		out[i] = e
	}
	return out
}

// Tag fills each facet of doc that the document did not declare (left nil or empty) from what its
// title and body mention. Languages, frameworks and databases count when named once; a framework
// also counts its language. A topic counts when the title names it and the body (if any) mentions it
// too, or when the body mentions it often enough to be about it: three times, in two sentences or
// more, and once per 150 words in longer records. Declared values are kept, spelt as the taxonomy
// spells them when it knows them; declared frameworks imply their languages when the languages are
// not declared.
func (t *Taxonomy) Tag(doc *Document) {
	var declared [4]bool // in FacetFields order
	all := true
	for i, f := range FacetFields {
		if vals := doc.facetSlot(f); len(*vals) > 0 {
			*vals = t.canonicalList(f, *vals)
			declared[i] = true
		} else {
			all = false
		}
	}
	if all {
		return
	}
	s := t.scratch.Get().(*tagScratch)
	defer t.scratch.Put(s)
	s.reset(len(t.entries))
	t.scan(doc.Title, true, s)
	words := t.scan(doc.Body, false, s)
	need := int32(max(topicMinMentions, words/topicWordsPerMention))

	hit := s.hit
	for i, e := range t.entries {
		switch {
		case e.Field == FieldFrameworks && declared[t.field[i]]:
			hit[i] = slices.Contains(doc.Frameworks, e.Name)
		case e.Field == FieldTopics:
			// A topic word in a title needs the body to agree: "Control Flow Tools" is not about tools.
			hit[i] = s.inTitle[i] && (s.inBody[i] > 0 || words == 0) ||
				s.inBody[i] >= need && s.sentences[i] >= topicMinSentences
		case s.inTitle[i]:
			hit[i] = true
		default:
			hit[i] = s.inBody[i] > 0
		}
	}
	for i := range t.entries {
		if hit[i] && t.language[i] >= 0 {
			hit[t.language[i]] = true
		}
	}
	for i, e := range t.entries {
		if hit[i] && !declared[t.field[i]] {
			vals := doc.facetSlot(e.Field)
			*vals = append(*vals, e.Name)
		}
	}
}

// scan counts the entries a text mentions into s and returns its number of words. It reads the text
// once, looking each word, and the phrases it starts, up in maps; at each word the longest phrase
// found wins and its words are consumed.
func (t *Taxonomy) scan(text string, inTitle bool, s *tagScratch) int {
	s.toks = tokenize(text, s.toks)
	s.lower = lowerASCII(s.lower[:0], text)
	toks, lower := s.toks, s.lower
	titleCase := inTitle && isTitleCase(text, toks)
	sentence := int32(0)
	for i := 0; i < len(toks); {
		if toks[i].sentenceStart {
			sentence++
		}
		n := min(t.longest[string(lower[toks[i].start:toks[i].end])], len(toks)-i)
		if n == 0 {
			i++
			continue
		}
		key, ends := s.key[:0], s.ends[:0]
		for k := range n {
			if k > 0 {
				key = append(key, ' ')
			}
			key = append(key, lower[toks[i+k].start:toks[i+k].end]...)
			ends = append(ends, len(key))
		}
		s.key, s.ends = key, ends
		matched := 0
		for k := n; k >= 1 && matched == 0; k-- {
			for _, r := range t.rules[string(key[:ends[k-1]])] {
				if !r.matches(text, toks, i, k, titleCase) {
					continue
				}
				matched = k
				switch {
				case r.entry < 0:
				case inTitle:
					s.inTitle[r.entry] = true
				default:
					s.inBody[r.entry]++
					if s.lastSentence[r.entry] != sentence {
						s.lastSentence[r.entry] = sentence
						s.sentences[r.entry]++
					}
				}
			}
		}
		i += max(matched, 1)
	}
	return len(toks)
}

// matches reports whether the k words of text at toks[i] are written as the rule wants.
func (r *rule) matches(text string, toks []token, i, k int, titleCase bool) bool {
	if r.exact == nil {
		return true
	}
	if len(r.exact) != k {
		return false
	}
	for j, w := range r.exact {
		if text[toks[i+j].start:toks[i+j].end] != w {
			return false
		}
	}
	switch {
	case !r.capital:
		return true
	case titleCase:
		return false
	case !toks[i].sentenceStart:
		return true
	}
	return namedAtSentenceStart(text, toks, i+k)
}

// nameVerbs, after a capitalised word opening a sentence, say the word is a name: "Go is", "Flask
// provides". "Go to the page" and "Express your ideas" do not.
var nameVerbs = map[string]bool{
	"is": true, "was": true, "has": true, "provides": true, "supports": true, "offers": true,
	"lets": true, "makes": true, "uses": true, "includes": true,
}

// namedAtSentenceStart reports whether the words before toks[next] (opening a sentence) are a name by
// what follows them: a colon (a list item "Go: ..."), a possessive, or a verb of nameVerbs.
func namedAtSentenceStart(text string, toks []token, next int) bool {
	end := toks[next-1].end
	rest := text[end:]
	if strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "'s ") || strings.HasPrefix(rest, "’s ") {
		return true
	}
	if next >= len(toks) || strings.TrimLeft(text[end:toks[next].start], " ") != "" {
		return false
	}
	return nameVerbs[text[toks[next].start:toks[next].end]]
}

// canonicalList spells declared values as the taxonomy does and drops repeats.
func (t *Taxonomy) canonicalList(field string, vals []string) []string {
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		if c, ok := t.Canonical(field, v); ok {
			v = c
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// tagScratch holds Tag's working memory, reused across calls.
type tagScratch struct {
	toks    []token
	lower   []byte
	key     []byte
	ends    []int
	inTitle []bool
	inBody  []int32
	hit     []bool
	// sentences counts the sentences of the body that mention each entry; lastSentence is the
	// last one counted.
	sentences    []int32
	lastSentence []int32
}

func (s *tagScratch) reset(n int) {
	s.inTitle = slices.Grow(s.inTitle[:0], n)[:n]
	s.inBody = slices.Grow(s.inBody[:0], n)[:n]
	s.hit = slices.Grow(s.hit[:0], n)[:n]
	clear(s.inTitle)
	clear(s.inBody)
	clear(s.hit)
	s.sentences = slices.Grow(s.sentences[:0], n)[:n]
	s.lastSentence = slices.Grow(s.lastSentence[:0], n)[:n]
	clear(s.sentences)
	for i := range s.lastSentence {
		s.lastSentence[i] = -1
	}
}
