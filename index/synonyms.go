package index

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/stacksearch/stacksearch/corpus"
)

//go:embed synonyms.txt
var defaultSynonyms string

// Synonyms maps a word or phrase, as typed, to the words and phrases it also
// finds. They apply at query time, so a site can change them without a reindex.
type Synonyms struct {
	m map[string][]string
	// maxWords is the most words in any key.
	maxWords int
}

// NewSynonyms returns the default synonyms plus the taxonomy's names and
// aliases (when tax is not nil) plus the site's own file (when path is not
// empty).
func NewSynonyms(tax *corpus.Taxonomy, path string) (*Synonyms, error) {
	s := &Synonyms{m: map[string][]string{}}
	if err := s.read(strings.NewReader(defaultSynonyms), "default synonyms"); err != nil {
		return nil, err
	}
	if tax != nil {
		for _, e := range tax.Entries() {
			s.addGroup(append([]string{e.Name}, e.Aliases...))
		}
	}
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("synonyms: %w", err)
		}
		defer f.Close()
		if err := s.read(f, path); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// read adds the entries of a Solr-format synonyms file.
func (s *Synonyms) read(r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if from, to, oneWay := strings.Cut(line, "=>"); oneWay {
			lhs, rhs := splitTerms(from), splitTerms(to)
			if len(lhs) == 0 || len(rhs) == 0 {
				return fmt.Errorf("%s:%d: a one-way entry needs terms on both sides of =>", name, n)
			}
			for _, k := range lhs {
				s.add(k, rhs...)
			}
			continue
		}
		terms := splitTerms(line)
		if len(terms) < 2 {
			return fmt.Errorf("%s:%d: an entry needs at least two terms separated by commas", name, n)
		}
		s.addGroup(terms)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func splitTerms(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = normalizeTerm(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// normalizeTerm lowercases and collapses spaces.
func normalizeTerm(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// addGroup makes every term find every other.
func (s *Synonyms) addGroup(terms []string) {
	for i := range terms {
		terms[i] = normalizeTerm(terms[i])
	}
	for _, k := range terms {
		for _, v := range terms {
			if v != k {
				s.add(k, v)
			}
		}
	}
}

func (s *Synonyms) add(key string, vals ...string) {
	key = normalizeTerm(key)
	if key == "" {
		return
	}
	for _, v := range vals {
		if v != key && !slices.Contains(s.m[key], v) {
			s.m[key] = append(s.m[key], v)
		}
	}
	s.maxWords = max(s.maxWords, len(strings.Fields(key)))
}

// lookup returns what a word or phrase also finds.
func (s *Synonyms) lookup(phrase string) []string {
	if s == nil {
		return nil
	}
	return s.m[normalizeTerm(phrase)]
}
