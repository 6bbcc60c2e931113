package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

//go:embed index.html api.html site.css demo.js api.js widget.js widget.css
var files embed.FS

// pageCSP is the Content-Security-Policy of searchd's own pages: their scripts,
// styles and API calls come from searchd alone and nothing runs inline, so even a
// widget bug could not run injected script there.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// asset is one file as served, with its gzip form precomputed.
type asset struct {
	body, gz         []byte
	etag, gzETag     string
	contentType      string
	cacheControl     string
	page, embeddable bool
}

// handler serves the assets by exact path.
type handler struct {
	assets map[string]*asset
}

// Handler serves the demo page at /, the API reference at /api, the widget at
// /widget.js and /widget.css, and openAPI (the OpenAPI document) at /openapi.json.
// Other paths are 404. Responses carry an ETag and are gzipped for clients that
// accept it. The widget files may be loaded by any site (CORS and CORP allow it)
// and are cached for five minutes, so a new searchd's widget reaches sites quickly.
func Handler(openAPI []byte) http.Handler {
	h := &handler{assets: map[string]*asset{}}
	page := func(path, name string) {
		a := h.file(path, name, "text/html; charset=utf-8", "no-cache")
		a.page = true
	}
	page("/", "index.html")
	page("/api", "api.html")
	h.file("/site.css", "site.css", "text/css; charset=utf-8", "no-cache")
	h.file("/demo.js", "demo.js", "text/javascript; charset=utf-8", "no-cache")
	h.file("/api.js", "api.js", "text/javascript; charset=utf-8", "no-cache")
	h.file("/widget.js", "widget.js", "text/javascript; charset=utf-8", "public, max-age=300").embeddable = true
	h.file("/widget.css", "widget.css", "text/css; charset=utf-8", "public, max-age=300").embeddable = true
	h.add("/openapi.json", openAPI, "application/json", "no-cache")
	return h
}

func (h *handler) file(path, name, contentType, cacheControl string) *asset {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("web: " + name + " is not embedded") // a build mistake, caught by any test
	}
	return h.add(path, b, contentType, cacheControl)
}

func (h *handler) add(path string, body []byte, contentType, cacheControl string) *asset {
	sum := sha256.Sum256(body)
	tag := hex.EncodeToString(sum[:8])
	a := &asset{
		body: body, gz: gzipped(body),
		etag: `"` + tag + `"`, gzETag: `"` + tag + `-gz"`,
		contentType: contentType, cacheControl: cacheControl,
	}
	h.assets[path] = a
	return a
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := h.assets[r.URL.Path]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", a.cacheControl)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Add("Vary", "Accept-Encoding")
	if a.page {
		hdr.Set("Content-Security-Policy", pageCSP)
		hdr.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	}
	if a.embeddable {
		hdr.Set("Access-Control-Allow-Origin", "*")
		hdr.Set("Cross-Origin-Resource-Policy", "cross-origin")
	}
	body, etag := a.body, a.etag
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body, etag = a.gz, a.gzETag
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.TrimSpace(coding) != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
