package index

import (
	"context"
	"fmt"
	"html"
	"strings"
	"unicode/utf8"

	"github.com/stacksearch/stacksearch/corpus"
)

// Suggestion is a completion of the typed query, or a matching record title.
type Suggestion struct {
	// Text is the suggested query or the title.
	Text string
	// HTML is Text escaped, with the completed part or the matches in <mark>.
	HTML string
	// Kind is "query" or "title".
	Kind string
	// ID and URL name the record of a title suggestion.
	ID, URL string
}

// MaxSuggestions is the most suggestions one call returns.
const MaxSuggestions = 20

// Suggest completes the last word being typed from the index's own words
// (tolerating a typo in it) and proposes the titles of the best matching
// records. It is meant for every keystroke, so it reads dictionaries and one
// small page of hits, nothing more.
//
// Filters (as in Request) restrict the titles; with any filter set, only
// titles are suggested, since completions come from the whole index's words.
func (l *Live) Suggest(ctx context.Context, text string, size int, filters map[string][]string) ([]Suggestion, error) {
	if size < 1 || size > MaxSuggestions {
		return nil, &FieldError{Field: "page_size", Reason: fmt.Sprintf("must be between 1 and %d", MaxSuggestions)}
	}
	ix, release, err := l.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	filters, err = normaliseFilters(filters, l.tax)
	if err != nil {
		return nil, err
	}
	return ix.suggest(ctx, text, size, filters, l.tax, l.tune)
}

func (ix *Index) suggest(ctx context.Context, text string, size int, filters map[string][]string, tax *corpus.Taxonomy, tune Tuning) ([]Suggestion, error) {
	words := strings.Fields(text)
	if len(words) == 0 {
		return []Suggestion{}, nil
	}
	r, err := ix.reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	pl := &planner{ctx: ctx, r: r, tune: tune, text: analyzers().text, exact: analyzers().exact}
	var out []Suggestion
	typing := !strings.HasSuffix(text, " ") && len(filters) == 0
	if typing {
		last := words[len(words)-1]
		head := strings.Join(words[:len(words)-1], " ")
		if head != "" {
			head += " "
		}
		surface := pl.wholeToken(pl.exact, last)
		seen := map[string]bool{}
		add := func(word string) {
			if seen[word] || len(out) >= (size+1)/2 {
				return
			}
			seen[word] = true
			typed := ""
			if strings.HasPrefix(word, strings.ToLower(last)) {
				typed = word[:len(last)]
			}
			out = append(out, Suggestion{
				Text: head + word,
				HTML: html.EscapeString(head+typed) + markOpen + html.EscapeString(word[len(typed):]) + markClose,
				Kind: "query",
			})
		}
		if utf8.RuneCountInString(surface) >= minPrefixLen {
			if pl.known(surface) {
				add(surface)
			}
			for _, c := range pl.completions(surface) {
				add(c)
			}
			if n := utf8.RuneCountInString(surface); n >= tune.TypoMin1 && len(out) < (size+1)/2 {
				for _, c := range pl.fuzzyCompletions(surface) {
					add(c)
				}
			}
		}
	}

	// titles of the best matching records, for the best completion if any
	// (taken as a finished word: it is not completed again)
	if len(out) > 0 {
		text = out[0].Text + " "
	}
	p := buildPlan(ctx, r, text, tax, tune, true, ix.lengths.averages())
	hits, _, _, err := ix.collect(ctx, r, withFilters(p.query, filters, ""), size-len(out), []string{"-_score"}, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("suggest: %w", err)
	}
	for _, dm := range hits {
		d, err := ix.loadHit(r, dm.ID)
		if err != nil {
			return nil, err
		}
		htmlTitle := html.EscapeString(d.Title)
		if spans := p.marks.spans(d.Title); len(spans) > 0 {
			htmlTitle = mark(d.Title, spans)
		}
		out = append(out, Suggestion{Text: d.Title, HTML: htmlTitle, Kind: "title", ID: dm.ID, URL: d.URL})
	}
	return out, nil
}
