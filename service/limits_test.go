package service

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// TestLimitsRejectEach sends one request over each limit, over gRPC and REST,
// and expects InvalidArgument with a BadRequest naming the field, and a message
// naming the limit.
func TestLimitsRejectEach(t *testing.T) {
	l := Limits{MaxQueryBytes: 40, MaxQueryWords: 4, MaxFilterValues: 2, MaxFacets: 2, MaxPageSize: 20}
	b := startBufServer(t, Config{Limits: l})
	many := func(n int, v string) []string { return strings.Split(strings.Repeat(v+",", n-1)+v, ",") }
	cases := []struct {
		name  string
		req   *pb.SearchRequest
		query string
		field string
		msg   string
	}{
		{"query bytes", &pb.SearchRequest{Query: strings.Repeat("a", 41)}, "query=" + strings.Repeat("a", 41), "query", "more than the limit of 40 (-max-query-bytes)"},
		{"query words", &pb.SearchRequest{Query: "a b c d e"}, "query=a+b+c+d+e", "query", "5 words, more than the limit of 4 (-max-query-words)"},
		{"filter values", &pb.SearchRequest{Languages: many(3, "Python")}, "languages=Python&languages=Go&languages=PHP", "languages", "more than the limit of 2 (-max-filter-values)"},
		{"types values", &pb.SearchRequest{Types: many(3, "faq")}, "types=faq&types=faq&types=faq", "types", "(-max-filter-values)"},
		{"facets", &pb.SearchRequest{Facets: many(3, "languages")}, "facets=languages&facets=topics&facets=types", "facets", "more than the limit of 2 (-max-facets)"},
		{"page size", &pb.SearchRequest{PageSize: 21}, "page_size=21", "page_size", "between 1 and 20 (-max-page-size"},
		{"page token", &pb.SearchRequest{PageToken: strings.Repeat("x", maxPageTokenBytes+1)}, "page_token=" + strings.Repeat("x", maxPageTokenBytes+1), "page_token", "more than the limit of 2048"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.search.Search(context.Background(), c.req)
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), c.msg) {
				t.Errorf("gRPC: %v; want InvalidArgument containing %q", err, c.msg)
			}
			if f := violationField(st); f != c.field {
				t.Errorf("gRPC BadRequest names %q, want %q", f, c.field)
			}
			resp, raw := b.rest("GET", "/v1/search?"+c.query, "", "")
			e := decodeError(t, raw)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(e.Message, c.msg) ||
				len(e.Details) == 0 || len(e.Details[0].FieldViolations) == 0 || e.Details[0].FieldViolations[0].Field != c.field {
				t.Errorf("REST: %d %+v; want 400 naming %s and %q", resp.StatusCode, e, c.field, c.msg)
			}
		})
	}
	// the other SearchService requests are bounded too
	if _, err := b.search.GetDocument(context.Background(), &pb.GetDocumentRequest{Id: strings.Repeat("i", 513)}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("GetDocument with a 513-byte id: %v", err)
	}
	if _, err := b.search.ReportClick(context.Background(), &pb.ReportClickRequest{Query: strings.Repeat("q", 41), Id: "x", Position: 1}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ReportClick with a long query: %v", err)
	}
	// within the limits all is well
	if _, err := b.search.Search(context.Background(), &pb.SearchRequest{Query: "web back end", Languages: []string{"Python", "Go"}, Facets: []string{"languages", "types"}, PageSize: 20}); err != nil {
		t.Errorf("a request at the limits: %v", err)
	}
}

func violationField(st *status.Status) string {
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.FieldViolations) > 0 {
			return br.FieldViolations[0].Field
		}
	}
	return ""
}

func TestLimitsDefaults(t *testing.T) {
	got := Limits{MaxQueryBytes: 7, MaxPageSize: 500}.withDefaults()
	want := DefaultLimits()
	want.MaxQueryBytes = 7
	if got != want {
		t.Errorf("withDefaults = %+v, want %+v (page size capped at 100)", got, want)
	}
}

func TestBodyLimit(t *testing.T) {
	b := startBufServer(t, Config{Limits: Limits{MaxBodyBytes: 100, MaxMessageBytes: 300}})
	big := `{"query": "` + strings.Repeat("a", 150) + `"}`
	// declared length: refused before the body is read
	resp, raw := b.rest("POST", "/v1/search", "", big)
	e := decodeError(t, raw)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(e.Message, "limit of 100 (-max-body-bytes)") ||
		len(e.Details) == 0 || e.Details[0].FieldViolations[0].Field != "body" {
		t.Errorf("declared oversize body: %d %+v", resp.StatusCode, e)
	}
	// no declared length (chunked): refused after reading at most the limit
	req, _ := http.NewRequest("POST", "http://bufnet/v1/search", struct{ *strings.Reader }{strings.NewReader(big)})
	req.ContentLength = -1
	r2, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversize body: %d", r2.StatusCode)
	}
	// an UpsertDocuments batch may be as large as a gRPC message
	resp, raw = b.rest("POST", "/v1/documents:batchUpsert", bufToken, `{"documents": [{"id": "x", "title": "`+strings.Repeat("t", 150)+`"}]}`)
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		t.Errorf("batchUpsert under -max-msg-bytes refused: %s", raw)
	}
	resp, _ = b.rest("POST", "/v1/documents:batchUpsert", bufToken, `{"documents": [{"id": "x", "title": "`+strings.Repeat("t", 400)+`"}]}`)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("batchUpsert over -max-msg-bytes: %d", resp.StatusCode)
	}
	// a small body is fine
	if resp, raw := b.rest("POST", "/v1/search", "", `{"query": "django"}`); resp.StatusCode != 200 {
		t.Errorf("small body: %d %s", resp.StatusCode, raw)
	}
}

func TestMessageSizeLimit(t *testing.T) {
	b := startBufServer(t, Config{Limits: Limits{MaxMessageBytes: 1000}})
	_, err := b.search.Search(context.Background(), &pb.SearchRequest{Query: strings.Repeat("a", 2000)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("2000-byte message with -max-msg-bytes 1000: %v, want ResourceExhausted", err)
	}
}
