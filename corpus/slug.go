package corpus

import (
	"net/url"
	"path"
	"strings"
	"unicode"
)

// anchorSlug returns the anchor GitHub gives a heading: lower case, punctuation dropped, each space
// turned into a hyphen ("1. What Is Back-End?" -> "1-what-is-back-end").
func anchorSlug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r) || r == '_' || r == '-':
			b.WriteRune(r)
		case unicode.IsSpace(r):
			b.WriteByte('-')
		}
	}
	return b.String()
}

// idSafe returns s with every character that does not belong in a URL path segment replaced by a
// hyphen: IDs travel in URL paths, so they never hold "/", "#", "?", "%" or whitespace.
func idSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r) || strings.ContainsRune("-_.~()", r) {
			return r
		}
		return '-'
	}, s)
}

// pathSlug returns an ID prefix for a page URL given in front matter: "/guide/install.html" ->
// "guide-install". It returns "" when the URL has no path.
func pathSlug(rawURL string) string {
	p := rawURL
	if u, err := url.Parse(rawURL); err == nil {
		p = u.Path
	}
	switch strings.ToLower(path.Ext(p)) {
	case ".html", ".htm", ".md", ".markdown", ".php":
		p = strings.TrimSuffix(p, path.Ext(p))
	}
	return anchorSlug(strings.Join(strings.FieldsFunc(p, func(r rune) bool { return r == '/' || unicode.IsSpace(r) }), " "))
}

// fileSlug returns the slug of a file name without its extension, the last resort for a page slug.
func fileSlug(p string) string {
	base := path.Base(strings.ReplaceAll(p, "\\", "/"))
	return anchorSlug(strings.TrimSuffix(base, path.Ext(base)))
}

// fileTitle returns a file name without its directory and extension, the last resort for a page title.
func fileTitle(p string) string {
	base := path.Base(strings.ReplaceAll(p, "\\", "/"))
	return strings.TrimSuffix(base, path.Ext(base))
}
