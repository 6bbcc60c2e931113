package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/stacksearch/stacksearch/cmd/stackbench/load"
	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// adminToken is the admin secret of the searchd processes the benchmark starts.
const adminToken = "stackbench"

// searchd is a searchd process on loopback ports chosen for it.
type searchd struct {
	cmd      *exec.Cmd
	grpcAddr string
	restURL  string
	started  time.Time
	done     chan struct{} // closed when the process has exited
	err      error         // how it exited, once done is closed
	stopOnce sync.Once
}

// startSearchd starts bin with args, logging to logPath.
func startSearchd(bin, logPath string, env []string, args ...string) (*searchd, error) {
	gp, err := freePort()
	if err != nil {
		return nil, err
	}
	hp, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &searchd{grpcAddr: fmt.Sprintf("127.0.0.1:%d", gp), restURL: fmt.Sprintf("http://127.0.0.1:%d", hp), done: make(chan struct{})}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args = append([]string{"-grpc-addr", s.grpcAddr, "-http-addr", s.restURL[len("http://"):], "-log-json"}, args...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.Env = append(append(os.Environ(), "STACKSEARCH_ADMIN_TOKEN="+adminToken), env...)
	s.started = time.Now()
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		s.err = s.cmd.Wait()
		logf.Close()
		close(s.done)
	}()
	return s, nil
}

func (s *searchd) pid() int { return s.cmd.Process.Pid }

// waitReady waits until /readyz answers 200 and returns the time since start.
func (s *searchd) waitReady(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.restURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(s.started), nil
			}
		}
		select {
		case <-s.done:
			return 0, fmt.Errorf("searchd exited: %v (see its log)", s.err)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("searchd not ready after %s", timeout)
}

// stop asks searchd to shut down and waits for it; stopping it again does nothing.
func (s *searchd) stop() {
	s.stopOnce.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// admin calls searchd's admin API.
func (s *searchd) admin() (pb.AdminServiceClient, func(), error) {
	cc, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	return pb.NewAdminServiceClient(cc), func() { cc.Close() }, nil
}

func adminCtx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+adminToken)
}

// stacksearch builds the corpus with searchd, reindexes it, restarts searchd on
// the persisted index and runs every load against it.
func (c *compare) stacksearch(ctx context.Context, dataDir string) error {
	r := &c.res.Stacksearch
	bin := filepath.Join(c.bin, "searchd")
	// -skip-bad: the corpus has a record with an empty title, which a build refuses
	sd, err := startSearchd(bin, filepath.Join(c.outDir, "searchd-build.log"), nil, "-corpus", c.corpus, "-data-dir", dataDir, "-skip-bad")
	if err != nil {
		return err
	}
	defer sd.stop()
	if _, err := sd.waitReady(ctx, 15*time.Minute); err != nil {
		return err
	}
	admin, closeAdmin, err := sd.admin()
	if err != nil {
		return err
	}
	defer closeAdmin()
	info, err := admin.GetIndex(adminCtx(ctx), &pb.GetIndexRequest{})
	if err != nil {
		return err
	}
	r.Documents, r.BuildSeconds = int(info.GetDocumentCount()), info.GetBuildSeconds()
	r.BuildPeak = load.MemoryOf(sd.pid()).Peak
	logf("searchd built %d documents in %.1fs (%.0f/s), peak RSS %.0f MB", r.Documents, r.BuildSeconds,
		float64(r.Documents)/r.BuildSeconds, float64(r.BuildPeak)/1e6)

	op, err := admin.Reindex(adminCtx(ctx), &pb.ReindexRequest{})
	if err != nil {
		return err
	}
	for !op.GetDone() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if op, err = admin.GetOperation(adminCtx(ctx), &pb.GetOperationRequest{Name: op.GetName()}); err != nil {
			return err
		}
	}
	if e := op.GetError(); e != nil {
		return fmt.Errorf("reindex: %s", e.GetMessage())
	}
	r.Reindex, r.ReindexSecs = int(op.GetResult().GetDocumentCount()), op.GetResult().GetBuildSeconds()
	logf("searchd reindexed %d documents in %.1fs (%.0f/s)", r.Reindex, r.ReindexSecs, float64(r.Reindex)/r.ReindexSecs)
	closeAdmin()
	sd.stop()

	// serve the persisted index: the start-up time is the reopen time
	sd, err = startSearchd(bin, filepath.Join(c.outDir, "searchd-serve.log"), nil, "-corpus", c.corpus, "-data-dir", dataDir, "-skip-bad")
	if err != nil {
		return err
	}
	defer sd.stop()
	took, err := sd.waitReady(ctx, 5*time.Minute)
	if err != nil {
		return err
	}
	r.ReopenSeconds = took.Seconds()
	r.OpenSeconds = openTook(filepath.Join(c.outDir, "searchd-serve.log"))
	logf("searchd reopened the index in %.3fs and was ready %.3fs after it started", r.OpenSeconds, r.ReopenSeconds)

	// in-process runs need an index of their own: searchd holds its directory locked
	inprocDir := dataDir + "-inproc"
	defer os.RemoveAll(inprocDir)
	if out, err := exec.CommandContext(ctx, "cp", "-a", dataDir, inprocDir).CombinedOutput(); err != nil {
		return fmt.Errorf("copy the index: %w: %s", err, out)
	}
	c.res.InProcess = &inprocResult{}

	counts, err := c.lf.clientCounts()
	if err != nil {
		return err
	}
	for _, proto := range []string{"grpc", "rest"} {
		for _, n := range counts {
			if err := c.searchctl(ctx, sd, proto+" noop", "-protocol", proto, "-noop", "-clients", fmt.Sprint(n)); err != nil {
				return err
			}
		}
	}
	// each in-process run is followed at once by the same run over gRPC and
	// REST, so that a ratio compares runs close in time on a shared machine
	for rep := range c.repeat {
		for _, shape := range []string{load.ShapePlain, load.ShapeBox, load.ShapeFull} {
			for _, n := range counts {
				if err := c.inprocRun(ctx, inprocDir, fmt.Sprintf("inproc-%s-%d-%d", shape, n, rep), "-shapes", shape, "-clients", fmt.Sprint(n), "-suggest-clients", "0"); err != nil {
					return err
				}
				for _, proto := range []string{"grpc", "rest"} {
					if err := c.searchctl(ctx, sd, proto+" search "+shape, "-protocol", proto, "-shape", shape, "-clients", fmt.Sprint(n)); err != nil {
						return err
					}
				}
			}
		}
	}
	n := counts[len(counts)-1]
	if err := c.inprocRun(ctx, inprocDir, "inproc-suggest", "-shapes", "", "-suggest-clients", fmt.Sprint(n)); err != nil {
		return err
	}
	for _, proto := range []string{"grpc", "rest"} {
		if err := c.searchctl(ctx, sd, proto+" suggest", "-protocol", proto, "-suggest", "-clients", fmt.Sprint(n)); err != nil {
			return err
		}
	}
	r.Memory = load.MemoryOf(sd.pid())
	r.SizeBytes = dirSize(dataDir)
	return nil
}

