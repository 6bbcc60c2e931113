package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stacksearch/stacksearch/index"
)

// Manifest describes a snapshot. The current pointer holds the manifest of
// the snapshot every replica serves.
type Manifest struct {
	// Version is the index's version, and the name of its object.
	Version string `json:"version"`
	// Documents is the number of documents in it.
	Documents int `json:"documents"`
	// Bytes and SHA256 identify the snapshot archive.
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	// Sequence is the last stream sequence the snapshot includes: a replica
	// serving it applies the stream from the next one.
	Sequence uint64 `json:"sequence"`
	// Source is the corpus source it was built from.
	Source string `json:"source"`
	// BuildTime is when its build finished.
	BuildTime time.Time `json:"build_time"`
	// BuiltBy is the node id of the replica that built it.
	BuiltBy string `json:"built_by"`
}

// uploadTimeout bounds a snapshot's upload.
const uploadTimeout = 30 * time.Minute

// snapshotChunk is the size of the messages a snapshot is uploaded in: a
// quarter of NATS's default max_payload, so that a 250 MB index is 1,000
// messages, well within the publisher's 4,000 acknowledgements in flight.
const snapshotChunk = 256 << 10

// fullReader fills every buffer it is given, as the object store makes one
// message of each read: a pipe would hand it the archive's small writes.
type fullReader struct{ r io.Reader }

func (f fullReader) Read(p []byte) (int, error) {
	n, err := io.ReadFull(f.r, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil // the last, short chunk; the next read says EOF
	}
	return n, err
}

// publishSnapshot writes ix, complete, to the object store and returns its manifest.
func (r *Replica) publishSnapshot(ctx context.Context, ix *index.Index) (Manifest, error) {
	res := r.res.Load()
	meta := ix.Meta()
	docs, err := ix.Count()
	if err != nil {
		return Manifest{}, err
	}
	m := Manifest{Version: meta.Version, Documents: docs, Sequence: ix.AppliedSeq(), Source: meta.Source,
		BuildTime: meta.BuildTime, BuiltBy: r.cfg.NodeID}
	start := time.Now()
	pr, pw := io.Pipe()
	type exported struct {
		info index.SnapshotInfo
		err  error
	}
	done := make(chan exported, 1)
	go func() {
		info, err := r.store.ExportSnapshot(ctx, ix, pw)
		pw.CloseWithError(err)
		done <- exported{info, err}
	}()
	// With a deadline the upload waits for the stream's acknowledgements as
	// long as it takes (storing 250 MB on three servers takes seconds) instead
	// of the client's 5 s for each chunk's.
	uctx, cancel := context.WithTimeout(ctx, uploadTimeout)
	defer cancel()
	_, err = res.snapshots.Put(uctx, jetstream.ObjectMeta{
		Name:        m.Version,
		Description: fmt.Sprintf("Stacksearch index %s: %d documents, stream sequence %d, from %s", m.Version, m.Documents, m.Sequence, m.Source),
		Metadata:    map[string]string{"version": m.Version, "sequence": strconv.FormatUint(m.Sequence, 10), "built_by": m.BuiltBy},
		Opts:        &jetstream.ObjectMetaOptions{ChunkSize: snapshotChunk},
	}, fullReader{pr})
	pr.CloseWithError(errors.New("upload ended")) // unblocks the export when the upload failed
	ex := <-done
	if err == nil {
		err = ex.err
	}
	if err != nil {
		r.metrics.snapshotPublishes.WithLabelValues("error").Inc()
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res.snapshots.Delete(dctx, m.Version)
		cancel()
		return Manifest{}, fmt.Errorf("publish snapshot %s: %w", m.Version, err)
	}
	m.Bytes, m.SHA256 = ex.info.Bytes, ex.info.SHA256
	took := time.Since(start)
	r.metrics.snapshotPublishes.WithLabelValues("ok").Inc()
	r.metrics.snapshotPublishSeconds.Observe(took.Seconds())
	r.log.Info("published snapshot", slog.String("version", m.Version), slog.Int("documents", m.Documents),
		slog.Int64("bytes", m.Bytes), slog.Uint64("sequence", m.Sequence), slog.Duration("took", took))
	return m, nil
}

// publishBuild brings ix, just built from the corpus, up to date with the
// stream (the documents API's changes go on top of the corpus), publishes it
// as a snapshot and makes it the current one. It returns its manifest and how
// many documents the stream changed. ix is then this replica's to serve.
func (r *Replica) publishBuild(ctx context.Context, ix *index.Index) (Manifest, int, error) {
	n, err := r.replay(ctx, ix)
	if err != nil {
		return Manifest{}, 0, err
	}
	m, err := r.publishSnapshot(ctx, ix)
	if err != nil {
		return Manifest{}, 0, err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return Manifest{}, 0, err
	}
	r.mu.Lock()
	r.prepared = ix
	r.mu.Unlock()
	if _, err := r.res.Load().index.Put(ctx, keyCurrent, raw); err != nil {
		r.takePrepared(m.Version)
		return Manifest{}, 0, fmt.Errorf("make snapshot %s current: %w", m.Version, err)
	}
	r.log.Info("moved the current pointer", slog.String("version", m.Version), slog.Uint64("sequence", m.Sequence))
	r.signalPointer()
	r.prune(ctx, m.Version)
	return m, n, nil
}

// takePrepared returns the index this replica built of version, if it has it.
func (r *Replica) takePrepared(version string) *index.Index {
	r.mu.Lock()
	defer r.mu.Unlock()
	ix := r.prepared
	if ix == nil || ix.Meta().Version != version {
		return nil
	}
	r.prepared = nil
	return ix
}

// prune deletes all snapshots but the newest SnapshotsKeep, never current.
func (r *Replica) prune(ctx context.Context, current string) {
	res := r.res.Load()
	list, err := res.snapshots.List(ctx)
	if err != nil {
		if !errors.Is(err, jetstream.ErrNoObjectsFound) {
			r.log.Warn("list snapshots", slog.Any("error", err))
		}
		return
	}
	slices.SortFunc(list, func(a, b *jetstream.ObjectInfo) int { return b.ModTime.Compare(a.ModTime) })
	others := 0 // the current one counts among the kept, whatever its age
	for _, o := range list {
		if o.Name == current {
			continue
		}
		if others++; others < r.cfg.SnapshotsKeep {
			continue
		}
		if err := res.snapshots.Delete(ctx, o.Name); err != nil {
			r.log.Warn("delete an old snapshot", slog.String("version", o.Name), slog.Any("error", err))
			continue
		}
		r.log.Info("deleted an old snapshot", slog.String("version", o.Name), slog.Int("keep", r.cfg.SnapshotsKeep))
	}
}

// download fetches and verifies the snapshot of m, unpacked and opened beside
// the live index.
func (r *Replica) download(ctx context.Context, m Manifest) (*index.Index, error) {
	start := time.Now()
	obj, err := r.res.Load().snapshots.Get(ctx, m.Version)
	if err != nil {
		r.metrics.downloads.WithLabelValues("error").Inc()
		return nil, fmt.Errorf("download snapshot %s: %w", m.Version, err)
	}
	defer obj.Close()
	ix, err := r.store.ImportSnapshot(ctx, m.Version, obj, index.SnapshotInfo{Bytes: m.Bytes, SHA256: m.SHA256})
	if err != nil {
		outcome := "error"
		if errors.Is(err, index.ErrBadSnapshot) || errors.Is(err, jetstream.ErrDigestMismatch) {
			outcome = "corrupt"
		}
		r.metrics.downloads.WithLabelValues(outcome).Inc()
		return nil, fmt.Errorf("download snapshot %s: %w", m.Version, err)
	}
	took := time.Since(start)
	r.metrics.downloads.WithLabelValues("ok").Inc()
	r.metrics.downloadBytes.Add(float64(m.Bytes))
	r.metrics.downloadSeconds.Observe(took.Seconds())
	r.log.Info("downloaded snapshot", slog.String("version", m.Version), slog.Int64("bytes", m.Bytes), slog.Duration("took", took))
	return ix, nil
}

