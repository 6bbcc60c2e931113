package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxJSONLLine is the longest JSONL line ReadJSONL accepts; a longer line is a record error.
const MaxJSONLLine = 8 << 20

// ReadJSONL reads documents from JSON Lines, one object per line, streaming: it holds one line at a
// time. Keys:
//
//   - id or _id: a string or a number, required; it must not hold "/", "#", "?", "%" or whitespace;
//   - title; body or text (body wins when both are set); at least one of title and body. A record
//     without a title (BEIR's Quora, ArguAna) is titled with the first words of its body;
//   - url, page: optional;
//   - type: "section" (the default) or "faq";
//   - languages, frameworks, databases, topics: a list of strings or a single string. Declared facets
//     are kept; the taxonomy fills the others;
//   - any other key (BEIR's "metadata") is ignored.
//
// So a BEIR corpus.jsonl ({"_id", "title", "text", "metadata"}) loads as it is. Empty lines are
// skipped. A malformed line yields a *RecordError with its line number and reading goes on; a read
// error yields a *RecordError and ends the sequence.
func ReadJSONL(path string, r io.Reader) iter.Seq2[Document, error] {
	return func(yield func(Document, error) bool) {
		br := bufio.NewReaderSize(r, 64<<10)
		var buf []byte
		for lineNo := 1; ; lineNo++ {
			var tooLong bool
			var err error
			buf, tooLong, err = readLine(br, buf[:0])
			if err != nil && err != io.EOF {
				yield(Document{}, &RecordError{Path: path, Line: lineNo, Err: fmt.Errorf("read: %w", err)})
				return
			}
			line := bytes.TrimSpace(buf)
			if lineNo == 1 {
				line = bytes.TrimPrefix(line, []byte("\uFEFF"))
			}
			switch {
			case tooLong:
				if !yield(Document{}, &RecordError{Path: path, Line: lineNo, Err: fmt.Errorf("line longer than %d bytes", MaxJSONLLine)}) {
					return
				}
			case len(line) > 0:
				doc, perr := parseJSONLRecord(line)
				if perr != nil {
					if !yield(Document{}, &RecordError{Path: path, Line: lineNo, Err: perr}) {
						return
					}
				} else if !yield(doc, nil) {
					return
				}
			}
			if err == io.EOF {
				return
			}
		}
	}
}

// readLine appends the next line of br to buf, without holding more than MaxJSONLLine bytes of it:
// the rest of a longer line is read and dropped, and tooLong is set. err is io.EOF after the last line.
func readLine(br *bufio.Reader, buf []byte) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > MaxJSONLLine+1 { // +1: the newline
				tooLong, buf = true, buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		if err != bufio.ErrBufferFull {
			return buf, tooLong, err
		}
	}
}

// jsonlRecord is one JSONL line as it is written.
type jsonlRecord struct {
	ID         json.RawMessage `json:"id"`
	AltID      json.RawMessage `json:"_id"`
	Title      string          `json:"title"`
	Body       string          `json:"body"`
	Text       string          `json:"text"`
	URL        string          `json:"url"`
	Page       string          `json:"page"`
	Type       string          `json:"type"`
	Languages  facetValues     `json:"languages"`
	Frameworks facetValues     `json:"frameworks"`
	Databases  facetValues     `json:"databases"`
	Topics     facetValues     `json:"topics"`
}

// parseJSONLRecord turns one JSONL line into a Document.
func parseJSONLRecord(line []byte) (Document, error) {
	if line[0] != '{' {
		return Document{}, errors.New("not a JSON object")
	}
	var rec jsonlRecord
	if err := json.Unmarshal(line, &rec); err != nil {
		return Document{}, fmt.Errorf("parse JSON: %w", err)
	}
	raw := rec.ID
	if len(raw) == 0 || string(raw) == "null" {
		raw = rec.AltID
	}
	id, err := jsonID(raw)
	if err != nil {
		return Document{}, err
	}
	body := rec.Body
	if body == "" {
		body = rec.Text
	}
	title := rec.Title
	switch {
	case strings.TrimSpace(title) == "" && strings.TrimSpace(body) == "":
		return Document{}, fmt.Errorf("record %s has neither title nor body", id)
	case strings.TrimSpace(title) == "":
		title = titleFromBody(body)
	}
	typ := rec.Type
	switch typ {
	case "":
		typ = TypeSection
	case TypeSection, TypeFAQ:
	default:
		return Document{}, fmt.Errorf("record %s: type %q is neither %q nor %q", id, typ, TypeSection, TypeFAQ)
	}
	return Document{
		ID: id, Title: title, URL: rec.URL, Page: rec.Page, Type: typ, Body: body,
		Languages: rec.Languages, Frameworks: rec.Frameworks, Databases: rec.Databases, Topics: rec.Topics,
	}, nil
}

// jsonID reads an id given as a string or a number; a number keeps its JSON spelling.
func jsonID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", errors.New(`no "id" or "_id"`)
	}
	var id string
	switch c := raw[0]; {
	case c == '"':
		if err := json.Unmarshal(raw, &id); err != nil {
			return "", fmt.Errorf("id: %w", err)
		}
	case c == '-' || '0' <= c && c <= '9':
		id = string(raw)
	default:
		return "", fmt.Errorf("id %s is neither a string nor a number", raw)
	}
	if id == "" {
		return "", errors.New("empty id")
	}
	if i := strings.IndexFunc(id, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("/#?%", r)
	}); i >= 0 {
		r, _ := utf8.DecodeRuneInString(id[i:])
		return "", fmt.Errorf("id %q holds %q (ids go in URL paths)", id, string(r))
	}
	return id, nil
}

// facetValues reads a facet given as a list of strings or a single string.
type facetValues []string

// UnmarshalJSON accepts null, "value" or ["value", ...].
func (f *facetValues) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		*f = nil
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = nil
		if s = strings.TrimSpace(s); s != "" {
			*f = facetValues{s}
		}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("a facet must be a string or a list of strings")
	}
	*f = nil
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			*f = append(*f, s)
		}
	}
	return nil
}

// maxDerivedTitle bounds a title taken from a body, in bytes.
const maxDerivedTitle = 80

// titleFromBody returns the first words of body, at most maxDerivedTitle bytes and cut at a word,
// with "…" when words were left out.
func titleFromBody(body string) string {
	words := strings.Fields(body)
	title := ""
	for i, w := range words {
		if i > 0 && len(title)+1+len(w) > maxDerivedTitle {
			return title + "…"
		}
		if i > 0 {
			title += " "
		}
		title += w
	}
	if len(title) > maxDerivedTitle { // one very long word
		cut := maxDerivedTitle
		for cut > 0 && !utf8.RuneStart(title[cut]) {
			cut--
		}
		return title[:cut] + "…"
	}
	return title
}
