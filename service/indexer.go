package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stacksearch/stacksearch/corpus"
	"github.com/stacksearch/stacksearch/index"
	"github.com/stacksearch/stacksearch/service/replica"
)

// Indexer builds indexes from the corpus source, swaps them into the live index,
// and writes the changes of the documents API.
//
// API changes are an overlay on the corpus: each batch is recorded in the change
// log (fsynced, on disk with a data directory) before it is applied to the live
// index and acknowledged, and every index built from the corpus gets every
// change of the log applied on top before it is served. So a restart, a crash
// or a reindex keeps them; starting with -discard-api-changes drops them.
//
// In cluster mode (cluster set) the replica's stream takes the change log's
// place: writes are published to it, and its consumer feeds apply
// (replication.go).
type Indexer struct {
	store   *index.Store
	live    *index.Live
	changes *index.ChangeLog
	corpus  string
	tax     *corpus.Taxonomy
	skipBad bool
	rebuild bool // build at Load even when the data directory holds an index
	log     *slog.Logger

	// writeMu orders change-log batches: held by each write from recording it to
	// applying it, and by a reindex while it applies the last changes and swaps.
	writeMu sync.Mutex

	// cluster is the replica in cluster mode, nil for a single searchd.
	cluster *replica.Replica
	// applied is closed and replaced whenever the live index's applied
	// sequence moves (WaitApplied).
	appliedMu sync.Mutex
	applied   chan struct{}
}

