package index

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The query syntax of the search box. Nothing in it is an error: what does not
// parse as syntax is searched as plain words.
//
//	word              a word; words are ORed and ranked, records matching more rank higher
//	"exact phrase"    the words in this order (an unclosed quote is plain words)
//	-word, -"phrase"  records containing it are left out
//	a OR b            either a or b, counted as one word of the query
//	field:value       a filter on a facet: languages, frameworks, databases,
//	                  topics or type (singular forms and lang, framework, db,
//	                  topic work too); field:"two words" for spaces

// parsedQuery is the structure of a typed query.
type parsedQuery struct {
	// groups are the query's words; each group is one word or phrase, or
	// several joined by OR.
	groups []queryGroup
	// excludes must not match.
	excludes []queryAlt
	// filters come from field:value terms.
	filters map[string][]string
	// prefix is set when the last group is a plain word still being typed:
	// the query does not end with a space.
	prefix bool
}

// queryGroup is one word or phrase of a query, or several joined by OR.
type queryGroup struct {
	alts []queryAlt
}

// queryAlt is a word or a quoted phrase.
type queryAlt struct {
	text   string
	phrase bool
}

// filterFields maps the field names accepted in field:value to facet names.
var filterFields = map[string]string{
	"languages": "languages", "language": "languages", "lang": "languages",
	"frameworks": "frameworks", "framework": "frameworks",
	"databases": "databases", "database": "databases", "db": "databases",
	"topics": "topics", "topic": "topics",
	"types": "types", "type": "types",
}

// maxQueryItems bounds the items parsed from one query; longer queries are
// truncated to it (request limits reject much longer ones before this).
const maxQueryItems = 256

// parseQuery parses the search-box syntax. It never fails.
func parseQuery(s string) parsedQuery {
	var q parsedQuery
	type item struct {
		alt     queryAlt
		exclude bool
		or      bool // the literal OR
	}
	var items []item
	i := 0
	for i < len(s) && len(items) < maxQueryItems {
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			i += size
			continue
		}
		exclude := false
		if r == '-' && i+1 < len(s) && !isSpaceByte(s[i+1]) && s[i+1] != '-' {
			exclude = true
			i++
		}
		if s[i] == '"' {
			if end := strings.IndexByte(s[i+1:], '"'); end >= 0 {
				phrase := strings.TrimSpace(s[i+1 : i+1+end])
				i += end + 2
				if phrase != "" {
					items = append(items, item{alt: queryAlt{text: phrase, phrase: true}, exclude: exclude})
				}
				continue
			}
			i++ // an unclosed quote: the rest is plain words
			continue
		}
		j := i
		for j < len(s) {
			r, size := utf8.DecodeRuneInString(s[j:])
			if unicode.IsSpace(r) {
				break
			}
			j += size
		}
		word := s[i:j]
		i = j
		if word == "OR" && !exclude {
			items = append(items, item{or: true})
			continue
		}
		if name, value, ok := strings.Cut(word, ":"); ok && !exclude {
			if facet, known := filterFields[strings.ToLower(name)]; known {
				if strings.HasPrefix(value, `"`) {
					// field:"two words": the value runs to the closing quote
					open := j - len(value) // index of the opening quote in s
					if end := strings.IndexByte(s[open+1:], '"'); end >= 0 {
						value = s[open+1 : open+1+end]
						i = open + end + 2
					} else {
						value = strings.Trim(value, `"`)
					}
				}
				if value = strings.TrimSpace(value); value != "" {
					if q.filters == nil {
						q.filters = map[string][]string{}
					}
					q.filters[facet] = append(q.filters[facet], value)
					continue
				}
			}
		}
		items = append(items, item{alt: queryAlt{text: word}, exclude: exclude})
	}

	// join a OR b into one group; a stray OR is a plain word
	for k := 0; k < len(items); k++ {
		it := items[k]
		switch {
		case it.exclude:
			q.excludes = append(q.excludes, it.alt)
		case it.or:
			if len(q.groups) > 0 && k+1 < len(items) && !items[k+1].or && !items[k+1].exclude {
				last := &q.groups[len(q.groups)-1]
				last.alts = append(last.alts, items[k+1].alt)
				k++
			} else {
				q.groups = append(q.groups, queryGroup{alts: []queryAlt{{text: "or"}}})
			}
		default:
			q.groups = append(q.groups, queryGroup{alts: []queryAlt{it.alt}})
		}
	}
	if n := len(q.groups); n > 0 && len(s) > 0 && !unicode.IsSpace(rune(s[len(s)-1])) {
		g := q.groups[n-1]
		last := items[len(items)-1]
		q.prefix = len(g.alts) == 1 && !g.alts[0].phrase && !last.exclude && !last.or && last.alt == g.alts[0]
	}
	return q
}

func isSpaceByte(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }
