package corpus

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

func TestReadJSONL(t *testing.T) {
	input := strings.Join([]string{
		`{"id": "a1", "title": "Install", "body": "Run the installer.", "url": "/install#a1", "page": "Guide", "type": "section", "languages": ["go", "Rust"], "topics": "deployment"}`,
		`{"_id": 42, "title": "Numeric id", "text": "From a BEIR corpus.", "metadata": {"x": 1}}`,
		``,
		`   `,
		`{"id": "q1", "title": "Why?", "body": "Because.", "text": "ignored when body is set", "type": "faq"}`,
		`{"id": "bad", "title": "x", "type": "page"}`,
		`not json`,
		`{"title": "no id"}`,
		`{"id": "a/b", "title": "slash"}`,
		`{"id": "has space", "title": "space"}`,
		`{"id": "", "title": "empty id"}`,
		`{"id": true, "title": "bool id"}`,
		`{"id": "e1"}`,
		`{"id": "f1", "title": "facet", "languages": {"go": 1}}`,
		`{"id": "t1", "title": "trailing"} {"id": "t2"}`,
		`["an", "array"]`,
		`{"_id": "last", "text": "no trailing newline"}`,
	}, "\n")
	type result struct {
		line int
		doc  string
		err  string
	}
	want := []result{
		{1, "a1|Install|Run the installer.|/install#a1|Guide|section|go,Rust|deployment", ""},
		{2, "42|Numeric id|From a BEIR corpus.|||section||", ""},
		{5, "q1|Why?|Because.|||faq||", ""},
		{6, "", `type "page" is neither`},
		{7, "", "not a JSON object"},
		{8, "", `no "id" or "_id"`},
		{9, "", `holds "/"`},
		{10, "", `holds " "`},
		{11, "", "empty id"},
		{12, "", "neither a string nor a number"},
		{13, "", "neither title nor body"},
		{14, "", "a facet must be a string or a list of strings"},
		{15, "", "parse JSON"},
		{16, "", "not a JSON object"},
		{17, "last|no trailing newline|no trailing newline|||section||", ""}, // titled with its first words
	}
	var got []result
	line := 0
	for doc, err := range ReadJSONL("in.jsonl", strings.NewReader(input)) {
		if err != nil {
			var re *RecordError
			if !errors.As(err, &re) || re.Path != "in.jsonl" {
				t.Fatalf("err = %#v, want a *RecordError for in.jsonl", err)
			}
			got = append(got, result{re.Line, "", err.Error()})
			continue
		}
		line++
		got = append(got, result{0, strings.Join([]string{doc.ID, doc.Title, doc.Body, doc.URL, doc.Page, doc.Type,
			strings.Join(doc.Languages, ","), strings.Join(doc.Topics, ",")}, "|"), ""})
	}
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if w.err != "" {
			if g.line != w.line || !strings.Contains(g.err, w.err) || !strings.HasPrefix(g.err, fmt.Sprintf("in.jsonl:%d: ", w.line)) {
				t.Errorf("result %d = line %d %q, want line %d error holding %q", i, g.line, g.err, w.line, w.err)
			}
			continue
		}
		if g.err != "" || g.doc != w.doc {
			t.Errorf("result %d = %q %q, want %q", i, g.doc, g.err, w.doc)
		}
	}
}

// TestReadJSONLLongLine feeds a line over the limit: it is one record error, and the next line
// still reads.
func TestReadJSONLLongLine(t *testing.T) {
	long := `{"id": "big", "body": "` + strings.Repeat("x", MaxJSONLLine) + `"}`
	input := `{"id": "before", "title": "a"}` + "\n" + long + "\n" + `{"id": "after", "title": "b"}` + "\n"
	var ids, errs []string
	for doc, err := range ReadJSONL("big.jsonl", strings.NewReader(input)) {
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		ids = append(ids, doc.ID)
	}
	if strings.Join(ids, ",") != "before,after" || len(errs) != 1 || !strings.HasPrefix(errs[0], "big.jsonl:2: line longer than") {
		t.Errorf("ids %q, errors %q", ids, errs)
	}
}

func TestReadJSONLBEIR(t *testing.T) {
	f, err := os.Open("testdata/beir-sample.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ids []string
	for doc, err := range ReadJSONL(f.Name(), f) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, doc.ID)
		if doc.Body == "" {
			t.Errorf("record %s: no body", doc.ID)
		}
	}
	if got, want := strings.Join(ids, ","), "4983,5836,7912,18670"; got != want {
		t.Errorf("ids = %s, want %s", got, want)
	}
}

// TestReadJSONLSciFact loads the shared SciFact corpus when it is there: every line, ids kept.
func TestReadJSONLSciFact(t *testing.T) {
	const path = "/work/shared/relevance/scifact/corpus.jsonl"
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("no SciFact corpus: %v", err)
	}
	defer f.Close()
	n := 0
	for doc, err := range ReadJSONL(path, f) {
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 && doc.ID != "4983" {
			t.Errorf("first id = %q, want 4983", doc.ID)
		}
		n++
	}
	if n != 5183 {
		t.Errorf("%d documents, want 5183", n)
	}
}

// failingReader returns its data, then an error.
type failingReader struct{ data io.Reader }

func (r failingReader) Read(p []byte) (int, error) {
	n, err := r.data.Read(p)
	if err == io.EOF {
		return n, errors.New("disk on fire")
	}
	return n, err
}

func TestReadJSONLReadError(t *testing.T) {
	var ids, errs []string
	for doc, err := range ReadJSONL("r.jsonl", failingReader{strings.NewReader(`{"id": "x", "title": "t"}` + "\n" + `{"id": "y", "ti`)}) {
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		ids = append(ids, doc.ID)
	}
	if strings.Join(ids, ",") != "x" || len(errs) != 1 || !strings.Contains(errs[0], "r.jsonl:2: read: disk on fire") {
		t.Errorf("ids %q, errors %q", ids, errs)
	}
}
