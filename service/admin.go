package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stacksearch/stacksearch/index"
	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// maxOperations is how many finished operations are remembered.
const maxOperations = 50

// AdminServer implements stacksearch.v1.AdminService. Authentication happens in
// the interceptor before any method runs.
type AdminServer struct {
	pb.UnimplementedAdminServiceServer
	indexer *Indexer
	nodeID  string
	log     *slog.Logger
	// ctx bounds background operations: cancelled when the server shuts down.
	ctx context.Context

	mu      sync.Mutex
	ops     map[string]*pb.Operation
	order   []string
	running string
	seq     int
	wg      sync.WaitGroup

	// finished, when set, is told of each reindex this server ran as it
	// finishes, under mu: a caller that sees the operation done sees it counted.
	finished func(op *pb.Operation)
}

// NewAdminServer serves admin calls for the replica nodeID; background
// operations stop when ctx ends.
func NewAdminServer(ctx context.Context, indexer *Indexer, nodeID string, log *slog.Logger) *AdminServer {
	return &AdminServer{indexer: indexer, nodeID: nodeID, log: log, ctx: ctx, ops: map[string]*pb.Operation{}}
}

// Reindex starts a rebuild from the corpus source, or joins the one running.
func (s *AdminServer) Reindex(ctx context.Context, in *pb.ReindexRequest) (*pb.Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running != "" {
		return proto.Clone(s.ops[s.running]).(*pb.Operation), nil
	}
	s.seq++
	name := fmt.Sprintf("reindex-%s-%d", time.Now().UTC().Format("20060102T150405Z"), s.seq)
	if s.indexer.cluster != nil {
		// one reindex at a time in the cluster: this one, or another replica's to join
		name += "-" + s.indexer.cluster.NodeKey()
		if op, err := s.joinClusterReindex(ctx, name); op != nil || err != nil {
			return op, err
		}
	}
	op := &pb.Operation{
		Name:       name,
		Kind:       "reindex",
		Progress:   &pb.OperationProgress{Phase: "reading"},
		CreateTime: timestamppb.Now(),
	}
	s.ops[name] = op
	s.order = append(s.order, name)
	if len(s.order) > maxOperations {
		delete(s.ops, s.order[0])
		s.order = s.order[1:]
	}
	s.running = name
	s.recordOperation(op)
	skipBad := s.indexer.skipBad
	if in.SkipBad != nil {
		skipBad = in.GetSkipBad()
	}
	s.wg.Add(1)
	go s.reindex(name, skipBad)
	return proto.Clone(op).(*pb.Operation), nil
}

// reindex runs one rebuild and records its progress and outcome in the operation.
func (s *AdminServer) reindex(name string, skipBad bool) {
	defer s.wg.Done()
	s.log.Info("reindex started", slog.String("operation", name))
	rep, err := s.indexer.Rebuild(s.ctx, skipBad, func(phase string, done, total int) {
		s.update(name, func(op *pb.Operation) {
			op.Progress = &pb.OperationProgress{Phase: phase, DocumentsDone: int32(done), DocumentsTotal: int32(total)}
		})
	})
	s.update(name, func(op *pb.Operation) {
		op.Done = true
		op.EndTime = timestamppb.Now()
		if rep != nil {
			op.Result = &pb.ReindexResult{
				DocumentCount: int32(rep.Documents),
				CorpusSource:  s.indexer.sourceName(),
				Skipped:       int32(rep.Skipped),
				BadRecords:    rep.BadRecords,
				DuplicateIds:  rep.DuplicateIDs,
				BuildSeconds:  rep.Duration.Seconds(),
			}
			op.Result.ApiChanges, op.Result.ApiChangesNote = s.apiChanges(rep, err)
		}
		if err != nil {
			op.Error = operationError(err)
			if op.Result != nil {
				op.Result.DocumentCount = 0
			}
		}
		if s.finished != nil {
			s.finished(op)
		}
	})
	s.mu.Lock()
	s.running = ""
	s.mu.Unlock()
	if err != nil {
		s.log.Error("reindex failed; the previous index keeps serving", slog.String("operation", name), slog.Any("error", err))
		return
	}
	s.log.Info("reindex done", slog.String("operation", name), slog.Int("documents", rep.Documents),
		slog.Int("skipped", rep.Skipped), slog.Int("duplicate_ids", rep.Duplicates), slog.Int("ignored_files", rep.IgnoredFiles),
		slog.Int("api_changes", rep.APIChanges), slog.Duration("took", rep.Duration))
}

