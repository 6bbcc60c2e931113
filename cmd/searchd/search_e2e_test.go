package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// restSearch is the JSON shape of a search response, as a website sees it.
type restSearch struct {
	Hits []struct {
		ID         string   `json:"id"`
		Title      string   `json:"title"`
		URL        string   `json:"url"`
		Type       string   `json:"type"`
		Languages  []string `json:"languages"`
		Frameworks []string `json:"frameworks"`
		Databases  []string `json:"databases"`
		Topics     []string `json:"topics"`
		Score      float64  `json:"score"`
		Snippet    string   `json:"snippet"`
		Highlights []struct {
			Field     string   `json:"field"`
			Fragments []string `json:"fragments"`
		} `json:"highlights"`
	} `json:"hits"`
	Facets map[string]struct {
		Values []struct {
			Value string `json:"value"`
			Count int    `json:"count"`
		} `json:"values"`
	} `json:"facets"`
	TotalHits     int    `json:"total_hits"`
	NextPageToken string `json:"next_page_token"`
}

// restError is the JSON shape of an error.
type restError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type            string `json:"@type"`
		FieldViolations []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
		} `json:"field_violations"`
	} `json:"details"`
}

func TestSearchEndToEnd(t *testing.T) {
	s := startServer(t, serverOptions{token: testToken})
	ctx := context.Background()

	t.Run("rest django with framework facet", func(t *testing.T) {
		var res restSearch
		if code := s.rest("GET", "/v1/search?query=django&facets=frameworks", "", nil, &res); code != 200 {
			t.Fatalf("status %d", code)
		}
		top := titles(res, 3)
		if !containsAll(top, "Popular Back-End Development Frameworks And Tools", "What Are The Best Frameworks For Back-End Web Development?") {
			t.Errorf("top 3 = %q; want the frameworks section and the frameworks FAQ", top)
		}
		if n := facetCount(res, "frameworks", "Django"); n < 2 {
			t.Errorf("frameworks facet Django = %d, want >= 2; facets %+v", n, res.Facets)
		}
		h := res.Hits[0]
		if !strings.Contains(h.Snippet, "<mark>Django</mark>") {
			t.Errorf("snippet %q does not mark Django", h.Snippet)
		}
		if h.URL == "" || !strings.Contains(h.URL, "#") || h.Type == "" {
			t.Errorf("hit lacks url with anchor or type: %+v", h)
		}
	})

	t.Run("grpc salary", func(t *testing.T) {
		res, err := s.search.Search(ctx, &pb.SearchRequest{Query: "salary"})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Hits) == 0 || res.Hits[0].Title != "What Is The Salary Range For A Back-End Web Development Job?" || res.Hits[0].Type != "faq" {
			t.Fatalf("first hit = %v; want the salary FAQ", res.Hits)
		}
	})

	t.Run("filters", func(t *testing.T) {
		all := browseAll(t, s, url.Values{})
		cases := []struct {
			params url.Values
			keep   func(h hitFacets) bool
		}{
			{url.Values{"languages": {"Python"}}, func(h hitFacets) bool { return slices.Contains(h.languages, "Python") }},
			{url.Values{"languages": {"python"}}, func(h hitFacets) bool { return slices.Contains(h.languages, "Python") }},
			{url.Values{"frameworks": {"Django"}}, func(h hitFacets) bool { return slices.Contains(h.frameworks, "Django") }},
			{url.Values{"topics": {"security"}}, func(h hitFacets) bool { return slices.Contains(h.topics, "security") }},
			{url.Values{"databases": {"PostgreSQL"}}, func(h hitFacets) bool { return slices.Contains(h.databases, "PostgreSQL") }},
			{url.Values{"types": {"faq"}}, func(h hitFacets) bool { return h.typ == "faq" }},
			{url.Values{"languages": {"Python", "PHP"}}, func(h hitFacets) bool {
				return slices.Contains(h.languages, "Python") || slices.Contains(h.languages, "PHP")
			}},
			{url.Values{"languages": {"Python"}, "types": {"section"}}, func(h hitFacets) bool {
				return slices.Contains(h.languages, "Python") && h.typ == "section"
			}},
		}
		for _, c := range cases {
			t.Run(c.params.Encode(), func(t *testing.T) {
				var want []string
				for _, h := range all {
					if c.keep(h) {
						want = append(want, h.id)
					}
				}
				if len(want) == 0 || len(want) == len(all) {
					t.Fatalf("filter %v selects %d of %d records: the test corpus does not exercise it", c.params, len(want), len(all))
				}
				var got []string
				for _, h := range browseAll(t, s, c.params) {
					got = append(got, h.id)
				}
				slices.Sort(want)
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("filter %v: got %d records %v, want %d %v", c.params, len(got), got, len(want), want)
				}
			})
		}
	})

	t.Run("facets count all matches", func(t *testing.T) {
		var res restSearch
		s.rest("GET", "/v1/search?query=development&page_size=1&facets=languages&facets=types", "", nil, &res)
		if len(res.Hits) != 1 || res.TotalHits <= 1 {
			t.Fatalf("want 1 hit of many, got %d of %d", len(res.Hits), res.TotalHits)
		}
		types := 0
		for _, v := range res.Facets["types"].Values {
			types += v.Count
		}
		if types != res.TotalHits {
			t.Errorf("types facet counts %d records, total_hits %d", types, res.TotalHits)
		}
		for _, v := range res.Facets["languages"].Values {
			var f restSearch
			s.rest("GET", "/v1/search?query=development&languages="+url.QueryEscape(v.Value), "", nil, &f)
			if f.TotalHits != v.Count {
				t.Errorf("languages=%s: facet says %d, filtered search finds %d", v.Value, v.Count, f.TotalHits)
			}
		}
	})

	t.Run("disjunctive facets keep other values", func(t *testing.T) {
		var res restSearch
		s.rest("GET", "/v1/search?languages=Python&facets=languages&disjunctive_facets=true", "", nil, &res)
		if len(res.Facets["languages"].Values) < 3 {
			t.Errorf("disjunctive languages facet = %+v, want the other languages too", res.Facets["languages"])
		}
		s.rest("GET", "/v1/search?languages=Python&facets=languages", "", nil, &res)
		if facetCount(res, "languages", "Python") != res.TotalHits {
			t.Errorf("plain facet: Python %d != total %d", facetCount(res, "languages", "Python"), res.TotalHits)
		}
	})

	t.Run("paging through everything", func(t *testing.T) {
		for _, q := range []string{"", "web development", "database"} {
			all := map[string]bool{}
			token, pages, total := "", 0, 0
			for {
				res, err := s.search.Search(ctx, &pb.SearchRequest{Query: q, PageSize: 3, PageToken: token})
				if err != nil {
					t.Fatalf("query %q page %d: %v", q, pages, err)
				}
				total = int(res.TotalHits)
				for _, h := range res.Hits {
					if all[h.Id] {
						t.Fatalf("query %q: %s on two pages", q, h.Id)
					}
					all[h.Id] = true
				}
				pages++
				if token = res.NextPageToken; token == "" {
					break
				}
			}
			if len(all) != total || total == 0 {
				t.Errorf("query %q: paged through %d records in %d pages, total_hits %d", q, len(all), pages, total)
			}
		}
	})

	t.Run("get document", func(t *testing.T) {
		res, err := s.search.Search(ctx, &pb.SearchRequest{Query: "salary", PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		id := res.Hits[0].Id
		doc, err := s.search.GetDocument(ctx, &pb.GetDocumentRequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(doc.Body, "$60,000") || doc.Type != "faq" || doc.Page != "What Is Back-End Web Development?" {
			t.Errorf("document = %+v", doc)
		}
		var rd pb.Document
		var got struct {
			ID   string `json:"id"`
			Body string `json:"body"`
		}
		if code := s.rest("GET", "/v1/documents/"+url.PathEscape(id), "", nil, &got); code != 200 || got.ID != id || got.Body != doc.Body {
			t.Errorf("REST get: %d %+v", code, got)
		}
		_ = &rd
		var e restError
		if code := s.rest("GET", "/v1/documents/no-such-record", "", nil, &e); code != http.StatusNotFound || e.Code != int(codes.NotFound) {
			t.Errorf("unknown id: status %d, %+v", code, e)
		}
		if _, err := s.search.GetDocument(ctx, &pb.GetDocumentRequest{Id: "no-such-record"}); status.Code(err) != codes.NotFound {
			t.Errorf("gRPC unknown id: %v", err)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		cases := []struct {
			method, path, body string
			field              string
		}{
			{"GET", "/v1/search?query=x&page_size=101", "", "page_size"},
			{"GET", "/v1/search?query=x&page_size=-1", "", "page_size"},
			{"GET", "/v1/search?query=x&page_token=garbage", "", "page_token"},
			{"GET", "/v1/search?query=x&facets=colour", "", "facets"},
			{"GET", "/v1/search?types=blog", "", "types"},
			{"POST", "/v1/search", `{"query": "x", "page_size": 1000}`, "page_size"},
			{"POST", "/v1/search", `{"query": `, ""},
			{"GET", "/v1/search?page_size=ten", "", ""},
		}
		for _, c := range cases {
			var e restError
			var body any
			if c.body != "" {
				body = c.body
			}
			code := s.rest(c.method, c.path, "", body, &e)
			if code != http.StatusBadRequest || e.Code != int(codes.InvalidArgument) || e.Message == "" {
				t.Errorf("%s %s %s: status %d %+v, want 400 InvalidArgument", c.method, c.path, c.body, code, e)
				continue
			}
			if c.field != "" && (len(e.Details) == 0 || len(e.Details[0].FieldViolations) == 0 || e.Details[0].FieldViolations[0].Field != c.field) {
				t.Errorf("%s %s: details %+v do not name field %s", c.method, c.path, e.Details, c.field)
			}
		}
		_, err := s.search.Search(ctx, &pb.SearchRequest{Query: "x", PageSize: 500})
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument {
			t.Fatalf("gRPC page_size 500: %v", err)
		}
		var br *errdetails.BadRequest
		for _, d := range st.Details() {
			if b, ok := d.(*errdetails.BadRequest); ok {
				br = b
			}
		}
		if br == nil || br.FieldViolations[0].Field != "page_size" {
			t.Errorf("gRPC details = %v, want a BadRequest naming page_size", st.Details())
		}
		// a page token from another query is refused, not silently misapplied
		first, err := s.search.Search(ctx, &pb.SearchRequest{Query: "web", PageSize: 2})
		if err != nil || first.NextPageToken == "" {
			t.Fatalf("web: %v %v", first, err)
		}
		if _, err := s.search.Search(ctx, &pb.SearchRequest{Query: "api", PageSize: 2, PageToken: first.NextPageToken}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("token of another query: %v, want InvalidArgument", err)
		}
	})

	t.Run("admin auth", func(t *testing.T) {
		for _, tok := range []string{"", "wrong-token"} {
			var e restError
			if code := s.rest("POST", "/v1/index:reindex", tok, map[string]any{}, &e); code != http.StatusUnauthorized || e.Code != int(codes.Unauthenticated) {
				t.Errorf("REST reindex with token %q: %d %+v, want 401", tok, code, e)
			}
			if code := s.rest("GET", "/v1/index", tok, nil, &e); code != http.StatusUnauthorized {
				t.Errorf("REST GetIndex with token %q: %d, want 401", tok, code)
			}
			cctx := ctx
			if tok != "" {
				cctx = adminCtx(ctx, tok)
			}
			if _, err := s.admin.Reindex(cctx, &pb.ReindexRequest{}); status.Code(err) != codes.Unauthenticated {
				t.Errorf("gRPC reindex with token %q: %v, want Unauthenticated", tok, err)
			}
		}
		var info struct {
			DocumentCount int    `json:"document_count"`
			CorpusSource  string `json:"corpus_source"`
		}
		if code := s.rest("GET", "/v1/index", testToken, nil, &info); code != 200 || info.DocumentCount < 30 || info.CorpusSource == "" {
			t.Errorf("GetIndex: %d %+v", code, info)
		}
	})

	t.Run("reindex over REST and gRPC", func(t *testing.T) {
		var op struct {
			Name string `json:"name"`
			Done bool   `json:"done"`
		}
		if code := s.rest("POST", "/v1/index:reindex", testToken, map[string]any{}, &op); code != 200 || op.Name == "" {
			t.Fatalf("REST reindex: %d %+v", code, op)
		}
		final := waitOperation(t, s, op.Name)
		if final.Error != nil || final.Result.GetDocumentCount() < 30 {
			t.Fatalf("reindex ended with %v", final)
		}
		var got struct {
			Done     bool `json:"done"`
			Progress struct {
				DocumentsDone  int `json:"documents_done"`
				DocumentsTotal int `json:"documents_total"`
			} `json:"progress"`
		}
		if code := s.rest("GET", "/v1/operations/"+op.Name, testToken, nil, &got); code != 200 || !got.Done || got.Progress.DocumentsDone != got.Progress.DocumentsTotal || got.Progress.DocumentsTotal == 0 {
			t.Errorf("REST GetOperation: %d %+v", code, got)
		}
		var e restError
		if code := s.rest("GET", "/v1/operations/no-such-op", testToken, nil, &e); code != 404 {
			t.Errorf("unknown operation: %d", code)
		}
	})

	t.Run("searches never fail during five reindexes", func(t *testing.T) {
		load := startSearchLoad(s, loadOptions{clients: 4, queries: []string{"django", "salary", "security", "database", "api"}, requireHits: true})
		actx := adminCtx(ctx, testToken)
		for i := 0; i < 5; i++ {
			op, err := s.admin.Reindex(actx, &pb.ReindexRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if final := waitOperation(t, s, op.Name); final.Error != nil {
				t.Fatalf("reindex %d failed: %v", i, final.Error)
			}
		}
		load.stop().check(t, "during 5 reindexes", 20)
	})

	t.Run("sigterm exits 0", func(t *testing.T) {
		if err := s.stop(); err != nil {
			t.Errorf("searchd exit after SIGTERM: %v", err)
		}
	})
}

func TestAdminDisabledWithoutToken(t *testing.T) {
	s := startServer(t, serverOptions{})
	var e restError
	code := s.rest("POST", "/v1/index:reindex", "anything", map[string]any{}, &e)
	if code != http.StatusForbidden || !strings.Contains(e.Message, "STACKSEARCH_ADMIN_TOKEN") {
		t.Errorf("reindex with no token configured: %d %+v; want 403 saying how to enable it", code, e)
	}
	if _, err := s.admin.GetIndex(adminCtx(context.Background(), ""), &pb.GetIndexRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC: %v", err)
	}
}

func TestDataDirKeepsIndex(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, serverOptions{args: []string{"-data-dir", dir}})
	if s.logs.find("built index") == nil {
		t.Fatalf("first start did not build:\n%s", s.logs)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, serverOptions{args: []string{"-data-dir", dir}})
	if s2.logs.find("opened index") == nil || s2.logs.find("built index") != nil {
		t.Fatalf("second start did not reopen the index:\n%s", s2.logs)
	}
	res, err := s2.search.Search(context.Background(), &pb.SearchRequest{Query: "salary"})
	if err != nil || len(res.Hits) == 0 {
		t.Fatalf("search after reopen: %v %v", res, err)
	}
}

// hitFacets is what the filter tests compare.
type hitFacets struct {
	id, typ                                  string
	languages, frameworks, databases, topics []string
}

// browseAll lists every record matching params (no query), paging through.
func browseAll(t *testing.T, s *testServer, params url.Values) []hitFacets {
	t.Helper()
	var out []hitFacets
	token := ""
	for {
		p := url.Values{}
		for k, v := range params {
			p[k] = v
		}
		p.Set("page_size", "7")
		if token != "" {
			p.Set("page_token", token)
		}
		var res restSearch
		if code := s.rest("GET", "/v1/search?"+p.Encode(), "", nil, &res); code != 200 {
			t.Fatalf("browse %v: status %d", p, code)
		}
		for _, h := range res.Hits {
			out = append(out, hitFacets{h.ID, h.Type, h.Languages, h.Frameworks, h.Databases, h.Topics})
		}
		if token = res.NextPageToken; token == "" {
			return out
		}
	}
}

func waitOperation(t *testing.T, s *testServer, name string) *pb.Operation {
	t.Helper()
	ctx := adminCtx(context.Background(), testToken)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		op, err := s.admin.GetOperation(ctx, &pb.GetOperationRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if op.Done {
			return op
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("operation %s not done in time", name)
	return nil
}

func titles(res restSearch, n int) []string {
	var out []string
	for i, h := range res.Hits {
		if i == n {
			break
		}
		out = append(out, h.Title)
	}
	return out
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func facetCount(res restSearch, field, value string) int {
	for _, v := range res.Facets[field].Values {
		if v.Value == value {
			return v.Count
		}
	}
	return 0
}
