package main

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// searchLoad is clients searching until stopped, counting every failure.
type searchLoad struct {
	stopc     chan struct{}
	wg        sync.WaitGroup
	searches  atomic.Int64
	failures  atomic.Int64
	mu        sync.Mutex
	errs      map[string]int    // failures by message, the first few kinds
	latencies [][]time.Duration // per client
}

// loadOptions shape a searchLoad.
type loadOptions struct {
	clients int
	queries []string
	// requireHits counts a search that finds nothing as a failure.
	requireHits bool
	// pause is how long each client waits between searches.
	pause time.Duration
}

// searchFunc makes client c's search for q, returning the hits it found.
type searchFunc func(c int, q string) (hits int, err error)

// startSearchLoad starts clients searching s, the even ones over gRPC and the
// odd ones over REST.
func startSearchLoad(s *testServer, o loadOptions) *searchLoad {
	ctx := context.Background()
	return runSearchLoad(o, func(c int, q string) (int, error) {
		if c%2 == 0 {
			res, err := s.search.Search(ctx, &pb.SearchRequest{Query: q, Facets: []string{"languages"}})
			return len(res.GetHits()), err
		}
		var res restSearch
		if code := s.rest("GET", "/v1/search?facets=languages&query="+url.QueryEscape(q), "", nil, &res); code != 200 {
			return 0, fmt.Errorf("REST %q: status %d", q, code)
		}
		return len(res.Hits), nil
	})
}

// runSearchLoad starts o.clients clients, each running search over o.queries
// from its own place until stopped.
func runSearchLoad(o loadOptions, search searchFunc) *searchLoad {
	l := &searchLoad{stopc: make(chan struct{}), errs: map[string]int{}, latencies: make([][]time.Duration, o.clients)}
	for c := range o.clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stopc:
					return
				default:
				}
				q := o.queries[(i+c)%len(o.queries)]
				start := time.Now()
				hits, err := search(c, q)
				if err == nil && o.requireHits && hits == 0 {
					err = fmt.Errorf("query %q found nothing", q)
				}
				l.latencies[c] = append(l.latencies[c], time.Since(start))
				l.searches.Add(1)
				if err != nil {
					l.failures.Add(1)
					l.mu.Lock()
					if _, ok := l.errs[err.Error()]; ok || len(l.errs) < 5 {
						l.errs[err.Error()]++
					}
					l.mu.Unlock()
				}
				time.Sleep(o.pause)
			}
		}()
	}
	return l
}

// phase returns the searches and failures since the last call (or the
// start), with the failures' messages, and starts counting again.
func (l *searchLoad) phase() (searches, failures int64, errs map[string]int) {
	l.mu.Lock()
	errs, l.errs = l.errs, map[string]int{}
	l.mu.Unlock()
	return l.searches.Swap(0), l.failures.Swap(0), errs
}

// loadResult is what a searchLoad saw.
type loadResult struct {
	searches, failures int64
	errs               map[string]int
	latencies          []time.Duration // sorted
}

// stop ends the load and reports it.
func (l *searchLoad) stop() loadResult {
	close(l.stopc)
	l.wg.Wait()
	all := slices.Concat(l.latencies...)
	slices.Sort(all)
	return loadResult{searches: l.searches.Load(), failures: l.failures.Load(), errs: l.errs, latencies: all}
}

// percentile returns the latency at fraction p of the sorted latencies.
func (r loadResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
}

// check fails t when any search failed or too few were made, logging the failures.
func (r loadResult) check(t testing.TB, what string, atLeast int64) {
	t.Helper()
	for msg, n := range r.errs {
		t.Logf("failed %d times: %s", n, msg)
	}
	if r.failures > 0 || r.searches < atLeast {
		t.Errorf("%d of %d searches failed %s", r.failures, r.searches, what)
	}
	t.Logf("%d searches %s, %d failed; p50 %v, p99 %v", r.searches, what, r.failures,
		r.percentile(0.5).Round(time.Millisecond), r.percentile(0.99).Round(time.Millisecond))
}
