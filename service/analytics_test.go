package service

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

func TestNormaliseQuery(t *testing.T) {
	for in, want := range map[string]string{
		"  Django   ORM ":                "django orm",
		"CAFE\u0301":                     "café", // NFC
		"mail jane.doe@example.com now":  "mail <email> now",
		"error 12345 on port 8080":       "error 12345 on port 8080", // short numbers stay
		"card 4111111111111111 declined": "card <number> declined",
		"tab\tand\nnewline\x00":          "tab and newline",
		"\xff\xfe":                       "",
		strings.Repeat("é", 150):         strings.Repeat("é", maxQueryRunes),
	} {
		if got := normaliseQuery(in); got != want {
			t.Errorf("normaliseQuery(%q) = %q, want %q", in, got, want)
		}
	}
}

// fakeClock is a settable now for Analytics.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestAnalytics(t *testing.T, dir string, retention time.Duration, clock *fakeClock) *Analytics {
	t.Helper()
	a, err := OpenAnalytics(dir, retention, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.Close() // the tests flush by hand
	a.now = clock.now
	if dir != "" {
		a.buckets = map[time.Time]*hourBucket{}
		if err := a.load(); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func TestAnalyticsReport(t *testing.T) {
	clock := &fakeClock{time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)}
	a := newTestAnalytics(t, "", 48*time.Hour, clock)
	// yesterday, outside a 12-hour window
	clock.t = clock.t.Add(-20 * time.Hour)
	a.recordSearch("old query", 5)
	clock.t = clock.t.Add(20 * time.Hour)
	for i := 0; i < 5; i++ {
		a.recordSearch("Django", 7)
	}
	a.recordClick("django ")
	for i := 0; i < 3; i++ {
		a.recordSearch("kubernetes operator", 0)
	}
	a.recordSearch("postgres", 2)
	a.recordSearch("postgres", 2)
	a.recordSearch("", 0) // browse: not a query
	r := a.report(12*time.Hour, 10)
	if r.Searches != 10 {
		t.Errorf("searches = %d, want 10", r.Searches)
	}
	stat := func(s []*pb.QueryStat) string {
		var out []string
		for _, q := range s {
			out = append(out, fmt.Sprintf("%s=%d/%d", q.Query, q.Count, q.Clicks))
		}
		return strings.Join(out, " ")
	}
	if got := stat(r.TopQueries); got != "django=5/1 kubernetes operator=3/0 postgres=2/0" {
		t.Errorf("top = %s", got)
	}
	if got := stat(r.ZeroResultQueries); got != "kubernetes operator=3/0" {
		t.Errorf("zero results = %s", got)
	}
	if got := stat(r.NoClickQueries); got != "postgres=2/0" {
		t.Errorf("no clicks = %s", got)
	}
	if got := stat(a.report(48*time.Hour, 1).TopQueries); got != "django=5/1" {
		t.Errorf("limit 1 = %s", got)
	}
	if got := stat(a.report(48*time.Hour, 10).TopQueries); !strings.Contains(got, "old query=1/0") {
		t.Errorf("48h window misses yesterday: %s", got)
	}
}

func TestAnalyticsBoundedPerHour(t *testing.T) {
	clock := &fakeClock{time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	a := newTestAnalytics(t, "", time.Hour*24, clock)
	for i := 0; i < maxQueriesPerHour+50; i++ {
		a.recordSearch(fmt.Sprintf("q%d", i), 1)
	}
	b := a.buckets[clock.t]
	if len(b.Queries) != maxQueriesPerHour || b.Dropped != 50 || b.Searches != maxQueriesPerHour+50 {
		t.Errorf("bucket holds %d queries, dropped %d, searches %d", len(b.Queries), b.Dropped, b.Searches)
	}
}

func TestAnalyticsPersistAndRetention(t *testing.T) {
	dir := t.TempDir()
	// OpenAnalytics prunes by the real clock: start the fake one an hour ago
	clock := &fakeClock{time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)}
	a := newTestAnalytics(t, dir, 3*time.Hour, clock)
	a.recordSearch("first hour", 1)
	clock.t = clock.t.Add(time.Hour)
	a.recordSearch("second hour", 0)
	a.flush()
	files, _ := filepath.Glob(filepath.Join(dir, analyticsDir, "*.json"))
	if len(files) != 2 {
		t.Fatalf("files after flush: %v", files)
	}
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		if strings.Contains(string(raw), "127.0.0.1") || strings.Contains(string(raw), "key_") {
			t.Errorf("%s holds more than queries and counts: %s", f, raw)
		}
	}
	b := newTestAnalytics(t, dir, 3*time.Hour, clock)
	if got := b.report(3*time.Hour, 10); got.Searches != 2 || len(got.ZeroResultQueries) != 1 {
		t.Errorf("reloaded report = %v", got)
	}
	// four hours later the first hour is past the retention: dropped, file removed
	clock.t = clock.t.Add(3 * time.Hour)
	b.recordSearch("later", 1)
	b.flush()
	files, _ = filepath.Glob(filepath.Join(dir, analyticsDir, "*.json"))
	if len(files) != 2 || b.report(3*time.Hour, 10).Searches != 2 {
		t.Errorf("after retention: files %v, report %v", files, b.report(3*time.Hour, 10))
	}
}

func TestAnalyticsOverTheAPI(t *testing.T) {
	b := startBufServer(t, Config{AnalyticsRetention: 48 * time.Hour})
	ctx := context.Background()
	first, err := b.search.Search(ctx, &pb.SearchRequest{Query: "Salary", PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	// the next page of the same search is not another search
	if _, err := b.search.Search(ctx, &pb.SearchRequest{Query: "Salary", PageSize: 1, PageToken: first.NextPageToken}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"salary", "zzzqqqxxx", "django"} {
		if resp, raw := b.rest("GET", "/v1/search?query="+q, "", ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("search %q: %d %s", q, resp.StatusCode, raw)
		}
	}
	resp, raw := b.rest("POST", "/v1/clicks", "", `{"query": "salary", "id": "`+first.Hits[0].Id+`", "position": 1}`)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /v1/clicks: %d %s", resp.StatusCode, raw)
	}
	if _, err := b.search.ReportClick(ctx, &pb.ReportClickRequest{Query: "x", Id: "y", Position: 0}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("click at position 0: %v", err)
	}
	got, err := b.admin.GetAnalytics(withToken(ctx, bufToken), &pb.GetAnalyticsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Searches != 4 || got.TopQueries[0].Query != "salary" || got.TopQueries[0].Count != 2 || got.TopQueries[0].Clicks != 1 {
		t.Errorf("analytics = %v", got)
	}
	if len(got.ZeroResultQueries) != 1 || got.ZeroResultQueries[0].Query != "zzzqqqxxx" {
		t.Errorf("zero results = %v", got.ZeroResultQueries)
	}
	if len(got.NoClickQueries) != 1 || got.NoClickQueries[0].Query != "django" {
		t.Errorf("no clicks = %v", got.NoClickQueries)
	}
	if resp, raw := b.rest("GET", "/v1/analytics?window_hours=6&limit=1", bufToken, ""); resp.StatusCode != 200 || !strings.Contains(string(raw), `"top_queries":[{"query":"salary"`) {
		t.Errorf("REST analytics: %d %s", resp.StatusCode, raw)
	}
	for _, bad := range []string{"window_hours=49", "window_hours=-1", "limit=101"} {
		resp, raw := b.rest("GET", "/v1/analytics?"+bad, bufToken, "")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("analytics?%s: %d %s", bad, resp.StatusCode, raw)
		}
	}
}