// inprocRun runs the inproc subcommand on dir and adds its runs to the results.
func (c *compare) inprocRun(ctx context.Context, dir, file string, args ...string) error {
	var r inprocResult
	if err := c.child(ctx, file, &r, append([]string{"inproc", "-data-dir", dir}, args...)...); err != nil {
		return err
	}
	in := c.res.InProcess
	in.Runs = append(in.Runs, r.Runs...)
	in.OpenSeconds = r.OpenSeconds
	if r.Memory.PSS > in.Memory.PSS { // the most any run's process held
		in.Memory = r.Memory
	}
	return nil
}

// searchctl runs `searchctl bench` against sd and adds its report to the results.
func (c *compare) searchctl(ctx context.Context, sd *searchd, name string, args ...string) error {
	rep, err := c.searchctlReport(ctx, sd, name, args...)
	if err == nil {
		c.res.Stacksearch.Runs = append(c.res.Stacksearch.Runs, rep)
	}
	return err
}

// searchctlReport runs `searchctl bench` against sd and returns its report.
func (c *compare) searchctlReport(ctx context.Context, sd *searchd, name string, args ...string) (load.Report, error) {
	c.runs++
	out := filepath.Join(c.outDir, "runs", fmt.Sprintf("%03d-%s.json", c.runs, strings.ReplaceAll(name, " ", "-")))
	args = append([]string{"-addr", sd.grpcAddr, "bench", "-rest", sd.restURL, "-queries", c.lf.queries,
		"-warmup", c.lf.warmup.String(), "-duration", c.lf.duration.String(),
		"-server-pid", fmt.Sprint(sd.pid()), "-name", name, "-json", out}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "searchctl"), args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return load.Report{}, fmt.Errorf("searchctl bench %s: %w", name, err)
	}
	var rep load.Report
	err := readJSON(out, &rep)
	return rep, err
}

func readJSON(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// openTook reads how long opening the index took from searchd's JSON log
// (the "opened index" line's took, in nanoseconds); 0 when it is not there.
func openTook(logPath string) float64 {
	raw, err := os.ReadFile(logPath)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(raw)) {
		var entry struct {
			Msg  string  `json:"msg"`
			Took float64 `json:"took"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "opened index" {
			return entry.Took / 1e9
		}
	}
	return 0
}

// errNoIndex is returned by parts that need the index the stacksearch part builds.
var errNoIndex = errors.New("no index: the stacksearch part builds it")
