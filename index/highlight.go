package index

import (
	"bytes"
	"html"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/go-porterstemmer"
)

// Highlighting re-analyses the stored title and body of the few hits on a page
// and marks the words the query matched (their stems, and their exact forms
// for phrases, typo corrections and completions). That is cheaper than asking
// Bleve for term locations of every match, and the snippet is the passage with
// the most distinct matched words rather than the first one.

const (
	markOpen  = "<mark>"
	markClose = "</mark>"
	// snippetBytes is the target length of a snippet.
	snippetBytes = 220
	// snippetLead is how much text a snippet keeps before its first match.
	snippetLead = 60
	// maxHighlightBytes bounds how much of a body is searched for a snippet.
	maxHighlightBytes = 32 << 10
)

// span is one matched word in a field's text, in bytes.
type span struct {
	start, end int
	term       string
}

// highlightHit returns the highlights of a hit's title and body and its snippet.
func highlightHit(title, body string, mk marks) ([]Highlight, string) {
	var hl []Highlight
	if spans := mk.spans(title); len(spans) > 0 {
		hl = append(hl, Highlight{Field: fieldTitle, Fragments: []string{mark(title, spans)}})
	}
	text := body
	if len(text) > maxHighlightBytes {
		text = text[:wordEnd(text, maxHighlightBytes)]
	}
	spans := mk.spans(text)
	if len(spans) == 0 {
		return hl, lead(body)
	}
	start, end := bestWindow(text, spans)
	snippet := mark(text[start:end], shift(spans, start, end))
	if start > 0 {
		snippet = "…" + snippet
	}
	if end < len(body) {
		snippet += "…"
	}
	hl = append(hl, Highlight{Field: fieldBody, Fragments: []string{snippet}})
	return hl, snippet
}

// spans finds the marked words in text: sorted, without overlaps (the longer
// of two overlapping words wins: "Node.js" over "Node").
func (mk marks) spans(text string) []span {
	if len(mk.exact) == 0 && len(mk.stems) == 0 && len(mk.phrases) == 0 {
		return nil
	}
	var out []span
	// one analysis: the ranked analysis is the exact one without stop words
	// (never marked) and stemmed, so each exact term is stemmed here instead
	exact := analyzers().exact.Analyze([]byte(text))
	stems := map[string]string{} // a text repeats its words: stem each once
	for _, t := range exact {
		term := string(t.Term)
		if mk.exact[term] {
			out = append(out, span{t.Start, t.End, term})
			continue
		}
		if len(mk.stems) == 0 {
			continue
		}
		stem, ok := stems[term]
		if !ok {
			stem = stemOf(t)
			stems[term] = stem
		}
		if mk.stems[stem] {
			out = append(out, span{t.Start, t.End, term})
		}
	}
	if len(mk.phrases) > 0 {
		// one term per position: a compound's parts share the position of the whole
		var seq []*analysis.Token
		for _, t := range exact {
			if len(seq) == 0 || t.Position != seq[len(seq)-1].Position {
				seq = append(seq, t)
			}
		}
		for _, ph := range mk.phrases {
			for i := 0; i+len(ph) <= len(seq); i++ {
				match := len(ph) > 0
				for k, w := range ph {
					if string(seq[i+k].Term) != w {
						match = false
						break
					}
				}
				if match {
					out = append(out, span{seq[i].Start, seq[i+len(ph)-1].End, strings.Join(ph, " ")})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b span) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return b.end - a.end
	})
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

// phraseTerms returns a phrase's exact terms, one per position.
func phraseTerms(a analysis.Analyzer, text string) []string {
	var out []string
	last := -1
	for _, t := range a.Analyze([]byte(text)) {
		if t.Position != last {
			out = append(out, string(t.Term))
			last = t.Position
		}
	}
	return out
}

// stemOf stems a term of the exact analysis as the ranked analysis does.
func stemOf(t *analysis.Token) string {
	if t.KeyWord {
		return string(t.Term)
	}
	return string(porterstemmer.StemWithoutLowerCasing(bytes.Runes(t.Term)))
}
