package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/stacksearch/stacksearch/cmd/stackbench/load"
	"github.com/stacksearch/stacksearch/corpus"
	"github.com/stacksearch/stacksearch/index"
)

// loadFlags are the settings of the load runs, shared by every subcommand.
type loadFlags struct {
	queries  string
	warmup   time.Duration
	duration time.Duration
	clients  string
}

func (f *loadFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.queries, "queries", "testdata/bench-queries.tsv", "query file")
	fs.DurationVar(&f.warmup, "warmup", time.Second, "unmeasured time before each load run")
	fs.DurationVar(&f.duration, "duration", 4*time.Second, "measured time of each load run")
	fs.StringVar(&f.clients, "clients", "4,16", "concurrent clients of the load runs, comma-separated")
}

func (f *loadFlags) config(clients int) load.Config {
	return load.Config{Clients: clients, Warmup: f.warmup, Duration: f.duration}
}

func (f *loadFlags) clientCounts() ([]int, error) {
	var out []int
	for _, s := range strings.Split(f.clients, ",") {
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
			return nil, fmt.Errorf("-clients: bad count %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// inprocResult is what the inproc subcommand measured.
type inprocResult struct {
	Runs   []load.Report `json:"runs"`
	Memory load.Memory   `json:"memory"`
	// OpenSeconds is how long opening the persisted index took.
	OpenSeconds float64 `json:"open_seconds"`
}

// inprocCmd measures searches on a persisted index in this process, through
// index.Live as searchd's SearchService calls it: the ceiling for searchd.
func inprocCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("inproc", flag.ContinueOnError)
	var lf loadFlags
	lf.define(fs)
	dataDir := fs.String("data-dir", "", "searchd data directory holding the index")
	shapes := fs.String("shapes", "plain,full,box", "request shapes to run, comma-separated")
	suggestClients := fs.Int("suggest-clients", 16, "clients of the Suggest run; 0 for none")
	out := fs.String("json", "", "write the result here")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the runs here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	qs, err := load.ReadQueries(lf.queries)
	if err != nil {
		return err
	}
	counts, err := lf.clientCounts()
	if err != nil {
		return err
	}
	start := time.Now()
	live, closeLive, err := openLive(*dataDir)
	if err != nil {
		return err
	}
	defer closeLive()
	res := inprocResult{OpenSeconds: time.Since(start).Seconds()}
	for _, shape := range strings.Split(*shapes, ",") {
		if shape == "" {
			continue
		}
		reqs, err := load.Shapes(qs, shape)
		if err != nil {
			return err
		}
		for _, n := range counts {
			r := searchLoad(ctx, live, reqs, lf.config(n))
			r.Name = "in-process search " + shape
			fmt.Fprintln(os.Stderr, r.Summary())
			res.Runs = append(res.Runs, r)
		}
	}
	if *suggestClients > 0 {
		r := load.Run(ctx, lf.config(*suggestClients), func(ctx context.Context, client, i int) error {
			_, err := live.Suggest(ctx, load.Prefix(load.Pick(qs, client, i).Text), 5, nil)
			return err
		})
		r.Name = "in-process suggest"
		fmt.Fprintln(os.Stderr, r.Summary())
		res.Runs = append(res.Runs, r)
	}
	res.Memory = load.MemoryOf(os.Getpid())
	return load.WriteJSON(*out, res)
}

// openLive opens the current index of a searchd data directory and serves it
// as searchd does: the default taxonomy and tuning.
func openLive(dataDir string) (*index.Live, func(), error) {
	store, err := index.OpenStore(dataDir, quietLog())
	if err != nil {
		return nil, nil, err
	}
	ix, err := store.OpenCurrent()
	if err != nil {
		return nil, nil, err
	}
	tax := corpus.DefaultTaxonomy()
	live := index.NewLive(tax, index.DefaultTuning(tax))
	live.Swap(ix)
	return live, func() { live.Close() }, nil
}

// searchLoad runs the requests through live.Search as searchd's SearchService
// makes them (service/search.go: typos, distinct and highlights on unless the
// request turns them off, a page of 10).
func searchLoad(ctx context.Context, live *index.Live, reqs []load.Request, cfg load.Config) load.Report {
	ireqs := make([]index.Request, len(reqs))
	for i, r := range reqs {
		filters := map[string][]string{}
		for k, v := range r.Filters {
			filters[k] = v
		}
		ireqs[i] = index.Request{Query: r.Text, Filters: filters, Facets: r.Facets, Size: 10,
			Highlight: r.Highlight, Typos: true, Distinct: true}
	}
	return load.Run(ctx, cfg, func(ctx context.Context, client, i int) error {
		_, err := live.Search(ctx, load.Pick(ireqs, client, i))
		return err
	})
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// growResult is one row of the cost-growth table.
type growResult struct {
	Label        string      `json:"label"`
	Documents    int         `json:"documents"`
	BuildSeconds float64     `json:"build_seconds"`
	SizeBytes    int64       `json:"size_bytes"`
	Run          load.Report `json:"run"`
	Memory       load.Memory `json:"memory"`
}

// growCmd builds an index of a part or a multiple of the corpus on disk, as
// searchd builds one, and measures searches on it in this process.
func growCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("grow", flag.ContinueOnError)
	var lf loadFlags
	lf.define(fs)
	corpusPath := fs.String("corpus", "data/debian-docs.jsonl", "corpus file")
	every := fs.Int("every", 1, "keep one record in every N (10: a 10% sample spread over the corpus)")
	times := fs.Int("times", 1, "repeat the corpus this many times, with new ids")
	shape := fs.String("shape", load.ShapeBox, "request shape")
	label := fs.String("label", "", "label of the row")
	work := fs.String("work", os.TempDir(), "directory to build in (removed afterwards)")
	out := fs.String("json", "", "write the result here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	qs, err := load.ReadQueries(lf.queries)
	if err != nil {
		return err
	}
	reqs, err := load.Shapes(qs, *shape)
	if err != nil {
		return err
	}
	counts, err := lf.clientCounts()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(*work, "grow-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store, err := index.OpenStore(dir, quietLog())
	if err != nil {
		return err
	}
	tax := corpus.DefaultTaxonomy()
	src, err := corpus.Open(*corpusPath, tax)
	if err != nil {
		return err
	}
	docs := resample(ctx, src, *every, *times)
	ix, rep, err := store.Build(ctx, docs, index.BuildOptions{Source: *corpusPath, SkipBad: true})
	if err != nil {
		return err
	}
	if err := store.MakeCurrent(ix); err != nil {
		return err
	}
	res := growResult{Label: *label, Documents: rep.Documents, BuildSeconds: rep.Duration.Seconds()}
	fmt.Fprintf(os.Stderr, "%s: built %d documents in %.1fs\n", *label, res.Documents, res.BuildSeconds)
	live := index.NewLive(tax, index.DefaultTuning(tax))
	live.Swap(ix)
	defer live.Close()
	runtime.GC()
	res.Run = searchLoad(ctx, live, reqs, lf.config(counts[0]))
	res.Run.Name = "in-process search " + *shape + " " + *label
	fmt.Fprintln(os.Stderr, res.Run.Summary())
	res.Memory = load.MemoryOf(os.Getpid())
	// measured after the searches, once Bleve's merges after the build have settled
	res.SizeBytes = dirSize(dir)
	return load.WriteJSON(*out, res)
}

// resample yields one record in every `every` of src, the whole of it `times`
// times over; the copies after the first get new ids ("id~2", "id~3", ...).
func resample(ctx context.Context, src *corpus.Source, every, times int) iter.Seq2[corpus.Document, error] {
	return func(yield func(corpus.Document, error) bool) {
		for pass := 1; pass <= times; pass++ {
			n := 0
			for d, err := range src.Documents(ctx) {
				n++
				if err == nil && (n-1)%every != 0 {
					continue
				}
				if err == nil && pass > 1 {
					d.ID = fmt.Sprintf("%s~%d", d.ID, pass)
				}
				if !yield(d, err) {
					return
				}
			}
		}
	}
}

// dirSize adds up the sizes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
