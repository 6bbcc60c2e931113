package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/stacksearch/stacksearch/corpus"
	"github.com/stacksearch/stacksearch/index"
)

func TestMain(m *testing.M) {
	heartbeatEvery, heartbeatTTL = 100*time.Millisecond, 2*time.Second
	pollEvery, joinWait, lockTTL = 200*time.Millisecond, time.Second, 3*time.Second
	os.Exit(m.Run())
}

// natsServer is an in-process NATS server with JetStream, restartable on its port.
type natsServer struct {
	t    *testing.T
	opts server.Options
	srv  *server.Server
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	n := &natsServer{t: t, opts: server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *natsServer) start() {
	n.t.Helper()
	opts := n.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		n.t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("nats-server did not start")
	}
	n.srv = srv
}

func (n *natsServer) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func (n *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port) }

// testLocal is a searchd's Indexer reduced to what a replica needs.
type testLocal struct {
	store  *index.Store
	live   *index.Live
	corpus []corpus.Document
}

func (l *testLocal) Apply(seq uint64, changes []index.Change) error {
	return l.live.Apply(context.Background(), seq, changes)
}

func (l *testLocal) Serve(ix *index.Index) error {
	if err := l.store.MakeCurrent(ix); err != nil {
		return err
	}
	if old := l.live.Swap(ix); old != nil {
		return l.store.Retire(old)
	}
	return nil
}

func (l *testLocal) Build(ctx context.Context) (*index.Index, error) {
	ix, _, err := l.store.Build(ctx, func(yield func(corpus.Document, error) bool) {
		for _, d := range l.corpus {
			if !yield(d, nil) {
				return
			}
		}
	}, index.BuildOptions{Source: "test corpus"})
	return ix, err
}

func doc(id, title string) *corpus.Document {
	return &corpus.Document{ID: id, Title: title, Body: "the body of " + id, Type: corpus.TypeSection}
}

