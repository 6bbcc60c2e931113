package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stacksearch/stacksearch/index"
	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
	"github.com/stacksearch/stacksearch/service/replica"
)

// Cluster mode (searchd -nats-url): what the service adds around the replica
// of package replica. Writes are published to the stream and come back through
// the replica's consumer into Indexer.apply; a reindex takes the cluster's lock
// and publishes a snapshot; operations, the index and the cluster are described
// from what the replica knows.

// newReplica makes x a replica of the cluster at cfg.NATSURL.
func newReplica(cfg Config, x *Indexer, log *slog.Logger) error {
	if cfg.DataDir == "" {
		return errors.New("cluster mode (-nats-url) needs -data-dir: a replica keeps the snapshots it downloads there")
	}
	if cfg.DiscardAPIChanges {
		return errors.New("-discard-api-changes does not apply in cluster mode: the API's changes are in the NATS stream " +
			replicaStream + ", shared by every replica; purge it to drop them")
	}
	r, err := replica.New(replica.Config{URL: cfg.NATSURL, NodeID: cfg.NodeID, Replicas: cfg.NATSReplicas,
		SnapshotsKeep: cfg.SnapshotsKeep, Log: log}, x.store, x.live, replicaLocal{x})
	if err != nil {
		return err
	}
	x.cluster = r
	return nil
}

// replicaStream names the stream in messages.
const replicaStream = "STACKSEARCH_CHANGES"

// replicaLocal is the Indexer as the replica sees it.
type replicaLocal struct{ x *Indexer }

func (l replicaLocal) Apply(seq uint64, changes []index.Change) error {
	l.x.writeMu.Lock()
	defer l.x.writeMu.Unlock()
	_, err := l.x.apply(seq, changes)
	return err
}

func (l replicaLocal) Serve(ix *index.Index) error {
	x := l.x
	x.writeMu.Lock()
	if err := x.store.MakeCurrent(ix); err != nil {
		x.writeMu.Unlock()
		return err
	}
	old := x.live.Swap(ix)
	x.writeMu.Unlock()
	x.notifyApplied()
	if old != nil {
		if err := x.store.Retire(old); err != nil {
			x.log.Warn("could not remove the replaced index", slog.String("dir", old.Dir), slog.Any("error", err))
		}
	}
	return nil
}

func (l replicaLocal) Build(ctx context.Context) (*index.Index, error) {
	ix, rep, _, err := l.x.build(ctx, l.x.skipBad, func(string, int, int) {}, nil)
	if err != nil {
		if rep != nil && len(rep.BadRecords) > 0 {
			l.x.log.Error("the corpus has malformed records", slog.Int("count", rep.Skipped), slog.Any("records", rep.BadRecords))
		}
		return nil, err
	}
	l.x.log.Info("built index", slog.String("source", rep.source), slog.Int("documents", rep.Documents),
		slog.Int("skipped", rep.Skipped), slog.Int("duplicate_ids", rep.Duplicates), slog.Int("ignored_files", rep.IgnoredFiles),
		slog.Duration("took", rep.Duration))
	return ix, nil
}

