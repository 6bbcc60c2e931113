package replica

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Every replica puts a heartbeat in the replicas bucket every heartbeatEvery;
// the bucket forgets entries older than heartbeatTTL, so it lists the
// replicas alive.

// heartbeat is the value of a replica's key.
type heartbeat struct {
	NodeID   string    `json:"node_id"`
	Snapshot string    `json:"snapshot"`
	Applied  uint64    `json:"applied_sequence"`
	Ready    bool      `json:"ready"`
	Time     time.Time `json:"time"`
}

func memberKey(node string) string { return safeKey(node) }

func (r *Replica) heartbeats(ctx context.Context) {
	defer r.wg.Done()
	for {
		if r.nc.IsConnected() {
			r.beat(ctx)
		}
		if !sleep(ctx, heartbeatEvery) {
			return
		}
	}
}

// beat reads the stream's state and writes this replica's heartbeat.
func (r *Replica) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, heartbeatEvery)
	defer cancel()
	res := r.res.Load()
	if info, err := res.stream.Info(ctx); err == nil {
		r.streamLast.Store(info.State.LastSeq)
		r.apiChanges.Store(int64(info.State.NumSubjects))
	}
	hb, err := json.Marshal(heartbeat{NodeID: r.cfg.NodeID, Snapshot: r.live.Version(), Applied: r.live.AppliedSeq(),
		Ready: r.ready.Load(), Time: time.Now().UTC()})
	if err != nil {
		return
	}
	if _, err := res.members.Put(ctx, memberKey(r.cfg.NodeID), hb); err != nil {
		r.log.Debug("heartbeat", slog.Any("error", err))
	}
}

// Member is one replica as its last heartbeat described it.
type Member struct {
	NodeID    string
	Snapshot  string
	Applied   uint64
	Lag       uint64
	Ready     bool
	Heartbeat time.Time
}

// Cluster is what the cluster's buckets say about it.
type Cluster struct {
	// Members are the replicas that sent a heartbeat recently, this one
	// first (as it is now), then by node id.
	Members []Member
	// Current is the version of the current snapshot.
	Current string
	// StreamLast is the stream's last sequence.
	StreamLast uint64
}

// Members lists the replicas. A replica that cannot reach NATS lists itself alone.
func (r *Replica) Members(ctx context.Context) Cluster {
	self := Member{NodeID: r.cfg.NodeID, Snapshot: r.live.Version(), Applied: r.live.AppliedSeq(), Ready: r.ready.Load(),
		Heartbeat: time.Now().UTC()}
	out := Cluster{StreamLast: max(r.streamLast.Load(), self.Applied)}
	res := r.res.Load()
	if res == nil || !r.nc.IsConnected() {
		out.Members = []Member{self}
		return out
	}
	if info, err := res.stream.Info(ctx); err == nil {
		out.StreamLast = info.State.LastSeq
		r.streamLast.Store(out.StreamLast)
	}
	if e, err := res.index.Get(ctx, keyCurrent); err == nil {
		var m Manifest
		if json.Unmarshal(e.Value(), &m) == nil {
			out.Current = m.Version
		}
	}
	self.Lag = out.StreamLast - min(self.Applied, out.StreamLast)
	out.Members = []Member{self}
	keys, err := res.members.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		r.log.Warn("list replicas", slog.Any("error", err))
	}
	var others []Member
	for _, k := range keys {
		if k == memberKey(r.cfg.NodeID) {
			continue
		}
		e, err := res.members.Get(ctx, k)
		if err != nil {
			continue
		}
		var hb heartbeat
		if json.Unmarshal(e.Value(), &hb) != nil {
			continue
		}
		others = append(others, Member{NodeID: hb.NodeID, Snapshot: hb.Snapshot, Applied: hb.Applied, Ready: hb.Ready,
			Heartbeat: hb.Time, Lag: out.StreamLast - min(hb.Applied, out.StreamLast)})
	}
	slices.SortFunc(others, func(a, b Member) int { return cmp.Compare(a.NodeID, b.NodeID) })
	out.Members = append(out.Members, others...)
	return out
}