// node is one replica with its own data directory.
type node struct {
	*Replica
	local *testLocal
	dir   string
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newNode(t *testing.T, url, id string, keep int) *node {
	t.Helper()
	dir := t.TempDir()
	store, err := index.OpenStore(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	live := index.NewLive(corpus.DefaultTaxonomy(), index.DefaultTuning(corpus.DefaultTaxonomy()))
	local := &testLocal{store: store, live: live, corpus: []corpus.Document{*doc("c1", "corpus one"), *doc("c2", "corpus two")}}
	r, err := New(Config{URL: url, NodeID: id, SnapshotsKeep: keep, Log: quiet}, store, live, local)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{Replica: r, local: local, dir: dir}
	t.Cleanup(func() {
		n.Close()
		live.Close()
	})
	if err := r.Start(context.Background(), false); err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	return n
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func has(n *node, id string) bool {
	_, err := n.live.Document(context.Background(), id)
	return err == nil
}

func TestReplicasFollowWritesAndSnapshots(t *testing.T) {
	ns := startNATS(t)
	ctx := context.Background()
	a := newNode(t, ns.url(), "node-a", 2)
	b := newNode(t, ns.url(), "node b/2", 2) // a node id that is no valid key
	if a.live.Version() == "" || a.live.Version() != b.live.Version() {
		t.Fatalf("versions %q and %q: want the first build on both", a.live.Version(), b.live.Version())
	}

	// a batch is stored whole and reaches the other replica
	seq, err := a.Publish(ctx, []index.Change{{ID: "d1", Doc: doc("d1", "one")}, {ID: "d2", Doc: doc("d2", "two")}, {ID: "c1"}})
	if err != nil || seq != 3 {
		t.Fatalf("publish = %d, %v; want sequence 3", seq, err)
	}
	eventually(t, "b applies the batch", func() bool { return b.live.AppliedSeq() >= seq })
	if !has(b, "d1") || !has(b, "d2") || has(b, "c1") {
		t.Errorf("b: d1 %v d2 %v c1 %v; want the upserts in and c1 deleted", has(b, "d1"), has(b, "d2"), has(b, "c1"))
	}
	// a large document is compressed to fit a message
	big := doc("big", "a big one")
	big.Body = string(slices.Repeat([]byte("compressible words "), 50000)) // 950 KB, over max_payload

	if _, err := b.Publish(ctx, []index.Change{{ID: "big", Doc: big}, {ID: "d1", Doc: doc("d1", "one, again")}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a applies b's write", func() bool { return has(a, "big") })
	// the stream keeps the last change of each document only
	info, err := a.res.Load().stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 4 || info.State.NumSubjects != 4 {
		t.Errorf("stream holds %d messages on %d subjects; want 4 (d1, d2, c1 deleted, big)", info.State.Msgs, info.State.NumSubjects)
	}

	// one reindex at a time in the cluster; another replica joins it
	if got, err := a.AcquireReindex(ctx, "op-1"); err != nil || got != "op-1" {
		t.Fatalf("acquire on a = %q, %v", got, err)
	}
	if got, err := b.AcquireReindex(ctx, "op-2"); err != nil || got != "op-1" {
		t.Fatalf("acquire on b = %q, %v; want op-1, which holds the lock", got, err)
	}
	a.PutOperation("op-1", []byte(`{"name":"op-1"}`))
	eventually(t, "the operation is shared", func() bool {
		ro, err := b.Operation(ctx, "op-1")
		return err == nil && string(ro.State) == `{"name":"op-1"}` && !ro.Abandoned
	})
	if _, err := b.Operation(ctx, "op-9"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("unknown operation: %v", err)
	}
	old := a.live.Version()
	a.local.corpus = append(a.local.corpus, *doc("c3", "corpus three"))
	res, err := a.Reindex(ctx, a.local.Build, func() {})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version == old || a.live.Version() != res.Version || res.APIChanges != 4 || res.Documents != 5 {
		t.Errorf("reindex = %+v (was %s, serving %s); want a new version of 5 documents with 4 API changes", res, old, a.live.Version())
	}
	eventually(t, "b serves the new snapshot", func() bool { return b.live.Version() == res.Version })
	for _, id := range []string{"c3", "d1", "big"} {
		if !has(b, id) {
			t.Errorf("b's new index lacks %s", id)
		}
	}
	if has(b, "c1") {
		t.Error("b's new index has c1, which the API deleted")
	}
	if got := counterValue(b.metrics.downloads.WithLabelValues("ok")); got != 2 {
		t.Errorf("b counted %v downloads, want 2 (the first build and the reindex)", got)
	}
	if got, err := b.AcquireReindex(ctx, "op-3"); err != nil || got != "op-3" {
		t.Fatalf("the lock after the reindex: %q, %v", got, err)
	}
	if _, err := b.Reindex(ctx, b.local.Build, func() {}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a serves b's snapshot", func() bool { return a.live.Version() == b.live.Version() })

	// old snapshots are pruned to SnapshotsKeep
	objs, err := a.res.Load().snapshots.List(ctx)
	if err != nil || len(objs) != 2 {
		t.Errorf("object store holds %d snapshots (%v), want 2", len(objs), err)
	}

	// a new replica downloads the current snapshot and replays the tail
	if _, err := a.Publish(ctx, []index.Change{{ID: "tail", Doc: doc("tail", "after the snapshot")}}); err != nil {
		t.Fatal(err)
	}
	c := newNode(t, ns.url(), "node-c", 2)
	if c.live.Version() != a.live.Version() || !has(c, "tail") || !has(c, "big") || c.live.AppliedSeq() != 6 {
		t.Errorf("c joined at %s, sequence %d, tail %v; want %s at 6 with the tail", c.live.Version(), c.live.AppliedSeq(), has(c, "tail"), a.live.Version())
	}

	eventually(t, "heartbeats list every replica", func() bool {
		cl := b.Members(ctx)
		return len(cl.Members) == 3 && cl.Members[0].NodeID == "node b/2" && cl.Current == a.live.Version() && cl.StreamLast == 6
	})
}

func TestReplicaWithoutNATS(t *testing.T) {
	ns := startNATS(t)
	ctx := context.Background()
	a := newNode(t, ns.url(), "a", 3)
	b := newNode(t, ns.url(), "b", 3)
	if _, err := a.Publish(ctx, []index.Change{{ID: "before", Doc: doc("before", "before the outage")}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b applies the write", func() bool { return has(b, "before") })

	ns.stop()
	eventually(t, "a notices", func() bool { return !a.Status().Connected })
	start := time.Now()
	_, err := a.Publish(ctx, []index.Change{{ID: "during", Doc: doc("during", "during the outage")}})
	if !errors.Is(err, ErrUnavailable) || time.Since(start) > time.Second {
		t.Errorf("publish without NATS: %v after %v; want ErrUnavailable at once", err, time.Since(start))
	}
	if _, err := a.AcquireReindex(ctx, "op"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("reindex without NATS: %v", err)
	}
	if cl := a.Members(ctx); len(cl.Members) != 1 || cl.Members[0].NodeID != "a" {
		t.Errorf("members without NATS: %+v; want a alone", cl.Members)
	}
	if !has(a, "before") || !a.Ready() {
		t.Error("a stopped serving its index")
	}

	ns.start() // the same store: nothing acknowledged is lost
	var seq uint64
	eventually(t, "writes succeed again", func() bool {
		seq, err = a.Publish(ctx, []index.Change{{ID: "after", Doc: doc("after", "after the outage")}})
		return err == nil
	})
	eventually(t, "both replicas catch up", func() bool {
		return b.live.AppliedSeq() >= seq && a.live.AppliedSeq() >= seq && has(b, "after") && has(b, "before")
	})
}

func TestCorruptSnapshotIsRefused(t *testing.T) {
	ns := startNATS(t)
	ctx := context.Background()
	a := newNode(t, ns.url(), "a", 3)
	b := newNode(t, ns.url(), "b", 3)
	if _, err := a.AcquireReindex(ctx, "op"); err != nil {
		t.Fatal(err)
	}
	res, err := a.Reindex(ctx, a.local.Build, func() {})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "b follows", func() bool { return b.live.Version() == res.Version })

	// a pointer to a snapshot whose bytes do not match its manifest
	m := res.Manifest
	m.Version = "forged"
	ix, err := a.local.Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var objBytes []byte
	pr, pw := io.Pipe()
	go func() {
		_, err := a.store.ExportSnapshot(ctx, ix, pw)
		pw.CloseWithError(err)
	}()
	objBytes, _ = io.ReadAll(pr)
	a.store.Discard(ix)
	objBytes[len(objBytes)/2] ^= 1
	if _, err := a.res.Load().snapshots.PutBytes(ctx, "forged", objBytes); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(m)
	if _, err := a.res.Load().index.Put(ctx, keyCurrent, raw); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b refuses it", func() bool { return counterValue(b.metrics.downloads.WithLabelValues("corrupt")) >= 1 })
	if b.live.Version() != res.Version || !b.Ready() {
		t.Errorf("b serves %s; want %s, the last good snapshot", b.live.Version(), res.Version)
	}
	entries, _ := os.ReadDir(b.dir + "/indexes")
	if len(entries) != 1 {
		t.Errorf("b's data directory holds %d entries, want the served index alone", len(entries))
	}
}

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
