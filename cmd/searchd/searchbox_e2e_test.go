package main

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// searchBoxResult is the JSON shape of the search-box fields of a response.
type searchBoxResult struct {
	Hits []struct {
		ID         string `json:"id"`
		Title      string `json:"title"`
		Page       string `json:"page"`
		Snippet    string `json:"snippet"`
		MoreInPage int    `json:"more_in_page"`
		Highlights []struct {
			Field     string   `json:"field"`
			Fragments []string `json:"fragments"`
		} `json:"highlights"`
	} `json:"hits"`
	TotalHits      int    `json:"total_hits"`
	CorrectedQuery string `json:"corrected_query"`
	AppliedFilters []struct {
		Field string `json:"field"`
		Value string `json:"value"`
	} `json:"applied_filters"`
	Answer *struct {
		ID       string `json:"id"`
		Question string `json:"question"`
		Answer   string `json:"answer"`
		URL      string `json:"url"`
	} `json:"answer"`
}

func (s *testServer) searchBox(t *testing.T, query string, params ...string) searchBoxResult {
	t.Helper()
	v := url.Values{"query": {query}}
	for i := 0; i+1 < len(params); i += 2 {
		v.Add(params[i], params[i+1])
	}
	var res searchBoxResult
	if code := s.rest("GET", "/v1/search?"+v.Encode(), "", nil, &res); code != 200 {
		t.Fatalf("search %q: status %d", query, code)
	}
	return res
}

func (r searchBoxResult) titles() []string {
	var out []string
	for _, h := range r.Hits {
		out = append(out, h.Title)
	}
	return out
}

// text is everything a hit shows, for checks on what matched.
func (r searchBoxResult) text(i int) string {
	h := r.Hits[i]
	var b strings.Builder
	b.WriteString(h.Title + " " + h.Snippet)
	for _, hl := range h.Highlights {
		b.WriteString(" " + strings.Join(hl.Fragments, " "))
	}
	return b.String()
}

