package index

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/stacksearch/stacksearch/corpus"
)

// Live is the index being served. Searches and document changes go to the
// current index; Swap replaces it atomically, so a search never fails or waits
// because of a reindex.
type Live struct {
	cur  atomic.Pointer[handle]
	tax  *corpus.Taxonomy
	tune Tuning
}

// handle guards one index against being closed while calls use it: calls hold
// the read lock, retiring takes the write lock once and marks it closed.
type handle struct {
	mu     sync.RWMutex
	closed bool
	ix     *Index
}

// NewLive returns a Live that serves nothing until the first Swap. The
// taxonomy normalises filter values ("postgres" → "PostgreSQL") and names the
// facets a query mentions; tune sets typo tolerance and synonyms.
func NewLive(tax *corpus.Taxonomy, tune Tuning) *Live {
	return &Live{tax: tax, tune: tune}
}

// acquire returns the current index, held open until release is called, or
// ErrNotReady before the first index is in place.
func (l *Live) acquire() (*Index, func(), error) {
	for {
		h := l.cur.Load()
		if h == nil {
			return nil, nil, ErrNotReady
		}
		h.mu.RLock()
		if !h.closed {
			return h.ix, h.mu.RUnlock, nil
		}
		h.mu.RUnlock() // swapped out meanwhile: take the new one
	}
}

// Ready reports whether an index is being served.
func (l *Live) Ready() bool { return l.cur.Load() != nil }

// AppliedSeq returns the last change sequence the served index has applied,
// 0 before the first index is in place. It costs an atomic load.
func (l *Live) AppliedSeq() uint64 {
	if h := l.cur.Load(); h != nil {
		return h.ix.AppliedSeq()
	}
	return 0
}

// Version returns the version of the served index, "" before the first.
func (l *Live) Version() string {
	if h := l.cur.Load(); h != nil {
		return h.ix.meta.Version
	}
	return ""
}

// Close stops serving: calls wait for nothing and fail with ErrNotReady; the
// served index is closed once no call uses it.
func (l *Live) Close() error {
	old := l.cur.Swap(nil)
	if old == nil {
		return nil
	}
	old.mu.Lock()
	old.closed = true
	old.mu.Unlock()
	return old.ix.Close()
}

// Swap makes ix the served index and returns the one it replaces (nil for the
// first) once no call uses it any more; the caller retires it.
func (l *Live) Swap(ix *Index) *Index {
	old := l.cur.Swap(&handle{ix: ix})
	if old == nil {
		return nil
	}
	old.mu.Lock()
	old.closed = true
	old.mu.Unlock()
	return old.ix
}

// Info describes the served index.
type Info struct {
	Meta
	// Documents is the number of documents in it.
	Documents int
	// Dir is its directory, empty in memory.
	Dir string
	// SizeBytes is the size of Dir on disk, 0 in memory.
	SizeBytes int64
	// AppliedSeq is the last change-log sequence applied to it.
	AppliedSeq uint64
}

// Info describes the served index.
func (l *Live) Info() (Info, error) {
	ix, release, err := l.acquire()
	if err != nil {
		return Info{}, err
	}
	defer release()
	n, err := ix.Count()
	if err != nil {
		return Info{}, fmt.Errorf("count documents: %w", err)
	}
	return Info{Meta: ix.Meta(), Documents: n, Dir: ix.Dir, SizeBytes: dirSize(ix.Dir), AppliedSeq: ix.AppliedSeq()}, nil
}

// dirSize adds up the sizes of the files under dir (0 for "").
func dirSize(dir string) int64 {
	if dir == "" {
		return 0
	}
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil // a file removed meanwhile by a merge is simply not counted
	})
	return n
}

// Document returns the stored record with the given id, or ErrNotFound.
func (l *Live) Document(ctx context.Context, id string) (*corpus.Document, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ix, release, err := l.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	return ix.Document(id)
}

// Apply validates changes and writes them to the served index as one batch,
// recording seq, the change-log sequence they bring the index to (see Index.Apply).
func (l *Live) Apply(ctx context.Context, seq uint64, changes []Change) error {
	for i := range changes {
		if changes[i].Doc == nil {
			continue
		}
		if err := ValidateDocument(changes[i].Doc); err != nil {
			return fmt.Errorf("change %d: %w", i, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ix, release, err := l.acquire()
	if err != nil {
		return err
	}
	defer release()
	return ix.Apply(seq, changes)
}

// Search runs a search on the served index.
func (l *Live) Search(ctx context.Context, req Request) (*Result, error) {
	ix, release, err := l.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	return ix.search(ctx, req, l.tax, l.tune)
}
