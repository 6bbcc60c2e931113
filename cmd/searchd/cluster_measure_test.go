package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// TestMeasureCluster measures what issue 10's closing note reports, on the
// Debian documentation corpus (make bench-data; STACKSEARCH_MEASURE_CORPUS
// names another): three replicas on a three-node NATS cluster; the first
// snapshot's build, publish and download; replication lag from an
// acknowledged write to visible on every replica; a reindex's publish and
// swaps; and search throughput through HAProxy with 1, 2 and 3 replicas
// (searchctl bench). It runs only with STACKSEARCH_MEASURE=1, without the
// race detector for figures that mean something:
//
//	STACKSEARCH_MEASURE=1 go test ./cmd/searchd -run TestMeasureCluster -v -timeout 30m
func TestMeasureCluster(t *testing.T) {
	if os.Getenv("STACKSEARCH_MEASURE") != "1" {
		t.Skip("set STACKSEARCH_MEASURE=1 to measure")
	}
	corpusPath := os.Getenv("STACKSEARCH_MEASURE_CORPUS")
	if corpusPath == "" {
		corpusPath = "../../data/debian-docs.jsonl"
	}
	corpusPath, _ = filepath.Abs(corpusPath)
	if _, err := os.Stat(corpusPath); err != nil {
		t.Skipf("no corpus at %s: run make bench-data", corpusPath)
	}
	ctx := context.Background()
	actx := adminCtx(ctx, testToken)
	nc := startNATSCluster(t, 3)
	start := time.Now()
	rs := startReplicas(t, nc.url(), 3, "-corpus", corpusPath)
	t.Logf("three replicas ready %v after starting on an empty cluster (race detector %v)", time.Since(start).Round(time.Millisecond), raceEnabled)
	logTook(t, rs.nodes[0], "built index", "replica 1: first build from the corpus")
	logTook(t, rs.nodes[0], "published snapshot", "replica 1: snapshot copied and uploaded")
	for j := 1; j < 3; j++ {
		logTook(t, rs.nodes[j], "downloaded snapshot", fmt.Sprintf("replica %d: downloaded, verified and opened", j+1))
		logTook(t, rs.nodes[j], "serving snapshot", fmt.Sprintf("replica %d: from pointer seen to serving", j+1))
	}

	t.Run("replication lag", func(t *testing.T) {
		var lags []time.Duration
		for i := range 300 {
			id := fmt.Sprintf("lag-%d", i)
			res, err := rs.nodes[i%3].admin.UpsertDocuments(actx, &pb.UpsertDocumentsRequest{Documents: []*pb.Document{
				{Id: id, Title: "Replication lag probe " + id, Body: "kinkajou"}}})
			if err != nil {
				t.Fatal(err)
			}
			acked := time.Now()
			var wg sync.WaitGroup
			for _, s := range rs.nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := s.search.Search(ctx, &pb.SearchRequest{Query: "kinkajou", PageSize: 1, MinSequence: res.Sequence}); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			lags = append(lags, time.Since(acked))
		}
		slices.Sort(lags)
		t.Logf("acknowledged write (one document) to visible on all 3 replicas, %d writes through rotating replicas, "+
			"one at a time, measured as concurrent min_sequence searches on the three: p50 %v, p99 %v, max %v",
			len(lags), lags[len(lags)/2], lags[len(lags)*99/100], lags[len(lags)-1])
		for j, s := range rs.nodes {
			sum, n := metricValue(t, s, "stacksearch_replication_delay_seconds_sum"), metricValue(t, s, "stacksearch_replication_delay_seconds_count")
			t.Logf("replica %d: stream stored to applied, mean %v over %v batches", j+1, time.Duration(sum/n*float64(time.Second)), n)
		}
	})

	t.Run("reindex", func(t *testing.T) {
		start := time.Now()
		op, err := rs.nodes[1].admin.Reindex(actx, &pb.ReindexRequest{})
		if err != nil {
			t.Fatal(err)
		}
		op = waitOperation(t, rs.nodes[1], op.Name)
		if op.Error != nil {
			t.Fatal(op.Error)
		}
		done := time.Since(start)
		cl, err := rs.nodes[1].admin.GetCluster(actx, &pb.GetClusterRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for j, s := range rs.nodes {
			waitFor(t, "every replica serves the new snapshot", func() bool {
				info, err := s.admin.GetIndex(actx, &pb.GetIndexRequest{})
				return err == nil && info.Snapshot == cl.CurrentSnapshot
			})
			t.Logf("replica %d serves %s %v after the reindex was requested", j+1, cl.CurrentSnapshot, time.Since(start).Round(time.Millisecond))
		}
		t.Logf("reindex of %d documents: operation done after %v (build %.1f s)", op.Result.DocumentCount, done.Round(time.Millisecond), op.Result.BuildSeconds)
		logTook(t, rs.nodes[1], "published snapshot", "replica 2: snapshot copied and uploaded")
		for _, j := range []int{0, 2} {
			logTook(t, rs.nodes[j], "downloaded snapshot", fmt.Sprintf("replica %d: downloaded, verified and opened", j+1))
			logTook(t, rs.nodes[j], "serving snapshot", fmt.Sprintf("replica %d: from pointer seen to serving", j+1))
		}
	})

	t.Run("throughput", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "searchctl")
		if out, err := exec.Command("go", "build", "-o", bin, "../searchctl").CombinedOutput(); err != nil {
			t.Fatalf("build searchctl: %v\n%s", err, out)
		}
		for n := 1; n <= 3; n++ {
			lb := startHAProxy(t, rs.http[:n])
			out, err := exec.Command(bin, "bench", "-protocol", "rest", "-rest", "http://"+lb.addr, "-clients", "16",
				"-duration", "20s", "-warmup", "3s", "-queries", "../../testdata/bench-queries.tsv").CombinedOutput()
			if err != nil {
				t.Fatalf("searchctl bench: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			t.Logf("%d replica(s) behind HAProxy: %s", n, lines[len(lines)-1])
			lb.cmd.Process.Kill()
			lb.cmd.Wait()
		}
	})
}

// lastLog returns the last log record of s whose msg is msg.
func lastLog(s *testServer, msg string) map[string]any {
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	for i := len(s.logs.lines) - 1; i >= 0; i-- {
		var rec map[string]any
		if json.Unmarshal([]byte(s.logs.lines[i]), &rec) == nil && rec["msg"] == msg {
			return rec
		}
	}
	return nil
}

// logTook logs how long the last log record msg of s says its work took, and
// the size of what it moved when it says.
func logTook(t *testing.T, s *testServer, msg, what string) {
	t.Helper()
	rec := lastLog(s, msg)
	if rec == nil {
		t.Logf("%s: no %q log line", what, msg)
		return
	}
	took, _ := rec["took"].(float64)
	if bytes, ok := rec["bytes"].(float64); ok {
		t.Logf("%s: %.0f MB in %v", what, bytes/1e6, time.Duration(took).Round(time.Millisecond))
		return
	}
	t.Logf("%s: %v", what, time.Duration(took).Round(time.Millisecond))
}
