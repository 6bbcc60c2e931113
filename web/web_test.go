package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// maxWidgetGzip is the promise: the widget a site loads is under 15 KB gzipped.
const maxWidgetGzip = 15 * 1024

func TestWidgetSize(t *testing.T) {
	var raw, gz int
	for _, name := range []string{"widget.js", "widget.css"} {
		b, err := files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		raw += len(b)
		gz += len(gzipped(b))
	}
	t.Logf("widget.js + widget.css: %d bytes, %d gzipped (limit %d)", raw, gz, maxWidgetGzip)
	if gz >= maxWidgetGzip {
		t.Errorf("widget is %d bytes gzipped, over the %d byte budget", gz, maxWidgetGzip)
	}
}

// TestNoHTMLSinks keeps server text out of the HTML parser: the scripts build DOM
// nodes and set textContent, never innerHTML or the like, and never eval.
func TestNoHTMLSinks(t *testing.T) {
	sinks := regexp.MustCompile(`\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write|\beval\(|new Function\(|createContextualFragment|DOMParser`)
	for _, name := range []string{"widget.js", "demo.js", "api.js"} {
		b, _ := files.ReadFile(name)
		for i, line := range strings.Split(string(b), "\n") {
			if sinks.MatchString(line) {
				t.Errorf("%s:%d uses an HTML sink: %s", name, i+1, strings.TrimSpace(line))
			}
		}
	}
}

// TestPagesAreSelfContained: the pages load scripts and styles from searchd only,
// so they work offline and under their Content-Security-Policy.
func TestPagesAreSelfContained(t *testing.T) {
	external := regexp.MustCompile(`<(script|link)\b[^>]*\b(src|href)="(https?:)?//`)
	inline := regexp.MustCompile(`<script(\s[^>]*)?>\s*[^<\s]|\son[a-z]+=|<style\b`)
	for _, name := range []string{"index.html", "api.html"} {
		b, _ := files.ReadFile(name)
		if m := external.Find(b); m != nil {
			t.Errorf("%s loads from elsewhere: %s", name, m)
		}
		if m := inline.Find(b); m != nil {
			t.Errorf("%s has inline script or style, which its CSP refuses: %s", name, m)
		}
	}
}

func TestHandler(t *testing.T) {
	openAPI := []byte(`{"swagger": "2.0"}`)
	srv := httptest.NewServer(Handler(openAPI))
	defer srv.Close()
	widget, _ := files.ReadFile("widget.js")

	get := func(t *testing.T, method, path string, hdr map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		// A Transport that leaves Accept-Encoding alone, so gzip is seen as sent.
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	for _, c := range []struct {
		path, contentType, contains string
		page, embeddable            bool
	}{
		{"/", "text/html; charset=utf-8", `src="widget.js"`, true, false},
		{"/api", "text/html; charset=utf-8", `src="api.js"`, true, false},
		{"/widget.js", "text/javascript; charset=utf-8", "stacksearch:select", false, true},
		{"/widget.css", "text/css; charset=utf-8", ".ssw", false, true},
		{"/site.css", "text/css; charset=utf-8", ".topbar", false, false},
		{"/demo.js", "text/javascript; charset=utf-8", "reader", false, false},
		{"/api.js", "text/javascript; charset=utf-8", "openapi.json", false, false},
		{"/openapi.json", "application/json", `"swagger"`, false, false},
	} {
		t.Run(c.path, func(t *testing.T) {
			resp, body := get(t, "GET", c.path, nil)
			h := resp.Header
			if resp.StatusCode != 200 || h.Get("Content-Type") != c.contentType || !bytes.Contains(body, []byte(c.contains)) {
				t.Fatalf("status %d, Content-Type %q, body has %q: %v", resp.StatusCode, h.Get("Content-Type"), c.contains, bytes.Contains(body, []byte(c.contains)))
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("ETag") == "" || h.Get("Cache-Control") == "" {
				t.Errorf("headers %v", h)
			}
			if (h.Get("Content-Security-Policy") != "") != c.page {
				t.Errorf("Content-Security-Policy %q", h.Get("Content-Security-Policy"))
			}
			if (h.Get("Access-Control-Allow-Origin") == "*") != c.embeddable {
				t.Errorf("Access-Control-Allow-Origin %q", h.Get("Access-Control-Allow-Origin"))
			}
			if resp, _ := get(t, "GET", c.path, map[string]string{"If-None-Match": h.Get("ETag")}); resp.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match: status %d, want 304", resp.StatusCode)
			}
		})
	}

	t.Run("gzip", func(t *testing.T) {
		resp, body := get(t, "GET", "/widget.js", map[string]string{"Accept-Encoding": "br, gzip"})
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := io.ReadAll(zr)
		if !bytes.Equal(plain, widget) {
			t.Errorf("gunzipped body is not widget.js")
		}
		if resp, _ := get(t, "GET", "/widget.js", map[string]string{"Accept-Encoding": "gzip;q=0"}); resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("gzip;q=0 still got gzip")
		}
	})

	t.Run("openapi as given", func(t *testing.T) {
		if _, body := get(t, "GET", "/openapi.json", nil); !bytes.Equal(body, openAPI) {
			t.Errorf("body %q", body)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, path := range []string{"/nope", "/index.html", "/web.go", "/widget.js/"} {
			if resp, _ := get(t, "GET", path, nil); resp.StatusCode != 404 {
				t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
			}
		}
		if resp, _ := get(t, "POST", "/", nil); resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
			t.Errorf("POST /: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
		if resp, body := get(t, "HEAD", "/widget.js", nil); resp.StatusCode != 200 || len(body) != 0 {
			t.Errorf("HEAD: %d with %d bytes", resp.StatusCode, len(body))
		}
	})
}

func TestAcceptsGzip(t *testing.T) {
	for in, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "br, gzip, deflate": true, "gzip;q=0": false, "gzip; q=0.5": true,
		"*": true, "identity": false, "deflate, br": false,
	} {
		if got := acceptsGzip(in); got != want {
			t.Errorf("acceptsGzip(%q) = %v", in, got)
		}
	}
}
