package load

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBenchQueries checks the checked-in query file: enough queries, of one
// to four words, with filters and facets that searchd accepts.
func TestBenchQueries(t *testing.T) {
	qs, err := ReadQueries("../../../testdata/bench-queries.tsv")
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 200 {
		t.Errorf("%d queries; the benchmarks want 200 or more", len(qs))
	}
	fields := append(slices.Clone(AllFacets), "types")
	var filtered, faceted int
	for _, q := range qs {
		if n := len(strings.Fields(q.Text)); n < 1 || n > 4 {
			t.Errorf("%q has %d words, not 1 to 4", q.Text, n)
		}
		for name := range q.Filters {
			if !slices.Contains(fields, name) {
				t.Errorf("%q filters on unknown field %q", q.Text, name)
			}
		}
		for _, f := range q.Facets {
			if !slices.Contains(fields, f) {
				t.Errorf("%q counts unknown facet %q", q.Text, f)
			}
		}
		if len(q.Filters) > 0 {
			filtered++
		}
		if len(q.Facets) > 0 {
			faceted++
		}
	}
	if filtered < 10 || faceted < 10 {
		t.Errorf("%d queries with filters and %d with facets; want at least 10 of each", filtered, faceted)
	}
}

func TestPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"asyncio":               "asyn",
		"django queryset":       "django quer",
		"go":                    "go",
		"postgres create index": "postgres create ind",
		"node fs":               "node fs",
	} {
		if got := Prefix(in); got != want {
			t.Errorf("Prefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRun(t *testing.T) {
	calls := 0
	r := Run(context.Background(), Config{Clients: 1, Warmup: 10 * time.Millisecond, Duration: 50 * time.Millisecond},
		func(ctx context.Context, client, i int) error {
			calls++
			time.Sleep(time.Millisecond)
			if i%10 == 0 {
				return errors.New("every tenth fails")
			}
			return nil
		})
	if r.Requests == 0 || r.Errors == 0 || r.Requests+r.Errors >= calls {
		t.Errorf("%d requests and %d errors measured of %d calls: want both, and the warm-up left out", r.Requests, r.Errors, calls)
	}
	if !(r.P50 > 0 && r.P50 <= r.P95 && r.P95 <= r.P99 && r.P99 <= r.Max) {
		t.Errorf("percentiles out of order: %+v", r)
	}
}
