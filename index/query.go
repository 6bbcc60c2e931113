package index

import (
	"context"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/registry"
	"github.com/blevesearch/bleve/v2/search/query"
	bleveindex "github.com/blevesearch/bleve_index_api"

	"github.com/stacksearch/stacksearch/corpus"
)

// Tuning is how a server matches and ranks: typo tolerance and synonyms.
type Tuning struct {
	// TypoMin1 is the shortest word (in characters) in which one typo is
	// tolerated; TypoMin2 the shortest with two. Shorter words never match a typo.
	TypoMin1, TypoMin2 int
	// Synonyms are the words and phrases each typed word also finds.
	Synonyms *Synonyms
}

// DefaultTuning tolerates one typo from 4 characters and two from 8, with the
// default synonyms and the taxonomy's aliases.
func DefaultTuning(tax *corpus.Taxonomy) Tuning {
	syn, err := NewSynonyms(tax, "")
	if err != nil {
		panic(err) // the embedded file is tested
	}
	return Tuning{TypoMin1: 4, TypoMin2: 8, Synonyms: syn}
}

// AppliedFilter is a facet value the query named, applied as a soft boost.
type AppliedFilter struct {
	Field, Value string
	// Matched is the query text that named it.
	Matched string
}

// Weights of the parts of a text query. A word's alternatives weigh less than
// the word: a record with the word as typed ranks above one found through a
// synonym, a typo correction or a completion. A typo correction is only tried
// for a word the index does not hold at all, so an exact match always outranks
// a typo match.
const (
	boostTitle    = 4.0
	boostBody     = 1.0
	boostTags     = 1.5
	boostPage     = 0.5
	boostFacet    = 0.5
	boostCategory = 0.5

	weightSynonym = 0.8
	weightTypo1   = 0.7
	weightTypo2   = 0.5
	weightPrefix  = 0.4

	// minCorrectionCount is how many records must hold a word for it to
	// correct a typo: a word seen once is as likely a typo itself.
	minCorrectionCount = 2

	// maxTypoCandidates and maxCompletions bound how many index terms one
	// word may expand to.
	maxTypoCandidates = 3
	maxCompletions    = 6
	// maxPrefixScan bounds the dictionary entries read to complete a prefix.
	maxPrefixScan = 5000
	// minPrefixLen is the shortest last word completed as a prefix.
	minPrefixLen = 2
	// maxTypoWords: in a longer query (a pasted sentence or claim) a word the
	// index does not hold is more often a rare name than a typo, and
	// correcting it ranked worse on SciFact, so only queries of up to this
	// many words are corrected.
	maxTypoWords = 5
	// minUnderstoodPrefix is the shortest word being typed whose completion
	// may name a facet value ("dja" → Django).
	minUnderstoodPrefix = 3
	// maxPrefixWords: in a longer query a last word the index holds is taken
	// as finished (a pasted sentence, not a word being typed).
	maxPrefixWords = 3
)

// rankedFields are the stemmed text fields a word is matched in, with their
// BM25F weights.
var rankedFields = []weightedField{{fieldTitle, boostTitle}, {fieldBody, boostBody}, {fieldTags, boostTags}, {fieldPage, boostPage}}

// categoryWords are the words of titles that introduce an overview of a facet
// field: a query naming a framework is best answered by a section about
// frameworks, not by one that mentions it in passing.
var categoryWords = map[string]string{
	corpus.FieldLanguages:  "languages",
	corpus.FieldFrameworks: "frameworks",
	corpus.FieldDatabases:  "databases",
}

// plan is a typed query turned into a Bleve query, with what was learnt on the way.
type plan struct {
	// query ranks the matches; match-all in browse mode.
	query query.Query
	// browse is set for an empty query.
	browse bool
	// filters came from field:value syntax.
	filters map[string][]string
	// applied lists the facet values the words named.
	applied []AppliedFilter
	// corrected is the query with unknown words replaced by their typo
	// corrections, when there were any.
	corrected string
	// marks are the terms to highlight.
	marks marks
	// groups holds, for each word of the query that is not a stop word, the
	// stems it matches (its own and its alternatives'), for answers.
	groups [][]string
	// question is set when the query is worded as a question.
	question bool
}

