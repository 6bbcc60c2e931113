// Package load is the measuring part of Stacksearch's benchmarks: the query
// file, a closed-loop load of concurrent clients for a fixed duration after a
// warm-up, and the report (throughput, latency percentiles, errors, the load's
// own CPU). `searchctl bench` drives it against a running server; cmd/stackbench
// drives it against in-process Bleve, SQLite FTS5 and PostgreSQL, so every
// figure in BENCHMARKS.md is measured by the same code.
package load

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Query is one line of a query file: the text typed, the filters chosen and
// the facets to count.
type Query struct {
	Text    string              `json:"text"`
	Filters map[string][]string `json:"filters,omitempty"`
	Facets  []string            `json:"facets,omitempty"`
}

// ReadQueries reads a query file: one query a line, tab-separated columns of
// the text, the filters as a URL query string (languages=Python&frameworks=Django)
// and the facets, comma-separated; the last two are optional. Blank lines and
// lines starting with # are skipped.
func ReadQueries(path string) ([]Query, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var qs []Query
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		q := Query{Text: cols[0]}
		if len(cols) > 1 && cols[1] != "" {
			v, err := url.ParseQuery(cols[1])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: filters: %w", path, n, err)
			}
			q.Filters = v
		}
		if len(cols) > 2 && cols[2] != "" {
			q.Facets = strings.Split(cols[2], ",")
		}
		qs = append(qs, q)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("%s: no queries", path)
	}
	return qs, nil
}

// Prefix returns the query as typed half-way through its last word (at least
// two characters of it), as a search box sends it for suggestions.
func Prefix(text string) string {
	i := strings.LastIndexByte(text, ' ') + 1
	last := []rune(text[i:])
	keep := max(2, (len(last)+1)/2)
	if keep >= len(last) {
		return text
	}
	return text[:i] + string(last[:keep])
}

// Config is the shape of one load run.
type Config struct {
	// Clients is the number of concurrent clients, each sending its next
	// request as soon as the previous one is answered (a closed loop).
	Clients int
	// Warmup is run first and not measured.
	Warmup time.Duration
	// Duration is the measured time.
	Duration time.Duration
	// ServerPIDs, when set, are the processes on this machine whose CPU over
	// the measured time is reported: the server under load.
	ServerPIDs []int
}

// Do sends one request: client is the client's number, i its request count,
// so that a client can walk the query list from its own starting place.
type Do func(ctx context.Context, client, i int) error

// Report is what one load run measured. Latencies are in milliseconds.
type Report struct {
	Name       string  `json:"name"`
	Clients    int     `json:"clients"`
	Seconds    float64 `json:"seconds"`
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	Throughput float64 `json:"throughput"` // answered requests a second
	Mean       float64 `json:"mean_ms"`
	P50        float64 `json:"p50_ms"`
	P95        float64 `json:"p95_ms"`
	P99        float64 `json:"p99_ms"`
	Max        float64 `json:"max_ms"`
	// LoadCPU is the CPU the measuring process itself used, in cores (1.0 is
	// one core busy): on a small machine the load competes with what it measures.
	LoadCPU float64 `json:"load_cpu"`
	// ServerCPU is the CPU of Config.ServerPIDs over the measured time, in cores.
	ServerCPU float64 `json:"server_cpu,omitempty"`
	// OtherCPU is the CPU every other process on the machine used over the
	// measured time, in cores: on a shared machine, what competed with the run.
	OtherCPU float64 `json:"other_cpu"`
	// FirstErrors holds the first few error messages.
	FirstErrors []string `json:"first_errors,omitempty"`
}

// Run runs cfg.Clients clients calling do for cfg.Warmup and then
// cfg.Duration, and reports on the requests that started and ended within the
// measured time. It stops early when ctx is cancelled.
func Run(ctx context.Context, cfg Config, do Do) Report {
	clients := max(cfg.Clients, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	from, until := start.Add(cfg.Warmup), start.Add(cfg.Warmup+cfg.Duration)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		samples = make([][]time.Duration, clients)
		errs    int
		first   []string
	)
	var cpuFrom, serverFrom, machineFrom time.Duration
	armed := make(chan struct{})
	go func() {
		select {
		case <-time.After(time.Until(from)):
			cpuFrom, machineFrom = selfCPU(), machineCPU()
			serverFrom = ProcessCPU(cfg.ServerPIDs...)
		case <-ctx.Done():
		}
		close(armed)
	}()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			for i := 0; ; i++ {
				t0 := time.Now()
				if !t0.Before(until) || ctx.Err() != nil {
					break
				}
				err := do(ctx, c, i)
				t1 := time.Now()
				if t0.Before(from) || t1.After(until) {
					continue
				}
				if err != nil {
					mu.Lock()
					errs++
					if len(first) < 5 {
						first = append(first, err.Error())
					}
					mu.Unlock()
					continue
				}
				lat = append(lat, t1.Sub(t0))
			}
			samples[c] = lat
		}()
	}
	wg.Wait()
	<-armed
	cpuUntil, machineUntil := selfCPU(), machineCPU()
	serverUntil := ProcessCPU(cfg.ServerPIDs...)
	elapsed := min(time.Since(from), cfg.Duration)
	all := slices.Concat(samples...)
	r := Report{Clients: clients, Seconds: elapsed.Seconds(), Requests: len(all), Errors: errs, FirstErrors: first}
	if elapsed > 0 {
		r.Throughput = float64(len(all)) / elapsed.Seconds()
		r.LoadCPU = (cpuUntil - cpuFrom).Seconds() / elapsed.Seconds()
		if serverFrom > 0 {
			r.ServerCPU = (serverUntil - serverFrom).Seconds() / elapsed.Seconds()
		}
		if machineFrom > 0 {
			r.OtherCPU = max(0, (machineUntil-machineFrom).Seconds()/elapsed.Seconds()-r.LoadCPU-r.ServerCPU)
		}
	}
	if len(all) > 0 {
		slices.Sort(all)
		var sum time.Duration
		for _, d := range all {
			sum += d
		}
		r.Mean = ms(sum / time.Duration(len(all)))
		r.P50, r.P95, r.P99 = ms(percentile(all, 50)), ms(percentile(all, 95)), ms(percentile(all, 99))
		r.Max = ms(all[len(all)-1])
	}
	return r
}