// publish writes changes in cluster mode: once the stream has stored them,
// and, within a short wait, once this replica has applied them, so that the
// caller's next search here sees them as on a single searchd.
func (x *Indexer) publish(ctx context.Context, changes []index.Change) (uint64, error) {
	if !x.live.Ready() {
		return 0, index.ErrNotReady
	}
	seq, err := x.cluster.Publish(ctx, changes)
	if err != nil {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	x.awaitApplied(wctx, seq)
	return seq, nil
}

// rebuildCluster runs a reindex whose cluster lock the admin server took.
func (x *Indexer) rebuildCluster(ctx context.Context, skipBad bool, progress Progress) (*RebuildReport, error) {
	var rep *RebuildReport
	read := 0
	res, err := x.cluster.Reindex(ctx, func(ctx context.Context) (*index.Index, error) {
		ix, r, n, err := x.build(ctx, skipBad, progress, nil)
		rep, read = r, n
		return ix, err
	}, func() { progress("swapping", read, read) })
	if err != nil {
		return rep, err
	}
	rep.Documents, rep.APIChanges, rep.Snapshot = res.Documents, res.APIChanges, res.Version
	progress("done", read, read)
	return rep, nil
}

// apiChangeCount is the number of documents changed through the documents API.
func (x *Indexer) apiChangeCount() int {
	if x.cluster != nil {
		return x.cluster.Status().APIChanges
	}
	return x.changes.Len()
}

// notifyApplied wakes the calls waiting for the applied sequence to move.
func (x *Indexer) notifyApplied() {
	x.appliedMu.Lock()
	close(x.applied)
	x.applied = make(chan struct{})
	x.appliedMu.Unlock()
}

// awaitApplied waits until the live index has applied seq, or ctx ends, and
// reports whether it has.
func (x *Indexer) awaitApplied(ctx context.Context, seq uint64) bool {
	for {
		x.appliedMu.Lock()
		moved := x.applied
		x.appliedMu.Unlock()
		if x.live.AppliedSeq() >= seq {
			return true
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return false
		}
	}
}

// WaitApplied waits until this server has applied the change of sequence seq
// (a search's min_sequence), within ctx's deadline less a moment for the
// search itself; else it is replica.ErrUnavailable. A replica that cannot
// reach NATS, and a single searchd, which applies a write before answering
// it, do not wait for a sequence they have not applied.
func (x *Indexer) WaitApplied(ctx context.Context, seq uint64) error {
	applied := x.live.AppliedSeq()
	if applied >= seq {
		return nil
	}
	switch {
	case x.cluster == nil:
		return fmt.Errorf("%w: sequence %d is beyond this server's last change, %d", replica.ErrUnavailable, seq, applied)
	case !x.cluster.Status().Connected:
		return fmt.Errorf("%w: this replica has applied the changes up to sequence %d, not %d, and cannot reach NATS to catch up; search another replica",
			replica.ErrUnavailable, applied, seq)
	}
	wctx := ctx
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, d.Add(-min(time.Until(d)/5, 250*time.Millisecond)))
		defer cancel()
	}
	if x.awaitApplied(wctx, seq) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("%w: this replica has applied the changes up to sequence %d, not yet %d; retry, or search another replica",
		replica.ErrUnavailable, x.live.AppliedSeq(), seq)
}

// minSequence makes a search with min_sequence wait until this server has
// applied that change. It runs before admission to the searches in flight,
// so waiting searches take no search slot.
func minSequence(wait func(context.Context, uint64) error, log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		in, ok := req.(*pb.SearchRequest)
		if !ok || in.GetMinSequence() == 0 || wait == nil {
			return handler(ctx, req)
		}
		if in.GetMinSequence() < 0 {
			return nil, invalid("min_sequence", fmt.Sprintf("is %d; must be a sequence a write returned, or 0", in.GetMinSequence()))
		}
		if err := wait(ctx, uint64(in.GetMinSequence())); err != nil {
			return nil, toStatus(ctx, log, err)
		}
		return handler(ctx, req)
	}
}

// joinClusterReindex takes the cluster's reindex lock for the operation name,
// and returns nothing when it did: the caller starts the reindex. When another
// replica's reindex holds it, it returns that operation to join.
func (s *AdminServer) joinClusterReindex(ctx context.Context, name string) (*pb.Operation, error) {
	holder, err := s.indexer.cluster.AcquireReindex(ctx, name)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	if holder == name {
		return nil, nil
	}
	op, err := s.remoteOperation(ctx, holder)
	if status.Code(err) == codes.NotFound {
		return nil, status.Errorf(codes.Unavailable, "another replica is building the index (%s); retry shortly", holder)
	}
	return op, err
}