// newIndexer opens the change log of cfg.DataDir (in memory without one) and
// returns an Indexer over store and live. With cfg.DiscardAPIChanges it empties
// the log, and the first Load rebuilds from the corpus.
func newIndexer(cfg Config, store *index.Store, live *index.Live, tax *corpus.Taxonomy, log *slog.Logger) (*Indexer, error) {
	changes, err := index.OpenChangeLog(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	x := &Indexer{store: store, live: live, changes: changes, corpus: cfg.Corpus, tax: tax, skipBad: cfg.SkipBad, log: log,
		applied: make(chan struct{})}
	if cfg.DiscardAPIChanges {
		n := changes.Len()
		if err := changes.Clear(); err != nil {
			changes.Close()
			return nil, err
		}
		x.rebuild = true
		log.Warn("discarded the changes made through the documents API; the index is rebuilt from the corpus alone",
			slog.Int("api_changes", n))
	}
	return x, nil
}

// Progress reports how far a build has got.
type Progress func(phase string, done, total int)

// Load serves the index kept in the data directory, brought up to date with the
// change log, or builds one from the corpus when there is none (or rebuild is set).
func (x *Indexer) Load(ctx context.Context, rebuild bool) error {
	if x.cluster != nil {
		return x.cluster.Start(ctx, rebuild)
	}
	if !rebuild && !x.rebuild {
		start := time.Now()
		ix, err := x.store.OpenCurrent()
		switch {
		case err == nil:
			x.writeMu.Lock()
			defer x.writeMu.Unlock()
			applied := ix.AppliedSeq()
			n, err := ix.CatchUp(x.changes)
			if err != nil {
				ix.Close()
				return fmt.Errorf("apply the change log to index %s: %w", ix.Dir, err)
			}
			if n > 0 {
				x.log.Info("recovered: applied document changes the index had not applied (an interrupted write or reindex)",
					slog.Int("documents", n), slog.Uint64("from_seq", applied+1), slog.Uint64("to_seq", ix.AppliedSeq()))
			}
			count, _ := ix.Count()
			// log before serving: a client that sees the index ready also sees this line
			x.log.Info("opened index", slog.String("dir", ix.Dir), slog.String("version", ix.Meta().Version),
				slog.Int("documents", count), slog.Int("api_changes", x.changes.Len()),
				slog.Uint64("applied_seq", ix.AppliedSeq()), slog.Duration("took", time.Since(start)))
			x.live.Swap(ix)
			x.notifyApplied()
			return nil
		case !errors.Is(err, index.ErrNoIndex):
			return fmt.Errorf("%w (start with -rebuild to build a new index from the corpus)", err)
		}
	}
	rep, err := x.Rebuild(ctx, x.skipBad, nil)
	if err != nil {
		if rep != nil && len(rep.BadRecords) > 0 {
			x.log.Error("the corpus has malformed records", slog.Int("count", rep.Skipped), slog.Any("records", rep.BadRecords))
		}
		return err
	}
	x.log.Info("built index", slog.String("source", x.sourceName()), slog.Int("documents", rep.Documents),
		slog.Int("skipped", rep.Skipped), slog.Int("duplicate_ids", rep.Duplicates), slog.Int("ignored_files", rep.IgnoredFiles),
		slog.Int("api_changes", rep.APIChanges), slog.Duration("took", rep.Duration))
	if rep.Skipped > 0 {
		x.log.Warn("skipped malformed records", slog.Any("records", rep.BadRecords))
	}
	if rep.Duplicates > 0 {
		x.log.Warn("duplicate ids in the corpus: the last record of each won", slog.Any("ids", rep.DuplicateIDs))
	}
	return nil
}

func (x *Indexer) sourceName() string {
	if x.corpus == "" {
		return corpus.Default().Name()
	}
	return x.corpus
}

// RebuildReport says what a rebuild did.
type RebuildReport struct {
	*index.BuildReport
	// IgnoredFiles counts the files of a directory source that are not a corpus format.
	IgnoredFiles int
	// Snapshot is the version of the snapshot a reindex published, in cluster mode.
	Snapshot string
	source   string
}

// Rebuild builds a new index from the corpus beside the live one, applies the
// change log on top, and swaps it in. Writes wait only while the changes made
// during the build are applied and the index swapped. On failure the live index
// is untouched.
func (x *Indexer) Rebuild(ctx context.Context, skipBad bool, progress Progress) (*RebuildReport, error) {
	if progress == nil {
		progress = func(string, int, int) {}
	}
	if x.cluster != nil {
		return x.rebuildCluster(ctx, skipBad, progress)
	}
	ix, rep, read, err := x.build(ctx, skipBad, progress, x.changes)
	if err != nil {
		return rep, err
	}
	progress("swapping", read, read)

	x.writeMu.Lock()
	n, err := ix.CatchUp(x.changes)
	if err == nil {
		err = x.store.MakeCurrent(ix)
	}
	if err != nil {
		x.writeMu.Unlock()
		x.store.Discard(ix)
		return nil, fmt.Errorf("build index from %s: %w", rep.source, err)
	}
	old := x.live.Swap(ix)
	rep.APIChanges = x.changes.Len()
	x.writeMu.Unlock()
	x.notifyApplied()
	if n > 0 {
		if rep.Documents, err = ix.Count(); err != nil {
			x.log.Warn("count documents", slog.Any("error", err))
		}
	}
	if old != nil {
		if err := x.store.Retire(old); err != nil {
			x.log.Warn("could not remove the replaced index", slog.String("dir", old.Dir), slog.Any("error", err))
		}
	}
	progress("done", read, read)
	return rep, nil
}

// build builds a new index from the corpus beside the live one, with the
// changes of the log, when given, applied on top; it returns the index, not
// served, its report and the number of good records read.
func (x *Indexer) build(ctx context.Context, skipBad bool, progress Progress, changes *index.ChangeLog) (*index.Index, *RebuildReport, int, error) {
	src, err := x.open()
	if err != nil {
		return nil, nil, 0, err
	}
	// The total is counted by a second, untagged reading of the corpus beside the
	// build, so the build does not wait for it; it reads 0 until known.
	var total atomic.Int64
	read := 0
	countCtx, stopCount := context.WithCancel(ctx)
	defer stopCount()
	go func() {
		if n, err := countRecords(countCtx, x.corpus); err == nil {
			total.Store(int64(n))
		}
	}()
	progress("indexing", 0, 0)
	ix, rep, err := x.store.Build(ctx, src.Documents(ctx), index.BuildOptions{
		Source:  src.Name(),
		SkipBad: skipBad,
		Changes: changes,
		Progress: func(done int) {
			read = done
			progress("indexing", done, int(total.Load()))
		},
	})
	if err != nil {
		var out *RebuildReport
		if rep != nil {
			out = &RebuildReport{BuildReport: rep, IgnoredFiles: src.IgnoredFiles(), source: src.Name()}
		}
		return nil, out, 0, fmt.Errorf("build index from %s: %w", src.Name(), err)
	}
	stopCount()
	total.Store(int64(read)) // the build has read every good record: the count is known
	return ix, &RebuildReport{BuildReport: rep, IgnoredFiles: src.IgnoredFiles(), source: src.Name()}, read, nil
}

// countRecords counts the good records of the corpus at path, without tagging them.
func countRecords(ctx context.Context, path string) (int, error) {
	src, err := corpus.Open(path, nil)
	if err != nil {
		return 0, err
	}
	return src.Count(ctx)
}

// Write records a batch of changes in the change log and applies it to the live
// index: when it returns nil the changes are durable (with a data directory) and
// visible to searches. Documents must be valid (index.ValidateDocument).
func (x *Indexer) Write(ctx context.Context, changes []index.Change) (uint64, error) {
	if x.cluster != nil {
		return x.publish(ctx, changes)
	}
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	if !x.live.Ready() {
		return 0, index.ErrNotReady
	}
	return x.apply(x.changes.LastSeq()+1, changes)
}

// Delete removes one document from the live index, recording the deletion in the
// change log; a document that is not in the index is ErrNotFound.
func (x *Indexer) Delete(ctx context.Context, id string) (uint64, error) {
	if x.cluster != nil {
		if _, err := x.live.Document(ctx, id); err != nil {
			return 0, err
		}
		return x.publish(ctx, []index.Change{{ID: id}})
	}
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	if _, err := x.live.Document(ctx, id); err != nil {
		return 0, err
	}
	return x.apply(x.changes.LastSeq()+1, []index.Change{{ID: id}})
}

// apply is the one way a batch of document changes enters Stacksearch: recorded
// under sequence seq in the change log, then applied to the live index with it.
// The caller holds writeMu. A batch recorded but not applied (the index failed
// to write) is applied at the next start. In cluster mode the stream has
// recorded it already: seq is its stream sequence.
func (x *Indexer) apply(seq uint64, changes []index.Change) (uint64, error) {
	if x.cluster == nil {
		if err := x.changes.Record(seq, changes); err != nil {
			return 0, err
		}
	}
	if err := x.live.Apply(context.Background(), seq, changes); err != nil {
		return 0, fmt.Errorf("apply recorded changes %d to the live index: %w", seq, err)
	}
	x.notifyApplied()
	return seq, nil
}

// Close closes the change log.
func (x *Indexer) Close() error { return x.changes.Close() }

// open opens the configured corpus source: the embedded default, or a path.
func (x *Indexer) open() (*corpus.Source, error) {
	src, err := corpus.Open(x.corpus, x.tax)
	if err != nil {
		return nil, fmt.Errorf("open corpus: %w", err)
	}
	return src, nil
}
