package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stacksearch/stacksearch/index"
)

// ErrUnavailable marks a call this replica cannot serve now: NATS is out of
// reach, the stream has no leader, or the replica has not caught up. Its
// message is written for the caller.
var ErrUnavailable = errors.New("unavailable")

// Names of what the cluster keeps in JetStream.
const (
	streamName       = "STACKSEARCH_CHANGES"
	subjectPrefix    = "stacksearch.changes."
	bucketIndex      = "stacksearch_index"      // key current: the Manifest of the snapshot to serve
	bucketLocks      = "stacksearch_locks"      // key reindex: who builds now (a TTL bucket)
	bucketReplicas   = "stacksearch_replicas"   // one key per replica: its heartbeat (a TTL bucket)
	bucketOperations = "stacksearch_operations" // one key per reindex operation: its state
	bucketSnapshots  = "stacksearch_snapshots"  // object store: one object per snapshot
	keyCurrent       = "current"
	keyReindex       = "reindex"
)

// Timings; variables so that tests can shorten them.
var (
	heartbeatEvery = 2 * time.Second
	heartbeatTTL   = 10 * time.Second
	lockTTL        = 15 * time.Second
	pollEvery      = 5 * time.Second  // how often the current pointer is read besides watching it
	joinWait       = 10 * time.Second // how long a replica with a local index waits for NATS at start before serving it
	operationsTTL  = 24 * time.Hour
)

// Config configures a replica.
type Config struct {
	// URL is the NATS server URL, or several separated by commas.
	URL string
	// NodeID names this replica in the cluster.
	NodeID string
	// Replicas is how many NATS servers keep each stream, bucket and object
	// store this creates; 0 means 3 when the server is clustered, else 1.
	Replicas int
	// SnapshotsKeep is how many snapshots the object store keeps (at least 1;
	// 0 means 3). The current one is never removed.
	SnapshotsKeep int
	// Log receives the replica's logs.
	Log *slog.Logger
}

// Local is what a replica needs of the searchd it runs in: the service's
// Indexer, through which every document change goes.
type Local interface {
	// Apply applies a batch of changes read from the stream to the served
	// index, recording seq, the stream sequence of the batch's last message.
	Apply(seq uint64, changes []index.Change) error
	// Serve makes ix the served index and the data directory's current one,
	// and retires the one it replaces.
	Serve(ix *index.Index) error
	// Build builds a new index from the corpus source alone, not served.
	Build(ctx context.Context) (*index.Index, error)
}

