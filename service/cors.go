package service

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// CORS lets pages on other sites call the REST API from a browser, as the search
// box widget does when a site loads it from searchd. Only the origins of an
// allow-list get the Access-Control-Allow-Origin header; preflight requests
// (OPTIONS with Access-Control-Request-Method) are answered here and never reach
// the gateway.
//
// No credentials mode is ever allowed (no Access-Control-Allow-Credentials):
// searchd authenticates with an explicit Authorization header, never a cookie,
// so a page can only use a key it already holds.

const (
	corsAllowMethods  = "GET, POST, DELETE"
	corsAllowHeaders  = "Authorization, Content-Type, X-Request-Id"
	corsExposeHeaders = "X-Request-Id, Retry-After"
	// corsMaxAge is how long a browser may cache a preflight answer, in seconds
	// (Chromium caps it at 7200).
	corsMaxAge = "7200"
)

// ParseCORSOrigins parses the -cors-origins flag: a comma-separated list of
// origins ("https://docs.example.com", "http://localhost:3000"), subdomain
// patterns ("https://*.example.com", which does not match example.com itself)
// or "*" for any origin. An empty list allows none. Origins are normalized to
// lower case without a default port.
func ParseCORSOrigins(list string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(list, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		n, err := normalizeOriginPattern(o)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func normalizeOriginPattern(o string) (string, error) {
	if o == "*" {
		return o, nil
	}
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("origin %q: want scheme://host[:port] (http or https, no path), https://*.example.com or *", o)
	}
	host := strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "http" && p == "80") || (u.Scheme == "https" && p == "443") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	if strings.Contains(strings.TrimPrefix(host, "*."), "*") {
		return "", fmt.Errorf("origin %q: a wildcard may only be a whole leading label (https://*.example.com)", o)
	}
	return u.Scheme + "://" + host, nil
}

// corsPolicy is a parsed allow-list.
type corsPolicy struct {
	any      bool
	exact    map[string]bool
	suffixes []string // "https://" + ".example.com" for https://*.example.com
}

// newCORSPolicy builds the policy for origins as ParseCORSOrigins returns them;
// nil allows no other origin.
func newCORSPolicy(origins []string) (*corsPolicy, error) {
	p := &corsPolicy{exact: map[string]bool{}}
	for _, o := range origins {
		n, err := normalizeOriginPattern(o)
		if err != nil {
			return nil, err
		}
		switch {
		case n == "*":
			p.any = true
		case strings.Contains(n, "://*."):
			p.suffixes = append(p.suffixes, strings.Replace(n, "://*.", "://.", 1))
		default:
			p.exact[n] = true
		}
	}
	return p, nil
}

// allowed reports whether a page of origin may read responses.
func (p *corsPolicy) allowed(origin string) bool {
	if p.any {
		return true
	}
	origin = strings.ToLower(origin)
	if p.exact[origin] {
		return true
	}
	for _, s := range p.suffixes {
		scheme, suffix, _ := strings.Cut(s, "://")
		hostport, ok := strings.CutPrefix(origin, scheme+"://")
		if ok && strings.HasSuffix(hostport, suffix) && len(hostport) > len(suffix) {
			return true
		}
	}
	return false
}

// wrap adds CORS to h: response headers for allowed origins, and the answer to
// preflight requests.
func (p *corsPolicy) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		hdr := w.Header()
		if !p.any {
			hdr.Add("Vary", "Origin")
		}
		if origin == "" || !p.allowed(origin) {
			if preflight {
				// No CORS headers: the browser refuses the request and says why.
				w.WriteHeader(http.StatusForbidden)
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		if p.any {
			hdr.Set("Access-Control-Allow-Origin", "*")
		} else {
			hdr.Set("Access-Control-Allow-Origin", origin)
		}
		if !preflight {
			hdr.Set("Access-Control-Expose-Headers", corsExposeHeaders)
			h.ServeHTTP(w, r)
			return
		}
		hdr.Add("Vary", "Access-Control-Request-Method")
		hdr.Add("Vary", "Access-Control-Request-Headers")
		hdr.Set("Access-Control-Allow-Methods", corsAllowMethods)
		hdr.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		hdr.Set("Access-Control-Max-Age", corsMaxAge)
		if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
			// Chromium asks before a public page calls a server on a private
			// network, as an intranet searchd is.
			hdr.Set("Access-Control-Allow-Private-Network", "true")
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