func TestSearchBoxEndToEnd(t *testing.T) {
	s := startServer(t, serverOptions{})
	ctx := context.Background()

	t.Run("typos", func(t *testing.T) {
		for _, c := range []struct{ typed, fixed, mark string }{
			{"djnago", "django", "<mark>Django</mark>"},
			{"secuirty", "security", "<mark>Security</mark>"},
			{"Pyhton", "Python", "<mark>Python</mark>"},
		} {
			res := s.searchBox(t, c.typed)
			if res.CorrectedQuery != c.fixed || len(res.Hits) == 0 || !strings.Contains(res.text(0), c.mark) {
				t.Errorf("%q: corrected %q, %d hits, first %q; want the results for %q", c.typed, res.CorrectedQuery, len(res.Hits), res.titles(), c.fixed)
			}
		}
		// no typo is tolerated in a short word: "jva" is not Java
		if res := s.searchBox(t, "jva "); res.TotalHits != 0 || res.CorrectedQuery != "" {
			t.Errorf("jva: %d hits, corrected %q; want nothing", res.TotalHits, res.CorrectedQuery)
		}
		// a word the index holds is never taken for a typo of another
		if res := s.searchBox(t, "rails "); res.CorrectedQuery != "" {
			t.Errorf("rails corrected to %q", res.CorrectedQuery)
		}
		// typo tolerance can be turned off per request
		if res := s.searchBox(t, "djnago", "typo_tolerance", "false"); res.TotalHits != 0 {
			t.Errorf("djnago without typo tolerance: %d hits", res.TotalHits)
		}
	})

	t.Run("prefix of the word being typed", func(t *testing.T) {
		for _, c := range []struct{ typed, want string }{{"authent", "<mark>authentication</mark>"}, {"framew", "<mark>frameworks</mark>"}} {
			res := s.searchBox(t, c.typed)
			if len(res.Hits) == 0 || !strings.Contains(strings.ToLower(res.text(0)), c.want) {
				t.Errorf("%q: first hit %q does not mark %s", c.typed, res.titles(), c.want)
			}
		}
		// once the word is finished (a space typed), it is not completed
		if res := s.searchBox(t, "framew "); res.TotalHits != 0 {
			t.Errorf("'framew ': %d hits, want 0", res.TotalHits)
		}
	})

	t.Run("stemming and plurals", func(t *testing.T) {
		a, b := s.searchBox(t, "database "), s.searchBox(t, "databases ")
		if a.TotalHits == 0 || a.TotalHits != b.TotalHits {
			t.Errorf("database %d hits, databases %d", a.TotalHits, b.TotalHits)
		}
		if res := s.searchBox(t, "optimize "); res.TotalHits == 0 || !strings.Contains(res.text(0), "<mark>Optimiz") && !strings.Contains(res.text(0), "<mark>optimiz") {
			t.Errorf("optimize: %d hits, first %q", res.TotalHits, res.titles())
		}
	})

	t.Run("code-aware terms", func(t *testing.T) {
		cs := s.searchBox(t, "c# ")
		if cs.TotalHits == 0 {
			t.Fatal("c#: no hits")
		}
		for i := range cs.Hits {
			if !strings.Contains(cs.text(i), "<mark>C#</mark>") {
				t.Errorf("c# hit %q does not mark C#", cs.Hits[i].Title)
			}
		}
		if res := s.searchBox(t, "net "); res.TotalHits != 0 {
			t.Errorf("net finds %v: .NET must not collide with NET", res.titles())
		}
		if res := s.searchBox(t, ".net "); res.TotalHits == 0 || !strings.Contains(res.text(0), ".NET") {
			t.Errorf(".net: %v", res.titles())
		}
		if res := s.searchBox(t, "express.js "); res.TotalHits == 0 || !strings.Contains(res.text(0), "<mark>Express.js</mark>") {
			t.Errorf("express.js: %v", res.titles())
		}
	})

	t.Run("synonyms and nicknames", func(t *testing.T) {
		res := s.searchBox(t, "postgres ")
		if res.TotalHits == 0 || !strings.Contains(res.text(0), "<mark>PostgreSQL</mark>") {
			t.Errorf("postgres: %v", res.titles())
		}
		res = s.searchBox(t, "backend ")
		if res.TotalHits == 0 || !strings.Contains(res.text(0), "<mark>back-end</mark>") && !strings.Contains(res.text(0), "<mark>Back-End</mark>") {
			t.Errorf("backend does not find back-end: %q", res.text(0))
		}
		// a phrase still matches on a field whose words have synonyms
		for _, q := range []string{`"back-end web development"`, `"load balancing"`, `"server-side logic"`} {
			if res := s.searchBox(t, q); res.TotalHits == 0 {
				t.Errorf("phrase %s finds nothing", q)
			}
		}
	})

	t.Run("query syntax", func(t *testing.T) {
		all := s.searchBox(t, "python ", "page_size", "100")
		without := s.searchBox(t, "python -django", "page_size", "100")
		if without.TotalHits == 0 || without.TotalHits >= all.TotalHits {
			t.Errorf("python -django: %d hits of python's %d", without.TotalHits, all.TotalHits)
		}
		for i := range without.Hits {
			doc, err := s.search.GetDocument(ctx, &pb.GetDocumentRequest{Id: without.Hits[i].ID})
			if err != nil || strings.Contains(strings.ToLower(doc.Body+doc.Title), "django") {
				t.Errorf("python -django returned %s, which mentions Django", without.Hits[i].ID)
			}
		}
		either := s.searchBox(t, "laravel OR flask ", "page_size", "100")
		l, f := s.searchBox(t, "laravel ", "page_size", "100"), s.searchBox(t, "flask ", "page_size", "100")
		if either.TotalHits < max(l.TotalHits, f.TotalHits) || either.TotalHits > l.TotalHits+f.TotalHits {
			t.Errorf("laravel OR flask: %d hits; laravel %d, flask %d", either.TotalHits, l.TotalHits, f.TotalHits)
		}
		var faq restSearch
		s.rest("GET", "/v1/search?query="+url.QueryEscape("type:faq security")+"&page_size=100", "", nil, &faq)
		if len(faq.Hits) == 0 {
			t.Error("type:faq security: no hits")
		}
		for _, h := range faq.Hits {
			if h.Type != "faq" {
				t.Errorf("type:faq returned a %s", h.Type)
			}
		}
		// nothing typed is an error
		for _, q := range []string{`"((( -- OR :::`, `"`, "-", "OR", "languages:", `topics:"`, "\u00a0\u2028", strings.Repeat("x ", 30)} {
			var res restSearch
			if code := s.rest("GET", "/v1/search?query="+url.QueryEscape(q), "", nil, &res); code != 200 {
				t.Errorf("query %q: status %d", q, code)
			}
		}
	})

	t.Run("facets named in the query boost, never filter", func(t *testing.T) {
		res := s.searchBox(t, "django caching ")
		var applied []string
		for _, a := range res.AppliedFilters {
			applied = append(applied, a.Field+"="+a.Value)
		}
		if !slices.Contains(applied, "frameworks=Django") || !slices.Contains(applied, "topics=performance") {
			t.Errorf("applied_filters = %v", applied)
		}
		if caching := s.searchBox(t, "caching "); res.TotalHits < caching.TotalHits {
			t.Errorf("django caching finds %d, fewer than caching alone (%d): the boost hid results", res.TotalHits, caching.TotalHits)
		}
	})

	t.Run("answers", func(t *testing.T) {
		res := s.searchBox(t, "how long does it take to learn backend")
		if res.Answer == nil || res.Answer.Question != "How Long Does It Take To Learn Back-End Web Development?" ||
			!strings.Contains(res.Answer.Answer, "3 to 6 months") || !strings.Contains(res.Answer.URL, "#") {
			t.Errorf("answer = %+v", res.Answer)
		}
		if res := s.searchBox(t, "learn backend"); res.Answer != nil {
			t.Errorf("a query that is not a question got an answer: %+v", res.Answer)
		}
	})

	t.Run("snippet is the best passage", func(t *testing.T) {
		res := s.searchBox(t, "datadog ")
		if len(res.Hits) == 0 || !strings.HasPrefix(res.Hits[0].Snippet, "…") || !strings.Contains(res.Hits[0].Snippet, "<mark>Datadog</mark>") {
			t.Errorf("datadog snippet = %q", res.Hits[0].Snippet)
		}
	})

	t.Run("suggest", func(t *testing.T) {
		var sug struct {
			Suggestions []struct {
				Text string `json:"text"`
				HTML string `json:"html"`
				Kind string `json:"kind"`
				ID   string `json:"id"`
			} `json:"suggestions"`
		}
		for _, typed := range []string{"djan", "djnag"} {
			if code := s.rest("GET", "/v1/suggest?query="+typed, "", nil, &sug); code != 200 || len(sug.Suggestions) == 0 {
				t.Fatalf("suggest %s: %d %+v", typed, code, sug)
			}
			first := sug.Suggestions[0]
			if first.Text != "django" || first.Kind != "query" || !strings.Contains(first.HTML, "<mark>") {
				t.Errorf("suggest %s: first = %+v", typed, first)
			}
			titles := 0
			for _, g := range sug.Suggestions {
				if g.Kind == "title" && g.ID != "" {
					titles++
				}
			}
			if titles == 0 {
				t.Errorf("suggest %s: no titles in %+v", typed, sug.Suggestions)
			}
		}
		res, err := s.search.Suggest(ctx, &pb.SuggestRequest{Query: "web secur", PageSize: 4})
		if err != nil || len(res.Suggestions) == 0 || len(res.Suggestions) > 4 || !strings.HasPrefix(res.Suggestions[0].Text, "web secur") {
			t.Errorf("gRPC suggest: %v %v", res, err)
		}
		var e restError
		if code := s.rest("GET", "/v1/suggest?query=x&page_size=500", "", nil, &e); code != 400 {
			t.Errorf("suggest page_size 500: %d", code)
		}
	})
}