// marks are the terms highlighted in a hit: surface forms in the exact
// analysis, stems in the ranked analysis, and phrases (as exact terms in
// order).
type marks struct {
	exact, stems map[string]bool
	phrases      [][]string
}

// planner builds plans against one index reader.
type planner struct {
	ctx   context.Context
	r     bleveindex.IndexReader
	tax   *corpus.Taxonomy
	tune  Tuning
	typos bool
	text  analysis.Analyzer
	exact analysis.Analyzer
	marks marks
	fixes map[string]string // typed word -> correction
	avgdl map[string]float64
	// completed is the best completion of the word being typed.
	completed string
}

// analyzers resolves the registered analyzers once (after init has registered them).
var analyzers = sync.OnceValue(func() analyzerPair {
	c := registry.NewCache()
	t, err := c.AnalyzerNamed(analyzerText)
	if err != nil {
		panic(err)
	}
	e, err := c.AnalyzerNamed(analyzerExact)
	if err != nil {
		panic(err)
	}
	return analyzerPair{t, e}
})

// analyzerPair holds the ranked and the exact analyzer.
type analyzerPair struct{ text, exact analysis.Analyzer }

// buildPlan parses text and builds its query. r is used to look words up in
// the index's dictionaries (typo corrections, completions).
func buildPlan(ctx context.Context, r bleveindex.IndexReader, text string, tax *corpus.Taxonomy, tune Tuning, typos bool, avgdl map[string]float64) plan {
	pq := parseQuery(text)
	p := plan{filters: pq.filters}
	if len(pq.groups) == 0 {
		p.browse = true
		p.query = query.NewMatchAllQuery()
		if len(pq.excludes) > 0 {
			p.query = query.NewBooleanQuery([]query.Query{p.query}, nil, []query.Query{excludeQuery(pq.excludes)})
		}
		return p
	}
	pl := &planner{ctx: ctx, r: r, tax: tax, tune: tune, typos: typos, avgdl: avgdl,
		text: analyzers().text, exact: analyzers().exact,
		marks: marks{exact: map[string]bool{}, stems: map[string]bool{}}, fixes: map[string]string{}}
	groups := pl.joinSynonymPhrases(pq.groups)
	var clauses []query.Query
	for i, g := range groups {
		last := i == len(groups)-1 && pq.prefix
		q, stems := pl.groupQuery(g, last, len(groups))
		if q == nil {
			continue // a stop word
		}
		clauses = append(clauses, q)
		p.groups = append(p.groups, stems)
	}
	p.question = isQuestion(text)
	p.marks = pl.marks
	if len(pl.fixes) > 0 {
		p.corrected = correctText(text, pl.fixes)
	}
	var main query.Query = query.NewMatchNoneQuery()
	switch len(clauses) {
	case 0:
	case 1:
		main = clauses[0]
	default:
		main = newSum(clauses...)
	}
	var should []query.Query
	understood := text
	if p.corrected != "" {
		understood = p.corrected
	}
	if pl.completed != "" {
		// "djan" names Django as soon as the completion does
		words := strings.Fields(understood)
		words[len(words)-1] = pl.completed
		understood = strings.Join(words, " ")
	}
	p.applied = understand(understood, tax)
	for _, a := range p.applied {
		should = append(should, newTerm(a.Value, a.Field, boostFacet, 0))
		if w, ok := categoryWords[a.Field]; ok {
			should = append(should, newTerm(pl.stem(w), fieldTitle, boostCategory, avgdl[fieldTitle]))
		}
	}
	p.query = main
	if len(should) > 0 {
		p.query = &boostQuery{main: main, boosts: should}
	}
	if len(pq.excludes) > 0 {
		p.query = query.NewBooleanQuery([]query.Query{p.query}, nil, []query.Query{excludeQuery(pq.excludes)})
	}
	return p
}

