package index

import (
	"html"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/search"
)

// Highlighting works from the term locations Bleve returns with a hit, on the
// stored text: cheaper than Bleve's highlighter, and it picks the passage with
// the most distinct matched words rather than the first one.

const (
	markOpen  = "<mark>"
	markClose = "</mark>"
	// snippetBytes is the target length of a snippet.
	snippetBytes = 220
	// snippetLead is how much text a snippet keeps before its first match.
	snippetLead = 60
)

// span is one matched term in a field's text, in bytes.
type span struct {
	start, end int
	term       string
}

// highlightHit returns the highlights of a hit's title and body and its snippet.
func highlightHit(title, body string, locs search.FieldTermLocationMap) ([]Highlight, string) {
	var hl []Highlight
	if spans := spansOf(locs[fieldTitle], len(title)); len(spans) > 0 {
		hl = append(hl, Highlight{Field: fieldTitle, Fragments: []string{mark(title, spans)}})
	}
	spans := spansOf(locs[fieldBody], len(body))
	if len(spans) == 0 {
		return hl, lead(body)
	}
	start, end := bestWindow(body, spans)
	snippet := mark(body[start:end], shift(spans, start, end))
	if start > 0 {
		snippet = "…" + snippet
	}
	if end < len(body) {
		snippet += "…"
	}
	hl = append(hl, Highlight{Field: fieldBody, Fragments: []string{snippet}})
	return hl, snippet
}

// spansOf flattens a field's term locations into sorted, non-overlapping spans
// that lie within a text of n bytes.
func spansOf(tl search.TermLocationMap, n int) []span {
	var out []span
	for term, locs := range tl {
		for _, l := range locs {
			s, e := int(l.Start), int(l.End)
			if s < 0 || e > n || s >= e {
				continue
			}
			out = append(out, span{start: s, end: e, term: term})
		}
	}
	slices.SortFunc(out, func(a, b span) int { return a.start - b.start })
	// drop overlaps (a synonym or fuzzy term at the same place as another)
	kept := out[:0]
	for _, s := range out {
		if len(kept) > 0 && s.start < kept[len(kept)-1].end {
			continue
		}
		kept = append(kept, s)
	}
	return kept
}

// bestWindow picks the stretch of text of about snippetBytes holding the most
// distinct matched terms (ties: the earliest), snapped to word boundaries.
func bestWindow(text string, spans []span) (int, int) {
	best, bestScore := 0, -1
	for i := range spans {
		seen := map[string]bool{}
		score := 0
		for j := i; j < len(spans) && spans[j].end-spans[i].start <= snippetBytes-snippetLead; j++ {
			if !seen[spans[j].term] {
				seen[spans[j].term] = true
				score += 10
			}
			score++
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	start := spans[best].start - snippetLead
	if start <= 0 {
		start = 0
	} else {
		// begin at a sentence start if one is near, else at a word start
		if k := strings.LastIndex(text[start:spans[best].start], ". "); k >= 0 {
			start += k + 2
		} else {
			start = wordStart(text, start)
		}
	}
	end := start + snippetBytes
	if end >= len(text) {
		return start, len(text)
	}
	return start, wordEnd(text, end)
}

// wordStart moves i forward to the start of the next word.
func wordStart(text string, i int) int {
	for i < len(text) && text[i] != ' ' && text[i] != '\n' {
		i++
	}
	for i < len(text) && (text[i] == ' ' || text[i] == '\n') {
		i++
	}
	return i
}

// wordEnd moves i back to the end of the previous word, never splitting a rune.
func wordEnd(text string, i int) int {
	j := i
	for j > 0 && text[j-1] != ' ' && text[j-1] != '\n' {
		j--
	}
	if j > 0 {
		return len(strings.TrimRight(text[:j], " \n"))
	}
	for i < len(text) && !utf8.RuneStart(text[i]) {
		i++
	}
	return i
}

// shift returns the spans lying within [start, end), relative to start.
func shift(spans []span, start, end int) []span {
	var out []span
	for _, s := range spans {
		if s.start >= start && s.end <= end {
			out = append(out, span{start: s.start - start, end: s.end - start, term: s.term})
		}
	}
	return out
}

// mark HTML-escapes text and wraps each span in <mark>.
func mark(text string, spans []span) string {
	var b strings.Builder
	b.Grow(len(text) + len(spans)*(len(markOpen)+len(markClose)) + 16)
	at := 0
	for _, s := range spans {
		b.WriteString(html.EscapeString(text[at:s.start]))
		b.WriteString(markOpen)
		b.WriteString(html.EscapeString(text[s.start:s.end]))
		b.WriteString(markClose)
		at = s.end
	}
	b.WriteString(html.EscapeString(text[at:]))
	return b.String()
}

// lead returns the start of a text as an escaped snippet, for hits without a
// match in the body.
func lead(text string) string {
	if len(text) <= snippetBytes {
		return html.EscapeString(text)
	}
	return html.EscapeString(text[:wordEnd(text, snippetBytes)]) + "…"
}