func TestSearchBoxSiteSettings(t *testing.T) {
	s := startServer(t, serverOptions{args: []string{"-corpus", "testdata/search-site", "-synonyms", "testdata/search-synonyms.txt"}})

	t.Run("a site's synonyms file", func(t *testing.T) {
		if res := s.searchBox(t, "gizmo "); res.TotalHits == 0 || !strings.Contains(strings.ToLower(res.text(0)), "<mark>widget") {
			t.Errorf("gizmo: %v", res.titles())
		}
	})

	t.Run("an exact match ranks above a typo match", func(t *testing.T) {
		// "caching" is in the index, so it is not corrected into "cashing" (or back)
		res := s.searchBox(t, "caching ")
		if len(res.Hits) == 0 || res.Hits[0].Title != "Widget caching" {
			t.Fatalf("caching: %v", res.titles())
		}
		for _, h := range res.Hits {
			if h.Title == "Cashing cheques" {
				t.Errorf("caching found the typo-near 'Cashing cheques'")
			}
		}
	})

	t.Run("distinct by page", func(t *testing.T) {
		res := s.searchBox(t, "widget ")
		if len(res.Hits) < 3 {
			t.Fatalf("widget: %v", res.titles())
		}
		if res.Hits[0].Page == res.Hits[1].Page {
			t.Errorf("the first two hits are from one page: %v", res.titles())
		}
		more := 0
		for _, h := range res.Hits {
			more += h.MoreInPage
		}
		if more == 0 {
			t.Errorf("no more_in_page counts: %+v", res.Hits)
		}
		plain := s.searchBox(t, "widget ", "distinct", "false")
		if plain.TotalHits != res.TotalHits || plain.Hits[0].Page != plain.Hits[1].Page {
			t.Errorf("distinct=false: %v (%d hits, distinct %d)", plain.titles(), plain.TotalHits, res.TotalHits)
		}
		// paging through a distinct search sees every hit once
		seen := map[string]bool{}
		token := ""
		for {
			var page restSearch
			v := url.Values{"query": {"widget "}, "page_size": {"2"}}
			if token != "" {
				v.Set("page_token", token)
			}
			s.rest("GET", "/v1/search?"+v.Encode(), "", nil, &page)
			for _, h := range page.Hits {
				if seen[h.ID] {
					t.Fatalf("%s twice", h.ID)
				}
				seen[h.ID] = true
			}
			if token = page.NextPageToken; token == "" {
				break
			}
		}
		if len(seen) != res.TotalHits {
			t.Errorf("paged %d of %d", len(seen), res.TotalHits)
		}
	})
}

func TestSuggestWithScopedKey(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, serverOptions{token: testToken, args: []string{"-data-dir", dir}})
	actx := adminCtx(context.Background(), testToken)
	created, err := s.admin.CreateKey(actx, &pb.CreateKeyRequest{Key: &pb.Key{Description: "python only", Scope: &pb.KeyScope{Languages: []string{"Python"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var sug struct {
		Suggestions []struct {
			Kind string `json:"kind"`
			ID   string `json:"id"`
		} `json:"suggestions"`
	}
	if code := s.rest("GET", "/v1/suggest?query=frame&page_size=10", created.Secret, nil, &sug); code != 200 || len(sug.Suggestions) == 0 {
		t.Fatalf("scoped suggest: %d %+v", code, sug)
	}
	for _, g := range sug.Suggestions {
		if g.Kind != "title" {
			t.Errorf("a scoped key got a %s suggestion", g.Kind)
			continue
		}
		doc, err := s.search.GetDocument(context.Background(), &pb.GetDocumentRequest{Id: g.ID})
		if err != nil || !slices.Contains(doc.Languages, "Python") {
			t.Errorf("scoped suggest offered %s (languages %v) outside the Python scope", g.ID, doc.GetLanguages())
		}
	}
}