// Replica is one searchd of a cluster. Create it with New, then Start it.
type Replica struct {
	cfg     Config
	log     *slog.Logger
	store   *index.Store
	live    *index.Live
	local   Local
	nc      *nats.Conn
	js      jetstream.JetStream
	metrics *metrics

	res        atomic.Pointer[resources] // nil until the stream and buckets are set up
	synced     atomic.Bool               // the live index descends from the cluster's snapshots
	ready      atomic.Bool               // joined: caught up with the stream once (or started without NATS)
	degraded   atomic.Bool               // started without reaching NATS, serving the local index
	streamLast atomic.Uint64             // the stream's last sequence, as last read
	apiChanges atomic.Int64              // documents the stream changes, as last read
	pointer    chan struct{}             // signalled when the current pointer may have moved

	// applyMu orders the writes to the live index: the consumer applying the
	// stream, and a new snapshot's last catch-up and swap.
	applyMu sync.Mutex

	mu       sync.Mutex
	prepared *index.Index // a snapshot this replica built, to serve without downloading
	held     *heldLock    // the reindex lock, while this replica holds it
	failed   map[string]time.Time

	ops    *operationWriter
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// resources are the stream, buckets and object store, once set up.
type resources struct {
	stream                jetstream.Stream
	index, locks, members jetstream.KeyValue
	operations            jetstream.KeyValue
	snapshots             jetstream.ObjectStore
	replicas              int
}

// New connects to NATS (in the background: a replica starts without it) and
// returns a replica serving live from store, writing through local.
func New(cfg Config, store *index.Store, live *index.Live, local Local) (*Replica, error) {
	if cfg.NodeID == "" {
		return nil, errors.New("cluster mode needs a node id (-node-id)")
	}
	if store.Dir() == "" {
		return nil, errors.New("cluster mode needs a data directory (-data-dir) to keep the snapshots it downloads")
	}
	if cfg.SnapshotsKeep <= 0 {
		cfg.SnapshotsKeep = 3
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	r := &Replica{cfg: cfg, log: log.With(slog.String("node_id", cfg.NodeID)), store: store, live: live, local: local,
		metrics: newMetrics(), pointer: make(chan struct{}, 1), failed: map[string]time.Time{}}
	var err error
	r.nc, err = nats.Connect(cfg.URL,
		nats.Name("searchd "+cfg.NodeID),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		// a write fails at once while disconnected instead of waiting in a buffer
		nats.ReconnectBufSize(-1),
		nats.Timeout(2*time.Second),
		nats.PingInterval(5*time.Second),
		nats.MaxPingsOutstanding(2),
		nats.ConnectHandler(func(c *nats.Conn) {
			r.log.Info("connected to NATS", slog.String("server", c.ConnectedUrlRedacted()))
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			r.log.Warn("lost the connection to NATS: serving searches from the local index, refusing writes", slog.Any("error", err))
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			r.log.Info("reconnected to NATS", slog.String("server", c.ConnectedUrlRedacted()))
			r.signalPointer()
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", cfg.URL, err)
	}
	if r.js, err = jetstream.New(r.nc); err != nil {
		r.nc.Close()
		return nil, fmt.Errorf("nats %s: %w", cfg.URL, err)
	}
	r.metrics.watchState(r)
	r.ops = newOperationWriter(r)
	return r, nil
}

// Start serves the local index of the data directory, if there is one and
// discardLocal is false, then joins the cluster: it sets up the stream and
// buckets, serves the cluster's current snapshot (building the first one if
// there is none), applies the stream's tail, and returns once caught up. A
// replica that cannot reach NATS for a while but has a local index returns
// sooner, serving it. The replica runs until ctx ends; Close then waits for it.
func (r *Replica) Start(ctx context.Context, discardLocal bool) error {
	if !discardLocal {
		ix, err := r.store.OpenCurrent()
		switch {
		case err == nil:
			if err := r.local.Serve(ix); err != nil {
				ix.Close()
				return err
			}
			r.log.Info("serving the local index until the cluster is joined", slog.String("version", ix.Meta().Version),
				slog.Uint64("applied_seq", ix.AppliedSeq()))
		case errors.Is(err, index.ErrNoIndex):
		default:
			r.log.Warn("the local index cannot be opened: the cluster's current snapshot replaces it", slog.Any("error", err))
		}
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Add(1)
	go r.run(ctx)
	start := time.Now()
	for !r.ready.Load() {
		if r.live.Ready() && r.res.Load() == nil && time.Since(start) > joinWait {
			r.degraded.Store(true)
			r.ready.Store(true)
			r.log.Warn("NATS is out of reach: serving the local index, which may be behind the cluster, and refusing writes until it is reached",
				slog.String("version", r.live.Version()), slog.Uint64("applied_seq", r.live.AppliedSeq()))
			break
		}
		if !sleep(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
	}
	return nil
}

// run sets up the cluster's resources, then keeps the replica in step.
func (r *Replica) run(ctx context.Context) {
	defer r.wg.Done()
	var warned time.Time
	for wait := 250 * time.Millisecond; r.res.Load() == nil; wait = min(2*wait, 5*time.Second) {
		err := r.setUp(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		if time.Since(warned) > 30*time.Second {
			warned = time.Now()
			r.log.Warn("cannot set up the cluster's stream and buckets yet; retrying", slog.Any("error", err))
		}
		sleep(ctx, wait)
	}
	r.wg.Add(4)
	go r.heartbeats(ctx)
	go r.watchPointer(ctx)
	go r.reconcileLoop(ctx)
	go r.ops.run(ctx)
	for !r.synced.Load() {
		if !sleep(ctx, 20*time.Millisecond) {
			return
		}
	}
	r.wg.Add(1)
	go r.consume(ctx)
	// joined once the stream's tail, as it is now, is applied
	var last uint64
	for {
		info, err := r.res.Load().stream.Info(ctx)
		if err == nil {
			last = info.State.LastSeq
			break
		}
		if !sleep(ctx, 250*time.Millisecond) {
			return
		}
	}
	for r.live.AppliedSeq() < last {
		if !sleep(ctx, 10*time.Millisecond) {
			return
		}
	}
	r.degraded.Store(false)
	r.ready.Store(true)
	r.log.Info("joined the cluster", slog.String("snapshot", r.live.Version()), slog.Uint64("applied_seq", r.live.AppliedSeq()))
}

// Close stops the replica and closes its NATS connection, after writing
// what it has to write (operations, a last heartbeat's removal).
func (r *Replica) Close() {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	if res := r.res.Load(); res != nil && r.nc.IsConnected() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		res.members.Delete(ctx, memberKey(r.cfg.NodeID))
		cancel()
	}
	r.nc.Drain()
}

// setUp creates the stream, buckets and object store, or opens them when
// another replica did.
func (r *Replica) setUp(ctx context.Context) error {
	if !r.nc.IsConnected() {
		return errors.New("not connected")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n := r.cfg.Replicas
	if n <= 0 {
		n = 1
		if r.nc.ConnectedClusterName() != "" {
			n = 3
		}
	}
	res := &resources{replicas: n}
	var err error
	res.stream, err = r.js.Stream(ctx, streamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		res.stream, err = r.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        streamName,
			Description: "Stacksearch document changes: the last change to each document, on a subject of its own",
			Subjects:    []string{subjectPrefix + ">"},
			Storage:     jetstream.FileStorage,
			Replicas:    n,
			// the stream is the change log, compacted: the last change per document
			MaxMsgsPerSubject:  1,
			Discard:            jetstream.DiscardOld,
			AllowAtomicPublish: true,
			AllowDirect:        true,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			res.stream, err = r.js.Stream(ctx, streamName)
		}
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", streamName, err)
	}
	if !res.stream.CachedInfo().Config.AllowAtomicPublish {
		return fmt.Errorf("stream %s does not allow atomic batch publishing (it needs NATS 2.12 or later)", streamName)
	}
	kv := func(cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
		b, err := r.js.KeyValue(ctx, cfg.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			cfg.Replicas, cfg.Storage = n, jetstream.FileStorage
			b, err = r.js.CreateKeyValue(ctx, cfg)
			if errors.Is(err, jetstream.ErrBucketExists) {
				b, err = r.js.KeyValue(ctx, cfg.Bucket)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
		}
		return b, nil
	}
	if res.index, err = kv(jetstream.KeyValueConfig{Bucket: bucketIndex, History: 16,
		Description: "Stacksearch: the snapshot every replica serves (key current)"}); err != nil {
		return err
	}
	if res.locks, err = kv(jetstream.KeyValueConfig{Bucket: bucketLocks, TTL: lockTTL,
		Description: "Stacksearch: the replica building a reindex (key reindex), kept alive while it builds"}); err != nil {
		return err
	}
	if res.members, err = kv(jetstream.KeyValueConfig{Bucket: bucketReplicas, TTL: heartbeatTTL,
		Description: "Stacksearch: a heartbeat of each replica"}); err != nil {
		return err
	}
	if res.operations, err = kv(jetstream.KeyValueConfig{Bucket: bucketOperations, TTL: operationsTTL,
		Description: "Stacksearch: reindex operations, for every replica to answer"}); err != nil {
		return err
	}
	res.snapshots, err = r.js.ObjectStore(ctx, bucketSnapshots)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		res.snapshots, err = r.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucketSnapshots,
			Description: "Stacksearch: index snapshots", Storage: jetstream.FileStorage, Replicas: n})
		if errors.Is(err, jetstream.ErrBucketExists) {
			res.snapshots, err = r.js.ObjectStore(ctx, bucketSnapshots)
		}
	}
	if err != nil {
		return fmt.Errorf("object store %s: %w", bucketSnapshots, err)
	}
	r.res.Store(res)
	r.log.Info("cluster stream and buckets ready", slog.String("stream", streamName), slog.Int("replicas", n))
	return nil
}

// Ready reports whether the replica has joined the cluster: served the current
// snapshot and applied the stream's tail once (or, started without reaching
// NATS, is serving its local index).
func (r *Replica) Ready() bool { return r.ready.Load() }

// Status is what a replica says about itself.
type Status struct {
	// NodeID names it.
	NodeID string
	// Connected says whether it reaches NATS now.
	Connected bool
	// Joined is Ready.
	Joined bool
	// Degraded says it started without reaching NATS and serves its local
	// index, which may be behind.
	Degraded bool
	// Snapshot is the version of the index it serves.
	Snapshot string
	// Applied is the last stream sequence it applied.
	Applied uint64
	// StreamLast is the stream's last sequence, as last read.
	StreamLast uint64
	// APIChanges counts the documents the stream changes (added, replaced
	// or deleted through the documents API), as last read.
	APIChanges int
}

// Status describes the replica now.
func (r *Replica) Status() Status {
	return Status{
		NodeID: r.cfg.NodeID, Connected: r.nc.IsConnected(), Joined: r.ready.Load(), Degraded: r.degraded.Load(),
		Snapshot: r.live.Version(), Applied: r.live.AppliedSeq(), StreamLast: max(r.streamLast.Load(), r.live.AppliedSeq()),
		APIChanges: int(r.apiChanges.Load()),
	}
}

func (r *Replica) signalPointer() {
	select {
	case r.pointer <- struct{}{}:
	default:
	}
}

// keyChars are the characters of a key-value bucket key.
var keyChars = regexp.MustCompile(`[^-_=a-zA-Z0-9]`)

// safeKey makes s usable as a key: characters a key may not hold become _.
func safeKey(s string) string { return keyChars.ReplaceAllString(s, "_") }

// NodeKey is the node id as this replica writes it into operation names and keys.
func (r *Replica) NodeKey() string { return safeKey(r.cfg.NodeID) }
