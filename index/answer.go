package index

import (
	"strings"
)

// Answer is an FAQ record that answers a question typed as a query.
type Answer struct {
	ID, Question, Text, URL string
}

// questionWords start a query worded as a question.
var questionWords = map[string]bool{
	"how": true, "what": true, "why": true, "when": true, "where": true, "which": true, "who": true,
	"can": true, "could": true, "should": true, "is": true, "are": true, "do": true, "does": true,
	"will": true, "would": true,
}

// isQuestion reports whether a query is worded as a question.
func isQuestion(text string) bool {
	text = strings.TrimSpace(text)
	if strings.HasSuffix(text, "?") {
		return true
	}
	first, _, _ := strings.Cut(text, " ")
	return questionWords[strings.ToLower(first)]
}

const (
	// answerTop is how far down the hits an answering FAQ may be.
	answerTop = 3
	// answerCoverage is the share of the question's words (or their synonyms)
	// the FAQ's question must contain when it is the first hit;
	// answerCoverageLower when it ranks below.
	answerCoverage      = 0.5
	answerCoverageLower = 0.75
	// answerBytes bounds the answer text.
	answerBytes = 600
)

// findAnswer picks, for a question, the best-ranked FAQ hit among the first
// few whose question holds most of the words asked.
func findAnswer(p plan, hits []Hit, bodies map[string]string) *Answer {
	if !p.question || len(p.groups) == 0 {
		return nil
	}
	for i, h := range hits {
		if i == answerTop {
			break
		}
		if h.Type != "faq" {
			continue
		}
		title := map[string]bool{}
		for _, t := range analyzers().text.Analyze([]byte(h.Title)) {
			title[string(t.Term)] = true
		}
		covered := 0
		for _, stems := range p.groups {
			for _, s := range stems {
				if title[s] {
					covered++
					break
				}
			}
		}
		need := answerCoverage
		if i > 0 {
			need = answerCoverageLower
		}
		if covered > 0 && float64(covered) >= need*float64(len(p.groups)) {
			return &Answer{ID: h.ID, Question: h.Title, Text: firstParagraph(bodies[h.ID]), URL: h.URL}
		}
	}
	return nil
}

// firstParagraph returns the opening of an answer: its first paragraph, cut at
// a sentence end within answerBytes.
func firstParagraph(body string) string {
	body = strings.TrimSpace(body)
	if i := strings.Index(body, "\n\n"); i > 0 {
		body = body[:i]
	}
	if len(body) <= answerBytes {
		return body
	}
	cut := body[:answerBytes]
	if i := strings.LastIndex(cut, ". "); i > answerBytes/3 {
		return cut[:i+1]
	}
	return cut[:wordEnd(cut, len(cut))] + "…"
}
