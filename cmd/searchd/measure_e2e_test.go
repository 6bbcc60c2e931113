package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/status"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// TestMeasureHardening measures what issue 6's closing note reports, on a
// generated corpus (STACKSEARCH_MEASURE_DOCS records, default 20,000): searches
// failed during 20 reindexes under 32 clients, and the memory peak of searchd
// under the adversarial query set. It runs only with STACKSEARCH_MEASURE=1:
//
//	STACKSEARCH_MEASURE=1 go test ./cmd/searchd -run TestMeasureHardening -v -timeout 30m
func TestMeasureHardening(t *testing.T) {
	if os.Getenv("STACKSEARCH_MEASURE") != "1" {
		t.Skip("set STACKSEARCH_MEASURE=1 to measure")
	}
	docs := 20000
	if n, err := strconv.Atoi(os.Getenv("STACKSEARCH_MEASURE_DOCS")); err == nil {
		docs = n
	}
	dir := t.TempDir()
	corpusPath := filepath.Join(dir, "corpus.jsonl")
	writeCorpus(t, corpusPath, docs, "alpha")
	opts := serverOptions{token: testToken, args: []string{"-corpus", corpusPath, "-data-dir", filepath.Join(dir, "data"), "-log-level", "info"}}
	s := startServer(t, opts)
	built := s.logs.find("built index")
	took, _ := built["took"].(float64)
	t.Logf("corpus: %d records, built in %v with no load; race detector: %v", docs, time.Duration(took).Round(time.Millisecond), raceEnabled)

	t.Run("reindexes under load", func(t *testing.T) {
		start := time.Now()
		res, n := searchUnderReindexes(t, s, 32, 20)
		t.Logf("%d reindexes of %d records in %v with 32 clients searching: %d searches, %d failed; latency p50 %v, p99 %v",
			n, docs, time.Since(start).Round(time.Second), res.searches, res.failures, res.percentile(0.5), res.percentile(0.99))
		ops, _ := s.admin.ListOperations(adminCtx(context.Background(), testToken), &pb.ListOperationsRequest{})
		var secs []float64
		for _, op := range ops.GetOperations() {
			secs = append(secs, op.GetResult().GetBuildSeconds())
		}
		slices.Sort(secs)
		if len(secs) > 0 {
			t.Logf("build seconds under load: min %.1f, median %.1f, max %.1f", secs[0], secs[len(secs)/2], secs[len(secs)-1])
		}
	})

	t.Run("memory under adversarial queries", func(t *testing.T) {
		// restart so the peak is the serving process's, not the build's
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}
		s = startServer(t, opts)
		pid := s.cmd.Process.Pid
		t.Logf("after opening the index: VmRSS %s, VmHWM %s", procStatus(t, pid, "VmRSS"), procStatus(t, pid, "VmHWM"))
		os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) // reset VmHWM
		kinds := adversarialRequests()
		type stat struct {
			n, errs  atomic.Int64
			maxNanos atomic.Int64
			codes    sync.Map
		}
		stats := make([]*stat, len(kinds))
		for i := range stats {
			stats[i] = &stat{}
		}
		deadline := time.Now().Add(30 * time.Second)
		var wg sync.WaitGroup
		for c := 0; c < 32; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				for i := c; time.Now().Before(deadline); i++ {
					k := i % len(kinds)
					t0 := time.Now()
					code := kinds[k].run(s)
					d := time.Since(t0).Nanoseconds()
					st := stats[k]
					st.n.Add(1)
					if code != "OK" {
						st.errs.Add(1)
						v, _ := st.codes.LoadOrStore(code, new(atomic.Int64))
						v.(*atomic.Int64).Add(1)
					}
					for {
						m := st.maxNanos.Load()
						if d <= m || st.maxNanos.CompareAndSwap(m, d) {
							break
						}
					}
				}
			}(c)
		}
		wg.Wait()
		for i, k := range kinds {
			var codes []string
			stats[i].codes.Range(func(k, v any) bool {
				codes = append(codes, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
				return true
			})
			t.Logf("%-28s %6d requests, slowest %7.1f ms, refused %v", k.name, stats[i].n.Load(), float64(stats[i].maxNanos.Load())/1e6, codes)
		}
		t.Logf("peak during 30 s of adversarial queries by 32 clients: VmHWM %s (VmRSS now %s)", procStatus(t, pid, "VmHWM"), procStatus(t, pid, "VmRSS"))
	})
}

type adversarialRequest struct {
	name string
	run  func(s *testServer) string // returns the gRPC code name
}

// adversarialRequests are the requests of the memory measurement: the longest
// queries the limits allow, wildcard, regexp and typo-laden words, deep
// paging, and every facet with the most filter values.
func adversarialRequests() []adversarialRequest {
	search := func(req *pb.SearchRequest) func(*testServer) string {
		return func(s *testServer) string {
			_, err := s.search.Search(context.Background(), req)
			return status.Code(err).String()
		}
	}
	rest := func(q url.Values) func(*testServer) string {
		return func(s *testServer) string {
			resp, err := http.Get(s.url("/v1/search?" + q.Encode()))
			if err != nil {
				return "transport"
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return strconv.Itoa(resp.StatusCode)
			}
			return "OK"
		}
	}
	var out []adversarialRequest
	for i, q := range adversarialQueries() {
		out = append(out, adversarialRequest{fmt.Sprintf("query %d %.12q", i, q), search(&pb.SearchRequest{Query: q, PageSize: 100})})
	}
	langs := []string{"Python", "Go", "PHP", "JavaScript", "Java"}
	vals := func(n int) []string {
		var v []string
		for i := 0; i < n; i++ {
			v = append(v, langs[i%len(langs)]+strings.Repeat("x", i/len(langs)))
		}
		return v
	}
	out = append(out,
		adversarialRequest{"all facets, 32 values each", search(&pb.SearchRequest{
			Query: "server database", Languages: vals(32), Frameworks: vals(32), Databases: vals(32), Topics: vals(32),
			Types: []string{"faq", "section"}, Facets: []string{"languages", "frameworks", "databases", "topics", "types"}, DisjunctiveFacets: true, PageSize: 100,
		})},
		adversarialRequest{"browse, 100 per page, facets", rest(url.Values{"page_size": {"100"}, "facets": {"languages", "frameworks", "databases", "topics", "types"}})},
		adversarialRequest{"deep paging (50 pages x 100)", func(s *testServer) string {
			token := ""
			for p := 0; p < 50; p++ {
				res, err := s.search.Search(context.Background(), &pb.SearchRequest{Query: "server", PageSize: 100, PageToken: token})
				if err != nil {
					return status.Code(err).String()
				}
				if token = res.NextPageToken; token == "" {
					break
				}
			}
			return "OK"
		}},
	)
	return out
}

// procStatus reads one field of /proc/pid/status.
func procStatus(t *testing.T, pid int, field string) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
