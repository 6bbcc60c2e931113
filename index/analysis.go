package index

import (
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/token/porter"
	"github.com/blevesearch/bleve/v2/registry"
)

// Analyzer names, registered with Bleve at init so that an index written to
// disk names them and reopens with them.
const (
	// analyzerText splits code-aware words, lowercases, drops English stop
	// words and stems: the ranked text fields.
	analyzerText = "stacksearch_text"
	// analyzerExact is analyzerText without stop words and stemming: the exact
	// copies of the text fields, used for phrases, typo and prefix matching.
	analyzerExact = "stacksearch_exact"
	tokenizerCode = "stacksearch_code"
)

func init() {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(registry.RegisterTokenizer(tokenizerCode, func(map[string]any, *registry.Cache) (analysis.Tokenizer, error) {
		return codeTokenizer{}, nil
	}))
	must(registry.RegisterAnalyzer(analyzerText, func(_ map[string]any, c *registry.Cache) (analysis.Analyzer, error) {
		return newAnalyzer(c, en.PossessiveName, lowercase.Name, en.StopName, porter.Name)
	}))
	must(registry.RegisterAnalyzer(analyzerExact, func(_ map[string]any, c *registry.Cache) (analysis.Analyzer, error) {
		return newAnalyzer(c, en.PossessiveName, lowercase.Name)
	}))
}

func newAnalyzer(c *registry.Cache, filters ...string) (analysis.Analyzer, error) {
	a := &analysis.DefaultAnalyzer{Tokenizer: codeTokenizer{}}
	for _, name := range filters {
		f, err := c.TokenFilterNamed(name)
		if err != nil {
			return nil, err
		}
		a.TokenFilters = append(a.TokenFilters, f)
	}
	return a, nil
}

// codeTokenizer splits text into words the way programmers write them:
//   - "C#", "F#", "C++" are single terms and do not collide with "C";
//   - ".NET", ".gitignore" keep their leading dot (".gitignore" also yields "gitignore", but
//     ".NET" does not yield "NET");
//   - dotted names ("Node.js", "ASP.NET", "os.path") are single terms that
//     also yield their parts ("node", "js"), except that nothing yields "net";
//   - hyphenated and snake_case words ("back-end", "snake_case") yield the
//     joined word ("backend") and their parts ("back", "end"), so "backend",
//     "back-end" and "back end" all meet.
//
// Terms holding '.', '#' or '+' are marked as keywords so that no stemmer
// touches them. Parts take consecutive positions, so phrases still match.
type codeTokenizer struct{}

// Tokenize implements analysis.Tokenizer.
func (codeTokenizer) Tokenize(in []byte) analysis.TokenStream {
	var out analysis.TokenStream
	pos := 1
	for i := 0; i < len(in); {
		r, size := utf8.DecodeRune(in[i:])
		leadingDot := r == '.' && (i == 0 || !isWordByte(in, i-1)) && i+1 < len(in) && isLetterAt(in, i+1)
		if !isWordRune(r) && !leadingDot {
			i += size
			continue
		}
		end, parts, joiner := scanCompound(in, i)
		pos = emit(&out, in, i, end, parts, joiner, pos)
		i = end
	}
	return out
}

// span of one part of a compound, in bytes.
type part struct{ start, end int }

// scanCompound reads the compound word starting at i and returns where it
// ends, its parts, and the connector joining them ('.', '-' or 0 for a plain
// word; '.' wins when both occur).
func scanCompound(in []byte, i int) (int, []part, byte) {
	j := i
	if in[j] == '.' {
		j++
	}
	var parts []part
	var joiner byte
	start := j
	for {
		// a run of word runes, apostrophes inside a word included ("don't")
		for j < len(in) {
			r, size := utf8.DecodeRune(in[j:])
			if isWordRune(r) {
				j += size
				continue
			}
			if (r == '\'' || r == '’') && j+size < len(in) && isLetterAt(in, j+size) && j > start {
				j += size
				continue
			}
			break
		}
		parts = append(parts, part{start, j})
		if j+1 < len(in) && (in[j] == '.' || in[j] == '-' || in[j] == '_') && isWordStart(in, j+1) {
			if in[j] == '.' || joiner == 0 {
				joiner = in[j]
				if joiner == '_' {
					joiner = '-'
				}
			}
			j++
			start = j
			continue
		}
		break
	}
	// C#, F#, C++: a symbol suffix after letters, not followed by a word
	if len(parts) == 1 && j < len(in) && isLetterAt(in, j-1) {
		switch {
		case in[j] == '#' && !isWordStart(in, j+1):
			return j + 1, parts, '#'
		case j+1 < len(in) && in[j] == '+' && in[j+1] == '+' && !isWordStart(in, j+2):
			return j + 2, parts, '#'
		}
	}
	return j, parts, joiner
}

// emit appends the tokens of the compound in[start:end] and returns the next position.
func emit(out *analysis.TokenStream, in []byte, start, end int, parts []part, joiner byte, pos int) int {
	tok := func(term []byte, s, e, p int, keyword bool) {
		*out = append(*out, &analysis.Token{Term: term, Start: s, End: e, Position: p, Type: analysis.AlphaNumeric, KeyWord: keyword})
	}
	leadingDot := in[start] == '.'
	switch {
	case joiner == '#':
		tok(clone(in[start:end]), start, end, pos, true)
		return pos + 1
	case len(parts) == 1 && !leadingDot:
		tok(clone(in[start:end]), start, end, pos, false)
		return pos + 1
	case joiner == '-' && !leadingDot:
		joined := make([]byte, 0, end-start)
		for _, p := range parts {
			joined = append(joined, in[p.start:p.end]...)
		}
		tok(joined, start, end, pos, false)
	default: // dotted: keep the whole
		tok(clone(in[start:end]), start, end, pos, true)
	}
	if leadingDot && len(parts) == 1 {
		// ".gitignore" also yields "gitignore"; ".net" stays apart from "net"
		if p := parts[0]; p.end-p.start >= 4 {
			tok(clone(in[p.start:p.end]), p.start, p.end, pos, false)
		}
		return pos + 1
	}
	dotNet := joiner == '.' && len(parts) > 1 && isNet(in[parts[len(parts)-1].start:parts[len(parts)-1].end])
	for k, p := range parts {
		if p.end-p.start < 2 || (dotNet && k == len(parts)-1) {
			continue
		}
		tok(clone(in[p.start:p.end]), p.start, p.end, pos+k, false)
	}
	return pos + len(parts)
}

func isNet(b []byte) bool {
	return len(b) == 3 && (b[0]|0x20) == 'n' && (b[1]|0x20) == 'e' && (b[2]|0x20) == 't'
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// isWordStart reports whether a word rune starts at in[i].
func isWordStart(in []byte, i int) bool {
	if i >= len(in) {
		return false
	}
	r, _ := utf8.DecodeRune(in[i:])
	return isWordRune(r)
}

func isLetterAt(in []byte, i int) bool {
	if i < 0 || i >= len(in) {
		return false
	}
	r, _ := utf8.DecodeRune(in[i:])
	return unicode.IsLetter(r)
}

// isWordByte reports whether the rune ending at in[i] is a word rune.
func isWordByte(in []byte, i int) bool {
	r, _ := utf8.DecodeLastRune(in[:i+1])
	return isWordRune(r)
}