// joinSynonymPhrases turns consecutive single words that make a synonym
// entry ("server side", "sql injection") into one group.
func (pl *planner) joinSynonymPhrases(groups []queryGroup) []queryGroup {
	if pl.tune.Synonyms == nil || pl.tune.Synonyms.maxWords < 2 {
		return groups
	}
	plain := func(g queryGroup) bool { return len(g.alts) == 1 && !g.alts[0].phrase }
	var out []queryGroup
	for i := 0; i < len(groups); {
		joined := false
		for n := min(pl.tune.Synonyms.maxWords, len(groups)-i); n >= 2; n-- {
			words := make([]string, 0, n)
			for _, g := range groups[i : i+n] {
				if !plain(g) {
					break
				}
				words = append(words, g.alts[0].text)
			}
			if len(words) < n {
				continue
			}
			phrase := strings.Join(words, " ")
			if len(pl.tune.Synonyms.lookup(phrase)) > 0 {
				out = append(out, queryGroup{alts: []queryAlt{{text: phrase, phrase: true}}})
				i += n
				joined = true
				break
			}
		}
		if !joined {
			out = append(out, groups[i])
			i++
		}
	}
	return out
}

// alternative is one way a query word is matched, with its weight.
type alternative struct {
	text   string
	phrase bool
	weight float64
}

// groupQuery matches one word or phrase of the query, or its OR alternatives,
// with synonyms, typo corrections and (for the word being typed) completions.
// It also returns the stems the group matches.
func (pl *planner) groupQuery(g queryGroup, typing bool, groups int) (query.Query, []string) {
	var alts []alternative
	for _, a := range g.alts {
		alts = append(alts, alternative{text: a.text, phrase: a.phrase, weight: 1})
		for _, s := range pl.tune.Synonyms.lookup(a.text) {
			alts = append(alts, alternative{text: s, phrase: strings.Contains(s, " "), weight: weightSynonym})
		}
		if a.phrase {
			continue
		}
		surface := pl.wholeToken(pl.exact, a.text)
		if surface == "" {
			continue
		}
		n := utf8.RuneCountInString(surface)
		if pl.typos && groups <= maxTypoWords && n >= pl.tune.TypoMin1 && correctable(a.text) && len(pl.tune.Synonyms.lookup(a.text)) == 0 &&
			!pl.known(surface) && !pl.holds(pl.stem(a.text), fieldTitle, fieldBody) {
			fuzz := 1
			if n >= pl.tune.TypoMin2 {
				fuzz = 2
			}
			for k, c := range pl.typoCandidates(surface, fuzz) {
				if c.count < minCorrectionCount {
					break
				}
				w := weightTypo1
				if c.dist > 1 {
					w = weightTypo2
				}
				alts = append(alts, alternative{text: c.term, weight: w})
				if k == 0 {
					pl.fixes[a.text] = matchCase(a.text, c.term)
				}
			}
		}
		if typing && n >= minPrefixLen && (groups <= maxPrefixWords || !pl.known(surface)) {
			for k, c := range pl.completions(surface) {
				alts = append(alts, alternative{text: c, weight: weightPrefix})
				if k == 0 && n >= minUnderstoodPrefix {
					pl.completed = c
				}
			}
		}
	}
	// one query per distinct term: two completions with one stem must not count twice
	best := map[string]int{}
	var kept []alternative
	for _, a := range alts {
		key := a.text
		if !a.phrase {
			if key = pl.wholeToken(pl.text, a.text); key == "" {
				continue
			}
		}
		if i, ok := best[key]; ok {
			kept[i].weight = max(kept[i].weight, a.weight)
			continue
		}
		best[key] = len(kept)
		kept = append(kept, a)
	}
	var qs []query.Query
	var stems []string
	for _, a := range kept {
		if q := pl.altQuery(a); q != nil {
			qs = append(qs, q)
			for _, t := range pl.text.Analyze([]byte(a.text)) {
				stems = append(stems, string(t.Term))
			}
		}
	}
	if len(qs) == 0 {
		return nil, nil
	}
	return newSum(qs...), stems
}

// altQuery matches one alternative in the ranked fields (a word) or as a
// phrase in the exact fields.
func (pl *planner) altQuery(a alternative) query.Query {
	if a.phrase {
		words := phraseTerms(pl.exact, a.text)
		pl.marks.phrases = append(pl.marks.phrases, words)
		var qs []query.Query
		for _, f := range []weightedField{{fieldTitleExact, boostTitle}, {fieldBodyExact, boostBody}} {
			qs = append(qs, &phraseQuery{text: a.text, words: words, field: f.name, boost: f.weight * a.weight})
		}
		return newSum(qs...)
	}
	stem := pl.wholeToken(pl.text, a.text)
	if stem == "" {
		return nil
	}
	pl.marks.stems[stem] = true
	if s := pl.wholeToken(pl.exact, a.text); s != "" {
		pl.marks.exact[s] = true
	}
	return &fieldsQuery{term: stem, fields: rankedFields, boost: a.weight, avgdl: pl.avgdl}
}

// correctable reports whether a word may be corrected as a typo: letters only
// (no digits, hyphens or symbols: "Rad53", "C#", "back-end" are names, not
// typos), written in lower case or capitalised (not an acronym such as "dLNs").
func correctable(word string) bool {
	word = strings.TrimRight(word, ".,;:!?)")
	word = strings.TrimLeft(word, "(")
	for i, r := range word {
		if !unicode.IsLetter(r) || (i > 0 && unicode.IsUpper(r)) {
			return false
		}
	}
	return word != ""
}

// matchCase writes a correction the way the typed word was written: "Djnago"
// becomes "Django".
func matchCase(typed, fix string) string {
	r, _ := utf8.DecodeRuneInString(typed)
	if unicode.IsUpper(r) {
		f, size := utf8.DecodeRuneInString(fix)
		return string(unicode.ToUpper(f)) + fix[size:]
	}
	return fix
}

// wholeToken analyses a typed word and returns its term: the compound term
// when the word is one ("node.js", "back-end" → "backend", "c#"), else the
// first term; "" for a stop word or punctuation.
func (pl *planner) wholeToken(a analysis.Analyzer, word string) string {
	toks := a.Analyze([]byte(word))
	if len(toks) == 0 {
		return ""
	}
	return string(toks[0].Term)
}

// stem returns the ranked-analysis term of a word.
func (pl *planner) stem(word string) string { return pl.wholeToken(pl.text, word) }

// known reports whether the index holds the surface term in either exact field.
func (pl *planner) known(term string) bool {
	return pl.holds(term, fieldTitleExact, fieldBodyExact)
}

// holds reports whether any of the fields holds term; an error counts as yes,
// so that nothing is corrected on a guess.
func (pl *planner) holds(term string, fields ...string) bool {
	if term == "" {
		return false
	}
	for _, f := range fields {
		tfr, err := pl.r.TermFieldReader(pl.ctx, []byte(term), f, false, false, false)
		if err != nil {
			return true // cannot tell: do not guess corrections
		}
		n := tfr.Count()
		tfr.Close()
		if n > 0 {
			return true
		}
	}
	return false
}

// docFreq returns how many records hold term in field (0 on error).
func (pl *planner) docFreq(term, field string) uint64 {
	tfr, err := pl.r.TermFieldReader(pl.ctx, []byte(term), field, false, false, false)
	if err != nil {
		return 0
	}
	defer tfr.Close()
	return tfr.Count()
}

// candidate is an index term near a typed word.
type candidate struct {
	term  string
	dist  int
	count uint64
}

// typoCandidates returns the index terms within fuzz edits of term (a
// transposition counts as one), closest and most frequent first.
func (pl *planner) typoCandidates(term string, fuzz int) []candidate {
	fr, ok := pl.r.(bleveindex.IndexReaderFuzzy)
	if !ok {
		return nil
	}
	found := map[string]*candidate{}
	for _, f := range []string{fieldTitleExact, fieldBodyExact} {
		d, err := fr.FieldDictFuzzy(f, term, fuzz, "")
		if err != nil {
			continue
		}
		for {
			e, err := d.Next()
			if err != nil || e == nil {
				break
			}
			if e.Term == term {
				continue
			}
			c := found[e.Term]
			if c == nil {
				c = &candidate{term: e.Term, dist: int(e.EditDistance)}
				found[e.Term] = c
			}
			c.count += e.Count
		}
		d.Close()
	}
	out := make([]candidate, 0, len(found))
	for _, c := range found {
		if c.count == 0 { // fuzzy dictionaries do not always carry counts
			c.count = pl.docFreq(c.term, fieldTitleExact) + pl.docFreq(c.term, fieldBodyExact)
		}
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b candidate) int {
		if a.dist != b.dist {
			return a.dist - b.dist
		}
		if a.count != b.count {
			if a.count > b.count {
				return -1
			}
			return 1
		}
		return strings.Compare(a.term, b.term)
	})
	if len(out) > 0 {
		// only the closest distance: "djnago" wants "django", not also words two edits away
		n := 0
		for n < len(out) && out[n].dist == out[0].dist {
			n++
		}
		out = out[:n]
	}
	return out[:min(len(out), maxTypoCandidates)]
}