// install serves the snapshot of m: the index this replica built, or a
// download. The index is caught up with the stream beside the live one; only
// its last catch-up and the swap hold up the stream's consumer, and searches
// wait for nothing.
func (r *Replica) install(ctx context.Context, m Manifest) error {
	start := time.Now()
	ix := r.takePrepared(m.Version)
	if ix == nil {
		var err error
		if ix, err = r.download(ctx, m); err != nil {
			return err
		}
	}
	downloaded := time.Since(start)
	if _, err := r.replay(ctx, ix); err != nil {
		r.store.Discard(ix)
		return err
	}
	r.applyMu.Lock()
	_, err := r.replay(ctx, ix)
	if err == nil {
		err = r.local.Serve(ix)
	}
	r.applyMu.Unlock()
	if err != nil {
		r.store.Discard(ix)
		return err
	}
	took := time.Since(start)
	r.metrics.swaps.WithLabelValues("ok").Inc()
	r.metrics.swapSeconds.Observe(took.Seconds())
	r.log.Info("serving snapshot", slog.String("version", m.Version), slog.Uint64("snapshot_seq", m.Sequence),
		slog.Uint64("applied_seq", ix.AppliedSeq()), slog.Duration("download", downloaded), slog.Duration("took", took))
	return nil
}

// watchPointer signals the reconciler whenever the current pointer changes.
func (r *Replica) watchPointer(ctx context.Context) {
	defer r.wg.Done()
	for ctx.Err() == nil {
		w, err := r.res.Load().index.Watch(ctx, keyCurrent, jetstream.UpdatesOnly())
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		for range w.Updates() {
			r.signalPointer()
		}
		w.Stop()
	}
}

// reconcileLoop makes the live index the current snapshot whenever the pointer
// moves, and checks it every pollEvery besides, in case a watch missed a move.
func (r *Replica) reconcileLoop(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		if r.nc.IsConnected() {
			r.reconcile(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.pointer:
		case <-t.C:
		}
	}
}

// reconcile installs the current snapshot if the live index is another, or
// builds the first one when there is none.
func (r *Replica) reconcile(ctx context.Context) {
	e, err := r.res.Load().index.Get(ctx, keyCurrent)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		r.bootstrap(ctx)
		return
	}
	if err != nil {
		return // NATS out of reach: the next tick tries again
	}
	var m Manifest
	if err := json.Unmarshal(e.Value(), &m); err != nil || m.Version == "" {
		r.log.Error("the current pointer holds no snapshot manifest", slog.String("value", string(e.Value())), slog.Any("error", err))
		return
	}
	if m.Version == r.live.Version() {
		if !r.synced.Swap(true) {
			r.log.Info("the local index is the current snapshot", slog.String("version", m.Version), slog.Uint64("applied_seq", r.live.AppliedSeq()))
		}
		return
	}
	if t, ok := r.failed[m.Version]; ok && time.Since(t) < pollEvery {
		return
	}
	r.log.Info("a new snapshot is current: installing it", slog.String("version", m.Version), slog.String("built_by", m.BuiltBy),
		slog.Uint64("snapshot_seq", m.Sequence), slog.String("serving", r.live.Version()))
	if err := r.install(ctx, m); err != nil {
		if ctx.Err() != nil {
			return
		}
		r.failed[m.Version] = time.Now()
		r.metrics.swaps.WithLabelValues("error").Inc()
		r.log.Error("could not install the current snapshot; the previous index keeps serving", slog.String("version", m.Version), slog.Any("error", err))
		return
	}
	delete(r.failed, m.Version)
	r.synced.Store(true)
}

// bootstrap builds the cluster's first index, when no replica has: the one
// that takes the reindex lock builds, the others wait for the pointer.
func (r *Replica) bootstrap(ctx context.Context) {
	if r.synced.Load() {
		r.log.Error("the current pointer is gone; keeping the live index (start a reindex to publish a snapshot)")
		return
	}
	op := "initial-build-" + r.NodeKey()
	l, holder, err := r.acquire(ctx, op)
	if err != nil {
		r.log.Debug("take the reindex lock", slog.Any("error", err))
		return
	}
	if l == nil {
		r.log.Info("waiting for the cluster's first index", slog.String("built_by", holder))
		return
	}
	defer l.release()
	if _, err := r.res.Load().index.Get(ctx, keyCurrent); err == nil {
		r.signalPointer() // built meanwhile
		return
	}
	r.log.Info("no snapshot in the cluster yet: building the first index from the corpus")
	bctx, cancel := l.context(ctx)
	defer cancel()
	ix, err := r.local.Build(bctx)
	if err != nil {
		r.log.Error("could not build the cluster's first index", slog.Any("error", err))
		return
	}
	if _, _, err := r.publishBuild(bctx, ix); err != nil {
		r.store.Discard(ix)
		r.log.Error("could not publish the cluster's first index", slog.Any("error", err))
	}
}