// percentile returns the p-th percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	k := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// selfCPU returns the user and system CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineCPU returns the CPU time all processes have used, from /proc/stat
// (Linux): every CPU's time but idle and waiting for I/O; 0 when unreadable.
func machineCPU() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	// user nice system idle iowait irq softirq steal; guest time is counted in user
	for i, v := range f[1:min(len(f), 9)] {
		var n int64
		fmt.Sscan(v, &n)
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(busy) * time.Second / ticks
}

// ProcessCPU returns the user and system CPU time the processes pids have
// used, from /proc (Linux); a process that cannot be read counts 0.
func ProcessCPU(pids ...int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// the command name, in parentheses, may hold spaces: fields start after it
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		var utime, stime int64
		fmt.Sscan(f[11], &utime)
		fmt.Sscan(f[12], &stime)
		const ticks = 100 // USER_HZ on Linux
		total += time.Duration(utime+stime) * time.Second / ticks
	}
	return total
}

// Memory is the resident memory of a process, or of a group of processes, in bytes.
type Memory struct {
	// RSS adds up each process's resident set; pages shared between the
	// processes (PostgreSQL's shared buffers) count once per process.
	RSS int64 `json:"rss"`
	// PSS adds up each process's proportional share: shared pages count once in all.
	PSS int64 `json:"pss"`
	// Peak is the largest resident set any of the processes reached (VmHWM).
	Peak int64 `json:"peak"`
	// Processes is how many processes were counted.
	Processes int `json:"processes"`
}

// MemoryOf reads the resident memory of the processes pids from /proc (Linux).
func MemoryOf(pids ...int) Memory {
	var m Memory
	for _, pid := range pids {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		m.Processes++
		m.RSS += procKB(string(status), "VmRSS:")
		m.Peak = max(m.Peak, procKB(string(status), "VmHWM:"))
		if rollup, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
			m.PSS += procKB(string(rollup), "Pss:")
		}
	}
	return m
}

// procKB returns the value in kB of the first line of a /proc file starting with key, in bytes.
func procKB(text, key string) int64 {
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, key); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(rest), &kb)
			return kb << 10
		}
	}
	return 0
}

// WriteJSON writes v to path as indented JSON.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Summary is a one-line human summary of a report.
func (r Report) Summary() string {
	s := fmt.Sprintf("%-28s %3d clients  %8.1f req/s  p50 %7.2f ms  p95 %7.2f ms  p99 %7.2f ms  max %7.2f ms  errors %d  load cpu %.2f",
		r.Name, r.Clients, r.Throughput, r.P50, r.P95, r.P99, r.Max, r.Errors, r.LoadCPU)
	if r.ServerCPU > 0 {
		s += fmt.Sprintf("  server cpu %.2f", r.ServerCPU)
	}
	s += fmt.Sprintf("  other cpu %.2f", r.OtherCPU)
	return s
}

// Shapes of the search requests made from a query file's lines.
const (
	// ShapePlain is the words alone: no filters, no facets, no highlights.
	ShapePlain = "plain"
	// ShapeBox is the line as written: words, its filters and its facets, with
	// highlights: what the search box sends.
	ShapeBox = "box"
	// ShapeFull is the words and filters with all four facet fields counted
	// and highlights, on every search.
	ShapeFull = "full"
)

// AllFacets are the facet fields ShapeFull counts.
var AllFacets = []string{"languages", "frameworks", "databases", "topics"}

// Request is a query in a shape.
type Request struct {
	Query
	// Highlight asks for highlights and a snippet per hit.
	Highlight bool
}

// Shape makes the request of shape for q.
func Shape(q Query, shape string) (Request, error) {
	switch shape {
	case ShapePlain:
		return Request{Query: Query{Text: q.Text}}, nil
	case ShapeBox:
		return Request{Query: q, Highlight: true}, nil
	case ShapeFull:
		q.Facets = AllFacets
		return Request{Query: q, Highlight: true}, nil
	}
	return Request{}, fmt.Errorf("unknown shape %q: use %s, %s or %s", shape, ShapePlain, ShapeBox, ShapeFull)
}

// Shapes makes the requests of shape for qs.
func Shapes(qs []Query, shape string) ([]Request, error) {
	out := make([]Request, len(qs))
	for i, q := range qs {
		r, err := Shape(q, shape)
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

// Pick returns the request client c sends as its i-th: clients walk the list
// from different places, so they do not send the same query at once.
func Pick[T any](list []T, client, i int) T {
	return list[(client*7919+i)%len(list)]
}

// MemoryOfLine reads a /proc line such as "MemTotal:  24683212 kB" in bytes.
func MemoryOfLine(line string) int64 {
	key, _, _ := strings.Cut(line, ":")
	return procKB(line, key+":")
}
