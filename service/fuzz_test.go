package service

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// fuzzRoutes are the REST routes the fuzz target calls; {} is replaced by the
// fuzzed path segment. Reindex is left out: it would start builds in the background.
var fuzzRoutes = []struct{ method, path string }{
	{"GET", "/v1/search"}, {"POST", "/v1/search"}, {"GET", "/v1/suggest"}, {"GET", "/v1/documents/{}"},
	{"POST", "/v1/clicks"}, {"GET", "/v1/analytics"}, {"POST", "/v1/keys"}, {"GET", "/v1/keys"},
	{"DELETE", "/v1/keys/{}"}, {"GET", "/v1/operations/{}"}, {"GET", "/v1/operations"}, {"GET", "/v1/index"},
	{"POST", "/v1/documents:batchUpsert"}, {"DELETE", "/v1/documents/{}"}, {"PUT", "/v1/search"}, {"GET", "/{}"},
}

var (
	fuzzOnce   sync.Once
	fuzzServer *Server
	fuzzErr    error
)

// fuzzHandler is the HTTP handler of one server on the embedded corpus,
// loaded once per fuzzing process.
func fuzzHandler(t testing.TB) *Server {
	fuzzOnce.Do(func() {
		s, err := New(Config{AdminToken: bufToken, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			fuzzErr = err
			return
		}
		fuzzErr = s.indexer.Load(context.Background(), false)
		fuzzServer = s
	})
	if fuzzErr != nil {
		t.Fatal(fuzzErr)
	}
	return fuzzServer
}

// FuzzRESTRequest drives the real HTTP handler (middleware, gateway decoding,
// interceptors, servers) with arbitrary paths, query strings and bodies: it
// must never answer 500 nor panic.
func FuzzRESTRequest(f *testing.F) {
	f.Add(uint8(0), "", "query=django&facets=languages&page_size=3", []byte(nil), false)
	f.Add(uint8(1), "", "", []byte(`{"query": "database", "languages": ["Python"], "disjunctive_facets": true}`), false)
	f.Add(uint8(1), "", "", []byte(`{"query": `), false)
	f.Add(uint8(0), "", "page_token=%ff%fe&page_size=-5&types=blog", []byte(nil), false)
	f.Add(uint8(3), "no-such-record", "", []byte(nil), false)
	f.Add(uint8(4), "", "", []byte(`{"query": "salary", "id": "x", "position": 1}`), false)
	f.Add(uint8(5), "", "window_hours=9999999999&limit=-1", []byte(nil), true)
	f.Add(uint8(6), "", "", []byte(`{"description": "d", "scope": {"types": ["faq"]}, "rate_limit": 1e308}`), true)
	f.Add(uint8(12), "", "", []byte(`{"documents": [{"id": "a", "title": "t", "colour": 1}]}`), true)
	f.Fuzz(func(t *testing.T, route uint8, segment, query string, body []byte, admin bool) {
		s := fuzzHandler(t)
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := strings.ReplaceAll(r.path, "{}", url.PathEscape(segment))
		req := httptest.NewRequest(r.method, "/", bytes.NewReader(body))
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery = path, "", query
		req.RequestURI = path + "?" + query
		req.Header.Set("Content-Type", "application/json")
		if admin {
			req.Header.Set("Authorization", "Bearer "+bufToken)
		}
		w := httptest.NewRecorder()
		s.http.Handler.ServeHTTP(w, req)
		// 501 is a method not implemented yet (Suggest, until it is), not a failure
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s?%q body %q: %d %s", r.method, path, query, body, w.Code, w.Body)
		}
		for _, tr := range []string{"grpc", "http"} {
			if n := counterValue(t, s.edge.metrics.panics.WithLabelValues(tr)); n != 0 {
				t.Fatalf("%s %s?%q body %q: a handler panicked", r.method, path, query, body)
			}
		}
	})
}