// operationError describes a failed operation for its caller.
func operationError(err error) *pb.OperationError {
	oe := &pb.OperationError{Code: codes.Internal.String(), Message: err.Error()}
	switch {
	case errors.Is(err, index.ErrBadCorpus):
		oe.Code = codes.InvalidArgument.String()
	case errors.Is(err, context.Canceled):
		oe.Code = codes.Canceled.String()
		oe.Message = "the server shut down during the reindex"
	}
	var joined interface{ Unwrap() []error }
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errors.As(e, &joined) {
			for _, d := range joined.Unwrap() {
				if !errors.Is(d, index.ErrBadCorpus) {
					oe.Details = append(oe.Details, d.Error())
				}
			}
			break
		}
	}
	return oe
}

func (s *AdminServer) update(name string, f func(*pb.Operation)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op, ok := s.ops[name]; ok {
		f(op)
		s.recordOperation(op)
	}
}

// Wait blocks until background operations have stopped.
func (s *AdminServer) Wait() { s.wg.Wait() }

// GetOperation returns an operation's state.
func (s *AdminServer) GetOperation(ctx context.Context, in *pb.GetOperationRequest) (*pb.Operation, error) {
	s.mu.Lock()
	op, ok := s.ops[in.GetName()]
	if ok {
		op = proto.Clone(op).(*pb.Operation)
	}
	s.mu.Unlock()
	switch {
	case ok:
		return op, nil
	case s.indexer.cluster != nil: // another replica's
		return s.remoteOperation(ctx, in.GetName())
	}
	return nil, status.Errorf(codes.NotFound, "no operation named %q (the server keeps the last %d)", in.GetName(), maxOperations)
}

// ListOperations lists the remembered operations, newest first.
func (s *AdminServer) ListOperations(ctx context.Context, in *pb.ListOperationsRequest) (*pb.ListOperationsResponse, error) {
	s.mu.Lock()
	out := &pb.ListOperationsResponse{}
	for i := len(s.order) - 1; i >= 0; i-- {
		out.Operations = append(out.Operations, proto.Clone(s.ops[s.order[i]]).(*pb.Operation))
	}
	s.mu.Unlock()
	if s.indexer.cluster != nil {
		out.Operations = s.clusterOperations(ctx, out.Operations)
	}
	return out, nil
}

// GetIndex describes the live index.
func (s *AdminServer) GetIndex(ctx context.Context, in *pb.GetIndexRequest) (*pb.IndexInfo, error) {
	info, err := s.indexer.live.Info()
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	out := &pb.IndexInfo{
		DocumentCount:   int32(info.Documents),
		Fields:          index.Fields(),
		CorpusSource:    info.Source,
		BuildTime:       timestamppb.New(info.BuildTime),
		BuildSeconds:    info.BuildDuration.Seconds(),
		Version:         info.Version,
		DataDir:         s.indexer.store.Dir(),
		SizeBytes:       info.SizeBytes,
		ApiChanges:      int32(s.indexer.apiChangeCount()),
		NodeId:          s.nodeID,
		Snapshot:        info.Version,
		AppliedSequence: int64(info.AppliedSeq),
	}
	s.describeCluster(out)
	return out, nil
}

// GetCluster lists the replicas; a single searchd is a cluster of one.
func (s *AdminServer) GetCluster(ctx context.Context, in *pb.GetClusterRequest) (*pb.Cluster, error) {
	if s.indexer.cluster != nil {
		return s.clusterReplicas(ctx), nil
	}
	info, err := s.indexer.live.Info()
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &pb.Cluster{
		Replicas: []*pb.Replica{{
			NodeId: s.nodeID, Snapshot: info.Version, AppliedSequence: int64(info.AppliedSeq),
			LastHeartbeat: timestamppb.Now(), Ready: true,
		}},
		CurrentSnapshot: info.Version,
		StreamSequence:  int64(info.AppliedSeq),
	}, nil
}
