package corpus

import (
	"unicode"
	"unicode/utf8"
)

// token is one word of a text, as byte offsets into it. Words keep the punctuation that belongs to
// technology names: inner dots ("Node.js", "ASP.NET", "3.12"), a leading dot (".NET") and trailing
// "#" or "+" ("C#", "C++"). Hyphens, slashes and apostrophes split words, so "server-side" is two.
type token struct {
	start, end int
	// sentenceStart is set for the first word of a sentence, a line or a list item, where a capital
	// letter says nothing about whether the word is a name.
	sentenceStart bool
}

// abbreviations end in a dot that does not end the sentence.
var abbreviations = map[string]bool{"e.g": true, "i.e": true, "etc": true, "vs": true, "cf": true, "approx": true}

// tokenize appends the words of s to dst[:0].
func tokenize(s string, dst []token) []token {
	dst = dst[:0]
	boundary := true
	for i := 0; i < len(s); {
		if isWordAt(s, i) || isLeadingDot(s, i) {
			start := i
			if s[i] == '.' {
				i++
			}
			i = scanWord(s, i)
			for i+1 < len(s) && s[i] == '.' && isWordAt(s, i+1) {
				i = scanWord(s, i+1)
			}
			j := i
			for j < len(s) && (s[j] == '+' || s[j] == '#') {
				j++
			}
			if j > i && (j == len(s) || !isWordAt(s, j)) {
				i = j
			}
			dst = append(dst, token{start: start, end: i, sentenceStart: boundary})
			boundary = false
			continue
		}
		c := s[i]
		switch {
		case c == '\n':
			boundary = true
		case c == '.' || c == '!' || c == '?' || c == ':':
			if c != '.' || len(dst) == 0 || dst[len(dst)-1].end != i || !endsAbbreviation(s, dst[len(dst)-1]) {
				boundary = true
			}
		case c >= utf8.RuneSelf, c == ' ', c == '\t', c == '\r', c == '"', c == '\'', c == '(', c == '[',
			c == '{', c == '-', c == '*', c == '>', c == '#', c == '|', c == '`', c == '~':
			// Spaces, quotes, opening brackets and list or table markers neither end a sentence
			// nor continue one.
		default:
			boundary = false
		}
		if c < utf8.RuneSelf {
			i++
		} else {
			_, n := utf8.DecodeRuneInString(s[i:])
			i += n
		}
	}
	return dst
}

// endsAbbreviation reports whether t is an abbreviation or an initial, whose dot ends no sentence.
func endsAbbreviation(s string, t token) bool {
	w := s[t.start:t.end]
	if utf8.RuneCountInString(w) == 1 {
		return true
	}
	if len(w) > 6 {
		return false
	}
	var buf [6]byte
	return abbreviations[string(lowerASCII(buf[:0], w))]
}

// scanWord returns the end of the run of word characters starting at i.
func scanWord(s string, i int) int {
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if !isASCIIWord(c) {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isWordRune(r) {
			return i
		}
		i += n
	}
	return i
}

// isLeadingDot reports whether s[i] is the dot of a name like ".NET": a dot before a letter and
// after something that is not a word.
func isLeadingDot(s string, i int) bool {
	if s[i] != '.' || i+1 >= len(s) || !isASCIILetter(s[i+1]) {
		return false
	}
	if i == 0 {
		return true
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return r != '.' && !isWordRune(r)
}

func isWordAt(s string, i int) bool {
	c := s[i]
	if c < utf8.RuneSelf {
		return isASCIIWord(c)
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return isWordRune(r)
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return isASCIIWord(byte(r))
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

func isASCIIWord(c byte) bool {
	return isASCIILetter(c) || '0' <= c && c <= '9' || c == '_'
}

func isASCIILetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// lowerASCII appends s to dst with ASCII letters lowered. Other bytes are kept, so offsets into s stay
// valid in the result.
func lowerASCII(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// normalizePhrase returns the words of s lowered and joined by single spaces: the form every alias,
// keyword and looked-up phrase is compared in.
func normalizePhrase(s string) string {
	toks := tokenize(s, nil)
	var b []byte
	for i, t := range toks {
		if i > 0 {
			b = append(b, ' ')
		}
		b = lowerASCII(b, s[t.start:t.end])
	}
	return string(b)
}

// isTitleCase reports whether most longer words of s start with a capital, as in "Where To Go From
// Here": in such a title a capital says nothing about whether a word is a name.
func isTitleCase(s string, toks []token) bool {
	long, capital := 0, 0
	for _, t := range toks {
		if t.end-t.start < 4 {
			continue
		}
		r, _ := utf8.DecodeRuneInString(s[t.start:])
		if !unicode.IsLetter(r) {
			continue
		}
		long++
		if unicode.IsUpper(r) {
			capital++
		}
	}
	return long >= 2 && capital*4 >= long*3
}