// completions returns the most frequent index terms that start with prefix.
func (pl *planner) completions(prefix string) []string {
	return pl.prefixed(prefix, func(term string) bool { return term != prefix })
}

// fuzzyCompletions returns the most frequent index terms that begin within one
// typo of prefix ("djnag" → "django"); the first two characters must be right.
func (pl *planner) fuzzyCompletions(prefix string) []string {
	runes := []rune(prefix)
	if len(runes) < 3 {
		return nil
	}
	return pl.prefixed(string(runes[:2]), func(term string) bool {
		t := []rune(term)
		if len(t) < len(runes) || term == prefix {
			return false
		}
		return osaDistance(runes, t[:len(runes)]) <= 1 || osaDistance(runes, t[:min(len(t), len(runes)+1)]) <= 1
	})
}

// prefixed returns the most frequent terms of the exact fields that begin with
// prefix and that keep accepts, reading at most maxPrefixScan terms per field.
func (pl *planner) prefixed(prefix string, keep func(term string) bool) []string {
	counts := map[string]uint64{}
	for _, f := range []string{fieldTitleExact, fieldBodyExact} {
		d, err := pl.r.FieldDictPrefix(f, []byte(prefix))
		if err != nil {
			continue
		}
		for n := 0; n < maxPrefixScan; n++ {
			e, err := d.Next()
			if err != nil || e == nil {
				break
			}
			if keep(e.Term) {
				counts[e.Term] += e.Count
			}
		}
		d.Close()
	}
	return topByCount(counts, maxCompletions)
}

// osaDistance is the optimal string alignment distance: insertions, deletions,
// substitutions and transpositions of neighbours each cost one.
func osaDistance(a, b []rune) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// topByCount returns up to n keys with the highest counts (ties in order).
func topByCount(counts map[string]uint64, n int) []string {
	out := make([]string, 0, len(counts))
	for t := range counts {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b string) int {
		if counts[a] != counts[b] {
			if counts[a] > counts[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return out[:min(len(out), n)]
}

// excludeQuery matches any of the excluded words or phrases.
func excludeQuery(alts []queryAlt) query.Query {
	var qs []query.Query
	for _, a := range alts {
		for _, f := range []string{fieldTitleExact, fieldBodyExact} {
			if a.phrase {
				m := query.NewMatchPhraseQuery(a.text)
				m.SetField(f)
				qs = append(qs, m)
			} else {
				m := query.NewMatchQuery(a.text)
				m.SetField(f)
				qs = append(qs, m)
			}
		}
	}
	return query.NewDisjunctionQuery(qs)
}

// correctText rewrites the typed text with each corrected word replaced,
// keeping the punctuation around it.
func correctText(text string, fixes map[string]string) string {
	words := strings.Fields(text)
	for i, w := range words {
		if c, ok := fixes[w]; ok {
			words[i] = c
			continue
		}
		core := strings.TrimLeft(strings.TrimRight(w, ".,;:!?)"), "(")
		if c, ok := fixes[core]; ok && core != "" {
			words[i] = strings.Replace(w, core, c, 1)
		}
	}
	return strings.Join(words, " ")
}

// maxPhraseWords is the longest taxonomy name looked up ("ruby on rails").
const maxPhraseWords = 3

// understand finds the taxonomy names in a query, longest first: "ruby on
// rails caching" names Ruby on Rails and the performance topic.
func understand(text string, tax *corpus.Taxonomy) []AppliedFilter {
	if tax == nil {
		return nil
	}
	words := strings.Fields(text)
	var out []AppliedFilter
	seen := map[string]bool{}
	for i := 0; i < len(words); {
		n := min(maxPhraseWords, len(words)-i)
		for ; n > 0; n-- {
			phrase := strings.Join(words[i:i+n], " ")
			entries := tax.Lookup(phrase)
			if len(entries) == 0 {
				continue
			}
			for _, e := range entries {
				key := e.Field + "\x00" + e.Name
				if !seen[key] {
					seen[key] = true
					out = append(out, AppliedFilter{Field: e.Field, Value: e.Name, Matched: phrase})
				}
			}
			break
		}
		i += max(n, 1)
	}
	return out
}
