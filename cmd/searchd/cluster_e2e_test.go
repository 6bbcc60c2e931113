package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// TestCluster runs three searchd replicas on a three-node NATS JetStream
// cluster, REST behind HAProxy and gRPC balanced round_robin, with 16 clients
// searching throughout, through writes, reindexes, a replica killed, the NATS
// stream leader stopped and NATS down entirely. No search may fail.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("the cluster test runs three replicas and three NATS servers")
	}
	nc := startNATSCluster(t, 3)
	rs := startReplicas(t, nc.url(), 3)
	lb := startHAProxy(t, rs.http)
	load := startClusterLoad(lb.addr, roundRobin(t, rs.grpc), 16)
	defer load.stop()
	ctx := context.Background()
	actx := adminCtx(ctx, testToken)
	checkPhase := func(t *testing.T, what string) {
		t.Helper()
		searches, failures, errs := load.phase()
		for msg, n := range errs {
			t.Logf("failed %d times: %s", n, msg)
		}
		t.Logf("%s: %d searches by 16 clients, %d failed", what, searches, failures)
		if failures > 0 || searches == 0 {
			t.Errorf("%d of %d searches failed %s", failures, searches, what)
		}
	}
	load.phase()

	t.Run("a write through one replica is found on the other two within a second", func(t *testing.T) {
		var lags []time.Duration
		for i := range 12 {
			via := rs.nodes[i%3]
			id := fmt.Sprintf("replicated-%d", i)
			res, err := via.admin.UpsertDocuments(actx, &pb.UpsertDocumentsRequest{Documents: []*pb.Document{
				{Id: id, Title: "Replicated quokka " + id, Body: "A quokka travels between replicas."}}})
			if err != nil {
				t.Fatal(err)
			}
			acked := time.Now()
			if res.Sequence <= 0 {
				t.Fatalf("upsert answered sequence %d", res.Sequence)
			}
			var worst time.Duration
			for j, s := range rs.nodes {
				if s == via {
					continue
				}
				for {
					if _, err := s.search.GetDocument(ctx, &pb.GetDocumentRequest{Id: id}); err == nil {
						break
					}
					if time.Since(acked) > time.Second {
						t.Fatalf("%s written through replica %d is not on replica %d a second after the write was acknowledged", id, i%3+1, j+1)
					}
					time.Sleep(2 * time.Millisecond)
				}
				worst = max(worst, time.Since(acked))
			}
			lags = append(lags, worst)
			// read your write anywhere: a search with min_sequence sees it
			if got := searchIDsGRPC(t, rs.nodes[(i+1)%3], "quokka", res.Sequence); !slices.Contains(got, id) {
				t.Errorf("search with min_sequence %d on the next replica = %v, want %s", res.Sequence, got, id)
			}
		}
		slices.Sort(lags)
		t.Logf("acknowledged write to found on both other replicas (polled under load, race detector %v): median %v, max %v",
			raceEnabled, lags[len(lags)/2], lags[len(lags)-1])
		for j, s := range rs.nodes {
			sum, n := metricValue(t, s, "stacksearch_replication_delay_seconds_sum"), metricValue(t, s, "stacksearch_replication_delay_seconds_count")
			t.Logf("replica %d: %v batches applied, %v after the stream stored them on average", j+1, n, time.Duration(sum/n*float64(time.Second)))
		}
		// a delete replicates too, and the cluster says who applied what
		res, err := rs.nodes[2].admin.DeleteDocument(actx, &pb.DeleteDocumentRequest{Id: "replicated-0"})
		if err != nil || res.Sequence <= 0 {
			t.Fatalf("delete: %v, %v", res, err)
		}
		for _, s := range rs.nodes {
			if got := searchIDsGRPC(t, s, "quokka", res.Sequence); slices.Contains(got, "replicated-0") {
				t.Errorf("replicated-0 deleted at %d is still found", res.Sequence)
			}
		}
		waitFor(t, "every replica reports the last sequence in GET /v1/cluster", func() bool {
			var cl struct {
				Replicas []struct {
					NodeID          string `json:"node_id"`
					AppliedSequence int64  `json:"applied_sequence,string"`
					Ready           bool   `json:"ready"`
				} `json:"replicas"`
				StreamSequence int64 `json:"stream_sequence,string"`
			}
			if code := rs.nodes[1].rest("GET", "/v1/cluster", testToken, nil, &cl); code != 200 {
				return false
			}
			ok := len(cl.Replicas) == 3 && cl.Replicas[0].NodeID == "replica-2" && cl.StreamSequence == res.Sequence
			for _, r := range cl.Replicas {
				ok = ok && r.Ready && r.AppliedSequence == res.Sequence
			}
			return ok
		})
		checkPhase(t, "while writing")
	})

	versions := map[string]bool{}
	t.Run("five reindexes move every replica to each new snapshot", func(t *testing.T) {
		for i := range 5 {
			builder, other := rs.nodes[i%3], rs.nodes[(i+1)%3]
			op, err := builder.admin.Reindex(actx, &pb.ReindexRequest{})
			if err != nil {
				t.Fatal(err)
			}
			// a second request, on another replica, joins the running reindex
			joined, err := other.admin.Reindex(actx, &pb.ReindexRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if joined.Name != op.Name && !joined.Done {
				t.Errorf("reindex on replica %d while %s runs started %s", (i+1)%3+1, op.Name, joined.Name)
			}
			// and follows it to its end
			op = waitOperation(t, other, op.Name)
			if op.Error != nil || op.Result.GetDocumentCount() == 0 {
				t.Fatalf("reindex %d: %v", i, op)
			}
			cl, err := builder.admin.GetCluster(actx, &pb.GetClusterRequest{})
			if err != nil {
				t.Fatal(err)
			}
			current := cl.CurrentSnapshot
			if versions[current] {
				t.Fatalf("reindex %d left snapshot %s current", i, current)
			}
			versions[current] = true
			for j, s := range rs.nodes {
				waitFor(t, fmt.Sprintf("replica %d serves snapshot %s", j+1, current), func() bool {
					info, err := s.admin.GetIndex(actx, &pb.GetIndexRequest{})
					return err == nil && info.Snapshot == current && info.Cluster && info.NatsConnected && info.ApiChanges == 12
				})
			}
			// the API's writes are kept on top of the corpus
			if got := searchIDsGRPC(t, rs.nodes[(i+2)%3], "quokka", 0); len(got) != 11 {
				t.Errorf("after reindex %d: %d API documents found, want 11", i, len(got))
			}
		}
		checkPhase(t, "during 5 reindexes")
	})

	t.Run("kill -9 of a replica loses no search, and it catches up", func(t *testing.T) {
		rs.kill(1)
		var ids []string
		var last int64
		for i := range 10 {
			id := fmt.Sprintf("while-down-%d", i)
			res, err := rs.nodes[i%2*2].admin.UpsertDocuments(actx, &pb.UpsertDocumentsRequest{Documents: []*pb.Document{
				{Id: id, Title: "Written while a replica was down", Body: "wombat"}}})
			if err != nil {
				t.Fatal(err)
			}
			ids, last = append(ids, id), res.Sequence
			time.Sleep(50 * time.Millisecond)
		}
		checkPhase(t, "with a replica killed")
		rs.start(1) // ready only once caught up
		s := rs.nodes[1]
		info, err := s.admin.GetIndex(actx, &pb.GetIndexRequest{})
		if err != nil || info.AppliedSequence < last {
			t.Fatalf("the restarted replica is ready at sequence %d, want at least %d (%v)", info.GetAppliedSequence(), last, err)
		}
		for _, id := range ids {
			if _, err := s.search.GetDocument(ctx, &pb.GetDocumentRequest{Id: id}); err != nil {
				t.Errorf("%s, written while the replica was down: %v", id, err)
			}
		}
		if info.Snapshot == "" || !versions[info.Snapshot] {
			t.Errorf("the restarted replica serves %q, not the current snapshot", info.Snapshot)
		}
		checkPhase(t, "while the replica restarted")
	})

	t.Run("stopping the NATS stream leader loses no acknowledged write", func(t *testing.T) {
		var mu sync.Mutex
		acked := map[string]int64{}
		failed := 0
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("leader-%d-%d", w, i)
					wctx, cancel := context.WithTimeout(actx, 15*time.Second)
					res, err := rs.nodes[w*2].admin.UpsertDocuments(wctx, &pb.UpsertDocumentsRequest{Documents: []*pb.Document{
						{Id: id, Title: "Written around a NATS election", Body: "numbat"}, {Id: id + "-b", Title: "Its pair", Body: "numbat"}}})
					cancel()
					mu.Lock()
					if err == nil {
						acked[id], acked[id+"-b"] = res.Sequence, res.Sequence
					} else {
						if status.Code(err) != codes.Unavailable {
							t.Errorf("write during the election: %v, want Unavailable", err)
						}
						failed++
					}
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			}()
		}
		time.Sleep(500 * time.Millisecond)
		leader := nc.streamLeader()
		nc.stop(leader)
		t.Logf("stopped nats-%d, the stream leader", leader+1)
		time.Sleep(3 * time.Second)
		nc.start(leader)
		time.Sleep(time.Second)
		close(stop)
		wg.Wait()
		var last int64
		for _, seq := range acked {
			last = max(last, seq)
		}
		t.Logf("%d writes acknowledged, %d refused while the stream elected a new leader", len(acked)/2, failed)
		if len(acked) == 0 {
			t.Fatal("no write was acknowledged")
		}
		for j, s := range rs.nodes {
			waitFor(t, fmt.Sprintf("replica %d applies sequence %d", j+1, last), func() bool {
				_, err := s.search.Search(ctx, &pb.SearchRequest{Query: "numbat", MinSequence: last})
				return err == nil
			})
			missing := 0
			for id := range acked {
				if _, err := s.search.GetDocument(ctx, &pb.GetDocumentRequest{Id: id}); err != nil {
					missing++
				}
			}
			if missing > 0 {
				t.Errorf("replica %d lacks %d of the %d acknowledged documents", j+1, missing, len(acked))
			}
		}
		checkPhase(t, "while the NATS leader stopped")
	})

	t.Run("with NATS down searches succeed, writes are Unavailable, and then succeed again", func(t *testing.T) {
		for i := range nc.servers {
			nc.stop(i)
		}
		for j, s := range rs.nodes {
			waitFor(t, fmt.Sprintf("replica %d says NATS is out of reach", j+1), func() bool {
				var ready map[string]any
				code := s.rest("GET", "/readyz", "", nil, &ready)
				return code == 200 && ready["nats"] == "disconnected" && ready["detail"] != nil
			})
			_, err := s.admin.UpsertDocuments(actx, &pb.UpsertDocumentsRequest{Documents: []*pb.Document{{Id: "refused", Title: "Refused"}}})
			if status.Code(err) != codes.Unavailable {
				t.Errorf("write on replica %d without NATS: %v, want Unavailable", j+1, err)
			}
			var e restError
			if code := s.rest("DELETE", "/v1/documents/while-down-1", testToken, nil, &e); code != http.StatusServiceUnavailable {
				t.Errorf("REST delete on replica %d without NATS: %d %+v, want 503", j+1, code, e)
			}
			if metric := metricValue(t, s, "stacksearch_nats_connected"); metric != 0 {
				t.Errorf("replica %d: stacksearch_nats_connected %v", j+1, metric)
			}
		}
		time.Sleep(time.Second)
		checkPhase(t, "with NATS down")
		var wg sync.WaitGroup
		for i := range nc.servers {
			wg.Add(1)
			go func() { defer wg.Done(); nc.start(i) }()
		}
		wg.Wait()
		var res *pb.UpsertDocumentsResponse
		waitFor(t, "a write succeeds again", func() bool {
			var err error
			res, err = rs.nodes[0].admin.UpsertDocuments(actx, &pb.UpsertDocumentsRequest{Documents: []*pb.Document{
				{Id: "after-outage", Title: "Written after NATS returned", Body: "bilby"}}})
			return err == nil
		})
		for j, s := range rs.nodes {
			waitFor(t, fmt.Sprintf("replica %d reaches NATS again", j+1), func() bool {
				return metricValue(t, s, "stacksearch_nats_connected") == 1
			})
			if got := searchIDsGRPC(t, s, "bilby", res.Sequence); !slices.Contains(got, "after-outage") {
				t.Errorf("replica %d: %v", j+1, got)
			}
		}
		checkPhase(t, "while NATS came back")
	})
}

// searchIDsGRPC searches one replica over gRPC, with min_sequence when not 0.
func searchIDsGRPC(t *testing.T, s *testServer, query string, minSeq int64) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := s.search.Search(ctx, &pb.SearchRequest{Query: query, PageSize: 100, MinSequence: minSeq})
	if err != nil {
		t.Fatalf("search %q with min_sequence %d: %v", query, minSeq, err)
	}
	var ids []string
	for _, h := range res.Hits {
		ids = append(ids, h.Id)
	}
	return ids
}

// waitFor polls cond until it holds, for at most 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// metricValue reads one unlabelled metric from a server's /metrics.
func metricValue(t *testing.T, s *testServer, name string) float64 {
	t.Helper()
	resp, err := http.Get(s.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
