package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/stacksearch/stacksearch/cmd/stackbench/load"
)

// results is everything one run measured; BENCHMARKS.md is made from it and
// it is kept as JSON beside the run's logs and profiles.
type results struct {
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Machine  machine   `json:"machine"`
	Source   string    `json:"source"` // the commit measured, "-dirty" with local changes
	Corpus   string    `json:"corpus"`
	Bytes    int64     `json:"corpus_bytes"`
	Queries  int       `json:"queries"`
	Warmup   string    `json:"warmup"`
	Duration string    `json:"duration"`
	Repeat   int       `json:"repeat"`

	Stacksearch stacksearchResult `json:"stacksearch"`
	InProcess   *inprocResult     `json:"in_process,omitempty"`
	SQLite      *peerResult       `json:"sqlite,omitempty"`
	Postgres    *peerResult       `json:"postgres,omitempty"`
	Growth      []growResult      `json:"growth,omitempty"`
	Profile     *profileResult    `json:"profile,omitempty"`
	// Problems lists the parts that failed; the others are still reported.
	Problems []string `json:"problems,omitempty"`
}

// stacksearchResult is what searchd measured.
type stacksearchResult struct {
	Documents     int           `json:"documents"`
	BuildSeconds  float64       `json:"build_seconds"`
	BuildPeak     int64         `json:"build_peak_rss"`
	Reindex       int           `json:"reindex_documents"`
	ReindexSecs   float64       `json:"reindex_seconds"`
	ReopenSeconds float64       `json:"reopen_seconds"` // process start to ready
	OpenSeconds   float64       `json:"open_seconds"`   // the index's opening, from searchd's log
	SizeBytes     int64         `json:"size_bytes"`
	Memory        load.Memory   `json:"memory"`
	Runs          []load.Report `json:"runs"`
}

// compare holds the settings of a whole run.
type compare struct {
	lf          loadFlags
	corpus      string
	bin         string
	outDir      string
	work        string
	growthEvery int
	growthTimes int
	profileFor  time.Duration
	repeat      int
	profiledBin string // searchd with a pprof listener
	runs        int    // load runs so far, numbering their JSON files
	skip        map[string]bool
	self        string
	res         results
}

func compareCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("stackbench", flag.ContinueOnError)
	c := &compare{}
	c.lf.define(fs)
	fs.StringVar(&c.corpus, "corpus", "data/debian-docs.jsonl", "corpus file (make bench-data writes it)")
	fs.StringVar(&c.bin, "bin", "bin", "directory holding searchd and searchctl (make build)")
	fs.StringVar(&c.outDir, "out-dir", "data/bench", "directory for the results JSON, logs and profiles")
	fs.StringVar(&c.work, "work", os.TempDir(), "directory for the indexes and databases built (each removed after use)")
	md := fs.String("md", "BENCHMARKS.md", "report to write")
	fs.IntVar(&c.growthEvery, "growth-sample", 10, "the small step of the growth table: one record in every N")
	fs.IntVar(&c.growthTimes, "growth-times", 10, "the large step of the growth table: the corpus repeated N times (0 to skip)")
	fs.DurationVar(&c.profileFor, "profile", 15*time.Second, "how long searchd is profiled under load (0 to skip)")
	fs.IntVar(&c.repeat, "repeat", 3, "run each searchd and in-process search run this many times; the report quotes medians")
	skip := fs.String("skip", "", "parts to leave out, comma-separated: stacksearch, profile, sqlite, postgres, growth")
	from := fs.String("from", "", "only write the report, from the results JSON of an earlier run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from != "" {
		var res results
		if err := readJSON(*from, &res); err != nil {
			return err
		}
		return os.WriteFile(*md, []byte(renderReport(&res)), 0o644)
	}
	c.skip = map[string]bool{}
	for _, s := range strings.Split(*skip, ",") {
		c.skip[strings.TrimSpace(s)] = true
	}
	var err error
	if c.self, err = os.Executable(); err != nil {
		return err
	}
	fi, err := os.Stat(c.corpus)
	if err != nil {
		return fmt.Errorf("corpus: %w (make bench-data writes it)", err)
	}
	qs, err := load.ReadQueries(c.lf.queries)
	if err != nil {
		return err
	}
	for _, name := range []string{"searchd", "searchctl"} {
		if _, err := os.Stat(filepath.Join(c.bin, name)); err != nil {
			return fmt.Errorf("%w (go build -o %s/ ./cmd/searchd ./cmd/searchctl)", err, c.bin)
		}
	}
	if err := os.MkdirAll(filepath.Join(c.outDir, "runs"), 0o755); err != nil {
		return err
	}
	start := time.Now()
	c.res = results{Started: start.UTC(), Machine: readMachine(), Corpus: c.corpus, Bytes: fi.Size(), Queries: len(qs),
		Warmup: c.lf.warmup.String(), Duration: c.lf.duration.String(), Repeat: c.repeat, Source: sourceVersion(ctx)}
	step := func(name string, f func() error) {
		if c.skip[name] || ctx.Err() != nil {
			return
		}
		t := time.Now()
		logf("== %s", name)
		if err := f(); err != nil {
			logf("%s failed: %v", name, err)
			c.res.Problems = append(c.res.Problems, fmt.Sprintf("%s: %v", name, err))
		}
		logf("== %s took %s", name, time.Since(t).Round(time.Second))
	}
	// the profiled searchd is built now, from the same source as the others
	if !c.skip["profile"] && c.profileFor > 0 {
		if c.profiledBin, err = buildProfiled(ctx, filepath.Join(c.outDir, "profile")); err != nil {
			return err
		}
	}
	dataDir := filepath.Join(c.work, fmt.Sprintf("stackbench-searchd-%d", os.Getpid()))
	defer os.RemoveAll(dataDir)
	step("stacksearch", func() error { return c.stacksearch(ctx, dataDir) })
	step("profile", func() error { return c.profile(ctx, dataDir) })
	os.RemoveAll(dataDir)
	step("sqlite", func() error { return c.sqlite(ctx) })
	step("postgres", func() error {
		var err error
		c.res.Postgres, err = benchPostgres(ctx, c.corpus, c.work, qs, c.lf)
		return err
	})
	step("growth", func() error { return c.growth(ctx) })
	c.res.Machine.LoadEnd = loadAverage()
	c.res.Seconds = time.Since(start).Seconds()
	if err := load.WriteJSON(filepath.Join(c.outDir, "results.json"), c.res); err != nil {
		return err
	}
	if err := os.WriteFile(*md, []byte(renderReport(&c.res)), 0o644); err != nil {
		return err
	}
	logf("wrote %s and %s in %s", *md, filepath.Join(c.outDir, "results.json"), time.Since(start).Round(time.Second))
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// sourceVersion names the commit the binaries were built from.
func sourceVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s stackbench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// child runs a subcommand of stackbench in its own process, so that its memory
// is its own, and decodes the JSON it writes into v.
func (c *compare) child(ctx context.Context, name string, v any, args ...string) error {
	c.runs++
	out := filepath.Join(c.outDir, "runs", fmt.Sprintf("%03d-%s.json", c.runs, name))
	args = append(args, "-queries", c.lf.queries, "-warmup", c.lf.warmup.String(), "-duration", c.lf.duration.String(), "-json", out)
	cmd := exec.CommandContext(ctx, c.self, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
	}
	return readJSON(out, v)
}

func (c *compare) sqlite(ctx context.Context) error {
	var r peerResult
	if err := c.child(ctx, "sqlite", &r, "sqlite", "-corpus", c.corpus, "-work", c.work, "-clients", c.lf.clients); err != nil {
		return err
	}
	c.res.SQLite = &r
	return nil
}

// growth measures the small and large steps of the cost-growth table; the
// middle one, the corpus as it is, comes from the in-process runs.
func (c *compare) growth(ctx context.Context) error {
	clients := strings.Split(c.lf.clients, ",")[0]
	type step struct {
		label, file string
		args        []string
	}
	steps := []step{{fmt.Sprintf("1/%d", c.growthEvery), "grow-sample", []string{"-every", fmt.Sprint(c.growthEvery)}}}
	if c.growthTimes > 1 {
		steps = append(steps, step{fmt.Sprintf("%d×", c.growthTimes), "grow-times", []string{"-times", fmt.Sprint(c.growthTimes)}})
	}
	for _, s := range steps {
		var r growResult
		args := append([]string{"grow", "-corpus", c.corpus, "-work", c.work, "-clients", clients, "-label", s.label}, s.args...)
		if err := c.child(ctx, s.file, &r, args...); err != nil {
			return err
		}
		c.res.Growth = append(c.res.Growth, r)
	}
	return nil
}