// recordOperation shares an operation's state with the other replicas.
func (s *AdminServer) recordOperation(op *pb.Operation) {
	if s.indexer.cluster == nil {
		return
	}
	raw, err := protojson.Marshal(op)
	if err != nil {
		s.log.Warn("encode an operation", slog.Any("error", err))
		return
	}
	s.indexer.cluster.PutOperation(op.GetName(), raw)
}

// remoteOperation returns an operation that another replica runs or ran.
func (s *AdminServer) remoteOperation(ctx context.Context, name string) (*pb.Operation, error) {
	ro, err := s.indexer.cluster.Operation(ctx, name)
	if errors.Is(err, index.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "no operation named %q (the cluster keeps operations for a day)", name)
	}
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return decodeOperation(ro)
}

func decodeOperation(ro replica.RemoteOperation) (*pb.Operation, error) {
	op := &pb.Operation{}
	if err := protojson.Unmarshal(ro.State, op); err != nil {
		return nil, status.Error(codes.Internal, "an operation's recorded state cannot be read")
	}
	if !op.GetDone() && ro.Abandoned {
		op.Done = true
		op.Error = &pb.OperationError{Code: codes.Unavailable.String(),
			Message: "the replica running this reindex stopped before it finished; the previous index keeps serving: start a new reindex"}
	}
	return op, nil
}

// clusterOperations adds the operations of the other replicas to local, newest first.
func (s *AdminServer) clusterOperations(ctx context.Context, local []*pb.Operation) []*pb.Operation {
	remote, err := s.indexer.cluster.Operations(ctx, maxOperations)
	if err != nil {
		s.log.Debug("list the cluster's operations", slog.Any("error", err))
		return local
	}
	seen := map[string]bool{}
	for _, op := range local {
		seen[op.GetName()] = true
	}
	out := local
	for _, ro := range remote {
		op, err := decodeOperation(ro)
		if err != nil || seen[op.GetName()] {
			continue
		}
		out = append(out, op)
	}
	slices.SortStableFunc(out, func(a, b *pb.Operation) int {
		return b.GetCreateTime().AsTime().Compare(a.GetCreateTime().AsTime())
	})
	return out[:min(len(out), maxOperations)]
}

// describeCluster fills what GetIndex says of the cluster.
func (s *AdminServer) describeCluster(out *pb.IndexInfo) {
	if s.indexer.cluster == nil {
		return
	}
	st := s.indexer.cluster.Status()
	out.Cluster, out.NatsConnected = true, st.Connected
}

// clusterReplicas answers GetCluster in cluster mode.
func (s *AdminServer) clusterReplicas(ctx context.Context) *pb.Cluster {
	c := s.indexer.cluster.Members(ctx)
	out := &pb.Cluster{CurrentSnapshot: c.Current, StreamSequence: int64(c.StreamLast)}
	for _, m := range c.Members {
		out.Replicas = append(out.Replicas, &pb.Replica{NodeId: m.NodeID, Snapshot: m.Snapshot, AppliedSequence: int64(m.Applied),
			Lag: int64(m.Lag), LastHeartbeat: timestamppb.New(m.Heartbeat), Ready: m.Ready})
	}
	return out
}

// clusterReadyz answers /readyz in cluster mode: ready once joined, and still
// ready without NATS (searches are served), saying so.
func clusterReadyz(w http.ResponseWriter, c *replica.Replica) {
	st := c.Status()
	body := map[string]any{"node_id": st.NodeID, "snapshot": st.Snapshot, "applied_sequence": st.Applied,
		"stream_sequence": st.StreamLast, "nats": "connected"}
	if !st.Connected {
		body["nats"] = "disconnected"
	}
	switch {
	case !st.Joined:
		body["status"] = "joining"
		body["detail"] = "fetching the cluster's current snapshot and applying the stream's tail"
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	case st.Degraded || !st.Connected:
		body["detail"] = "NATS is out of reach: searches are served from the local index, which may fall behind; " +
			"writes and reindexes are refused until NATS returns, and the replica then catches up"
	}
	body["status"] = "ready"
	writeJSON(w, http.StatusOK, body)
}
