package service

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestParseCORSOrigins(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"*", []string{"*"}},
		{" https://Docs.Example.com/ , http://localhost:3000", []string{"https://docs.example.com", "http://localhost:3000"}},
		{"https://example.com:443,http://example.com:80", []string{"https://example.com", "http://example.com"}},
		{"https://*.example.com", []string{"https://*.example.com"}},
	} {
		got, err := ParseCORSOrigins(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseCORSOrigins(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"example.com", "ftp://example.com", "https://example.com/path", "https://a.*.example.com", "https://user@example.com", "https://example.com?x=1"} {
		if got, err := ParseCORSOrigins(bad); err == nil {
			t.Errorf("ParseCORSOrigins(%q) = %q, want an error", bad, got)
		}
	}
}

func TestCORS(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Next", "called")
		w.WriteHeader(http.StatusTeapot)
	})
	list, err := ParseCORSOrigins("https://docs.example.com,https://*.example.org,http://*.localhost:3000")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		origins   []string
		method    string
		origin    string
		preflight bool
		wantCode  int
		wantACAO  string
	}{
		{"no origin passes through", list, "GET", "", false, http.StatusTeapot, ""},
		{"allowed origin", list, "GET", "https://docs.example.com", false, http.StatusTeapot, "https://docs.example.com"},
		{"origin case", list, "GET", "https://DOCS.example.com", false, http.StatusTeapot, "https://DOCS.example.com"},
		{"other origin gets no header", list, "POST", "https://evil.example", false, http.StatusTeapot, ""},
		{"other scheme", list, "GET", "http://docs.example.com", false, http.StatusTeapot, ""},
		{"subdomain pattern", list, "GET", "https://a.b.example.org", false, http.StatusTeapot, "https://a.b.example.org"},
		{"subdomain pattern not the apex", list, "GET", "https://example.org", false, http.StatusTeapot, ""},
		{"subdomain pattern not a suffix trick", list, "GET", "https://evilexample.org", false, http.StatusTeapot, ""},
		{"subdomain pattern with port", list, "GET", "http://app.localhost:3000", false, http.StatusTeapot, "http://app.localhost:3000"},
		{"subdomain pattern other port", list, "GET", "http://app.localhost:4000", false, http.StatusTeapot, ""},
		{"preflight allowed", list, "OPTIONS", "https://docs.example.com", true, http.StatusNoContent, "https://docs.example.com"},
		{"preflight refused", list, "OPTIONS", "https://evil.example", true, http.StatusForbidden, ""},
		{"plain OPTIONS passes through", list, "OPTIONS", "https://docs.example.com", false, http.StatusTeapot, "https://docs.example.com"},
		{"wildcard", []string{"*"}, "GET", "https://anything.example", false, http.StatusTeapot, "*"},
		{"wildcard preflight", []string{"*"}, "OPTIONS", "null", true, http.StatusNoContent, "*"},
		{"empty list allows none", nil, "GET", "https://docs.example.com", false, http.StatusTeapot, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := newCORSPolicy(c.origins)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(c.method, "/v1/search", nil)
			if c.origin != "" {
				r.Header.Set("Origin", c.origin)
			}
			if c.preflight {
				r.Header.Set("Access-Control-Request-Method", "POST")
				r.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
			}
			w := httptest.NewRecorder()
			p.wrap(next).ServeHTTP(w, r)
			h := w.Result().Header
			if w.Code != c.wantCode || h.Get("Access-Control-Allow-Origin") != c.wantACAO {
				t.Fatalf("status %d, Access-Control-Allow-Origin %q; want %d, %q", w.Code, h.Get("Access-Control-Allow-Origin"), c.wantCode, c.wantACAO)
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("credentials allowed")
			}
			if c.preflight && c.wantCode == http.StatusNoContent {
				if h.Get("X-Next") != "" {
					t.Errorf("preflight reached the handler")
				}
				if h.Get("Access-Control-Allow-Headers") != corsAllowHeaders || h.Get("Access-Control-Allow-Methods") != corsAllowMethods || h.Get("Access-Control-Max-Age") == "" {
					t.Errorf("preflight headers %v", h)
				}
			}
			if !c.preflight && c.wantACAO != "" && h.Get("Access-Control-Expose-Headers") == "" {
				t.Errorf("no Access-Control-Expose-Headers")
			}
			if len(c.origins) > 0 && c.origins[0] != "*" && !slices.Contains(h.Values("Vary"), "Origin") {
				t.Errorf("Vary %q lacks Origin", h.Values("Vary"))
			}
		})
	}
}
