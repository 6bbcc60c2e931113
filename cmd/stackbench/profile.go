package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stacksearch/stacksearch/cmd/stackbench/load"
)

// pprofListener is added to searchd's main package at build time with
// `go build -overlay`, so that the profiled binary is searchd itself, its
// source untouched: when STACKSEARCH_PPROF_ADDR is set it serves
// net/http/pprof there, on a listener of its own, and samples lock contention
// and blocking.
const pprofListener = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
)

func init() {
	addr := os.Getenv("STACKSEARCH_PPROF_ADDR")
	if addr == "" {
		return
	}
	runtime.SetMutexProfileFraction(10)
	runtime.SetBlockProfileRate(100000)
	go http.ListenAndServe(addr, nil)
}
`

// profileResult is where searchd's CPU and allocations go under REST load.
type profileResult struct {
	Load       load.Report `json:"load"`
	Dir        string      `json:"dir"`
	CPUSeconds float64     `json:"cpu_seconds"`
	AllocBytes float64     `json:"alloc_bytes"`
	// CPU and Alloc share the samples out among the parts of a search (categories).
	CPU   []share `json:"cpu"`
	Alloc []share `json:"alloc"`
	// Top lists are `go tool pprof -top` outputs.
	CPUTop, CPUCum, AllocTop, MutexTop, BlockTop string
}

// share is the part of a profile's total spent in one category.
type share struct {
	Category string  `json:"category"`
	Value    float64 `json:"value"`
	Percent  float64 `json:"percent"`
}

// categories share a profile's samples out: each sample goes to the first
// category any frame of its stack matches, so the order matters (the more
// specific first) and the shares add up to 100%.
var categories = []struct {
	name string
	re   *regexp.Regexp
}{
	{"garbage collector (background marking, sweeping)", regexp.MustCompile(`^runtime\.(gcBgMarkWorker|bgsweep|bgscavenge)`)},
	{"highlighting (index/highlight.go)", regexp.MustCompile(`stacksearch/index\.(highlightHit|highlight)`)},
	{"facet counting (doc values of every match, Bleve's FacetsBuilder, countFacet)", regexp.MustCompile(
		`collector\.\(\*TopNCollector\)\.visitFieldTerms|bleve/v2/search/facet|search\.\(\*FacetsBuilder\)|stacksearch/index\.\(\*Index\)\.countFacet|stacksearch/index\.facetValues`)},
	{"stored fields (loading hits' fields, loadFields)", regexp.MustCompile(`stacksearch/index\.\(\*Index\)\.loadFields|LoadAndHighlight|\(\*IndexSnapshot\)\.(Document|VisitStoredFields)`)},
	{"query planning (typos, synonyms, prefixes: index/query.go)", regexp.MustCompile(`stacksearch/index\.buildPlan`)},
	{"FAQ answers (index/answer.go)", regexp.MustCompile(`stacksearch/index\.findAnswer`)},
	{"matching and BM25F scoring (postings, Bleve searchers, index/bm25.go, sum.go)", regexp.MustCompile(
		`bleve/v2/search/searcher|stacksearch/index\.\(\*(fieldsSearcher|termSearcher|sumSearcher|fieldPostings)\)|TermFieldReader`)},
	{"collecting the top hits (Bleve's TopNCollector, external ids)", regexp.MustCompile(`bleve/v2/search/collector|ExternalID`)},
	{"other search code (index, Bleve)", regexp.MustCompile(`github\.com/blevesearch/|stacksearch/index\.`)},
	{"JSON encoding (protojson, grpc-gateway)", regexp.MustCompile(`protobuf/encoding/protojson|grpc-gateway/v2/runtime\.\(\*JSONPb\)|encoding/json`)},
	{"protobuf encoding", regexp.MustCompile(`google\.golang\.org/protobuf/`)},
	{"service (interceptors, logging, metrics, analytics)", regexp.MustCompile(`stacksearch/service\.|log/slog|prometheus`)},
	{"gRPC and HTTP/2 transport", regexp.MustCompile(`google\.golang\.org/grpc|golang\.org/x/net/http2`)},
	{"net/http server (REST)", regexp.MustCompile(`^net/http\.|grpc-gateway`)},
	{"network and syscalls", regexp.MustCompile(`^(syscall|internal/poll|net)\.`)},
	{"scheduler and other runtime", regexp.MustCompile(`^runtime\.`)},
}

// profile builds searchd with a pprof listener, serves the persisted index
// with it and profiles it under the heaviest REST load (every facet and
// highlights, the most clients).
func (c *compare) profile(ctx context.Context, dataDir string) error {
	if c.profileFor <= 0 {
		return nil
	}
	if _, err := os.Stat(dataDir); err != nil {
		return errNoIndex
	}
	dir, bin := filepath.Join(c.outDir, "profile"), c.profiledBin
	pprofPort, err := freePort()
	if err != nil {
		return err
	}
	pprofURL := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", pprofPort)
	sd, err := startSearchd(bin, filepath.Join(dir, "searchd.log"), []string{fmt.Sprintf("STACKSEARCH_PPROF_ADDR=127.0.0.1:%d", pprofPort)},
		"-corpus", c.corpus, "-data-dir", dataDir, "-skip-bad")
	if err != nil {
		return err
	}
	defer sd.stop()
	if _, err := sd.waitReady(ctx, 5*time.Minute); err != nil {
		return err
	}
	counts, err := c.lf.clientCounts()
	if err != nil {
		return err
	}
	secs := int(c.profileFor.Seconds())
	saved := c.lf.duration
	c.lf.duration = c.profileFor + 2*time.Second
	defer func() { c.lf.duration = saved }()
	var wg sync.WaitGroup
	var loadErr error
	res := &profileResult{Dir: dir}
	wg.Go(func() {
		res.Load, loadErr = c.searchctlReport(ctx, sd, "rest search full (profiled)", "-protocol", "rest", "-shape", load.ShapeFull,
			"-clients", fmt.Sprint(counts[len(counts)-1]))
	})
	// the profiles start after the load's warm-up and end before it does
	select {
	case <-time.After(c.lf.warmup + time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	kinds := []string{"profile", "allocs", "mutex", "block"}
	errs := make([]error, len(kinds))
	var pw sync.WaitGroup
	for i, kind := range kinds {
		pw.Go(func() {
			errs[i] = fetch(ctx, fmt.Sprintf("%s%s?seconds=%d", pprofURL, kind, secs), filepath.Join(dir, kind+".pprof"))
		})
	}
	pw.Wait()
	wg.Wait()
	if loadErr != nil {
		return loadErr
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	cpu, alloc := filepath.Join(dir, "profile.pprof"), filepath.Join(dir, "allocs.pprof")
	top := func(args ...string) string {
		out, err := pprofTool(ctx, append(args, bin)...)
		if err != nil {
			return err.Error()
		}
		return trimTop(out)
	}
	res.CPUTop = top("-top", "-lines", "-nodecount=25", cpu)
	// the cumulative view without the layers of wrappers every request goes through
	res.CPUCum = top("-top", "-cum", "-nodecount=40", `-show=stacksearch/index\.|blevesearch|protojson|grpc-gateway/v2/runtime\.\(\*JSONPb\)|google\.golang\.org/grpc\.|^runtime\.(mallocgc|gcBgMarkWorker)$`, cpu)
	res.AllocTop = top("-top", "-lines", "-nodecount=20", "-sample_index=alloc_space", alloc)
	res.MutexTop = top("-top", "-nodecount=10", filepath.Join(dir, "mutex.pprof"))
	res.BlockTop = top("-top", "-nodecount=10", filepath.Join(dir, "block.pprof"))
	if res.CPU, res.CPUSeconds, err = categorise(ctx, bin, cpu); err != nil {
		return err
	}
	if res.Alloc, res.AllocBytes, err = categorise(ctx, bin, alloc, "-sample_index=alloc_space"); err != nil {
		return err
	}
	for _, name := range []string{"cpu-top.txt", "alloc-top.txt"} {
		text := res.CPUTop + "\n" + res.CPUCum
		if name == "alloc-top.txt" {
			text = res.AllocTop
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	c.res.Profile = res
	return nil
}

// buildProfiled builds searchd with the pprof listener added by an overlay, in dir.
func buildProfiled(ctx context.Context, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	// the overlay's source lives in a directory the go command's ./... skips
	// (a leading _), since dir may be inside the module
	srcDir := filepath.Join(dir, "_overlay")
	if err := os.MkdirAll(srcDir, 0o755); err != nil {
		return "", err
	}
	src, err := filepath.Abs(filepath.Join(srcDir, "pprof_listener.go"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(src, []byte(pprofListener), 0o644); err != nil {
		return "", err
	}
	overlay := filepath.Join(srcDir, "overlay.json")
	target := filepath.Join(root, "cmd", "searchd", "zz_stackbench_pprof.go")
	if err := os.WriteFile(overlay, fmt.Appendf(nil, `{"Replace": {%q: %q}}`, target, src), 0o644); err != nil {
		return "", err
	}
	bin, err := filepath.Abs(filepath.Join(dir, "searchd-pprof"))
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-overlay", overlay, "-o", bin, "./cmd/searchd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build searchd with pprof: %w\n%s", err, out)
	}
	return bin, nil
}

func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func pprofTool(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go tool pprof %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// trimTop drops the header lines of `pprof -top` that name the binary and the date.
func trimTop(s string) string {
	var keep []string
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Build ID:") || strings.HasPrefix(line, "Time:") {
			continue
		}
		keep = append(keep, strings.TrimRight(line, "\n"))
	}
	return strings.Join(keep, "\n")
}

// categorise reads `pprof -traces` and shares the samples out among categories.
func categorise(ctx context.Context, bin, prof string, args ...string) ([]share, float64, error) {
	out, err := pprofTool(ctx, append(append([]string{"-traces"}, args...), bin, prof)...)
	if err != nil {
		return nil, 0, err
	}
	shares, total := shareTraces(out)
	return shares, total, nil
}

// shareTraces shares out the samples of `pprof -traces` output among categories.
func shareTraces(out string) ([]share, float64) {
	byCat := map[string]float64{}
	var total float64
	var value float64
	var frames []string
	flush := func() {
		if len(frames) == 0 {
			return
		}
		cat := "other"
	find:
		for _, c := range categories {
			for _, f := range frames {
				if c.re.MatchString(f) {
					cat = c.name
					break find
				}
			}
		}
		byCat[cat] += value
		total += value
		frames = frames[:0]
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			flush()
			continue
		}
		// a trace starts with its value before its leaf function ("     10ms   runtime.futex"),
		// the callers follow one a line
		f := strings.Fields(line)
		switch {
		case len(frames) == 0 && len(f) >= 2 && isValue(f[0]):
			value = parseValue(f[0])
			frames = append(frames, f[1])
		case len(frames) > 0 && len(f) >= 1:
			frames = append(frames, f[0])
		}
	}
	flush()
	var shares []share
	for cat, v := range byCat {
		shares = append(shares, share{Category: cat, Value: v, Percent: 100 * v / max(total, 1e-9)})
	}
	slices.SortFunc(shares, func(a, b share) int {
		switch {
		case a.Value > b.Value:
			return -1
		case a.Value < b.Value:
			return 1
		}
		return strings.Compare(a.Category, b.Category)
	})
	return shares, total
}

var valueRE = regexp.MustCompile(`^([0-9.]+)([a-zA-Zµ]*)$`)

func isValue(s string) bool { return valueRE.MatchString(s) }

// parseValue reads a pprof value such as 10ms, 1.50s, 512kB or 3.2MB, in
// seconds or bytes.
func parseValue(s string) float64 {
	m := valueRE.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	scale := map[string]float64{"": 1, "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "mins": 60, "hrs": 3600,
		"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[m[2]]
	return v * scale
}
