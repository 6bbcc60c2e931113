package index

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stacksearch/stacksearch/corpus"
)

// Store builds indexes and keeps them: in a data directory, or in memory when
// the directory is empty. A data directory holds one directory per build under
// indexes/ and a file named current naming the complete build to serve; a
// build becomes current only once it is complete, so a crash at any moment
// leaves the previous index to serve.
type Store struct {
	dir string
	log *slog.Logger
	seq atomic.Int64
}

const currentFile = "current"

// OpenStore prepares the data directory dir ("" keeps indexes in memory).
func OpenStore(dir string, log *slog.Logger) (*Store, error) {
	s := &Store{dir: dir, log: log}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "indexes"), 0o755); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	return s, nil
}

// Dir returns the data directory, empty for an in-memory store.
func (s *Store) Dir() string { return s.dir }

// OpenCurrent opens the current index of the data directory. It removes builds
// that never completed (left by a crash) and says so in the log. With no
// complete index it returns ErrNoIndex.
func (s *Store) OpenCurrent() (*Index, error) {
	if s.dir == "" {
		return nil, ErrNoIndex
	}
	raw, err := os.ReadFile(filepath.Join(s.dir, currentFile))
	if errors.Is(err, os.ErrNotExist) {
		s.removeStale("")
		return nil, fmt.Errorf("data dir %s: %w", s.dir, ErrNoIndex)
	}
	if err != nil {
		return nil, fmt.Errorf("data dir %s: read %s: %w", s.dir, currentFile, err)
	}
	version := strings.TrimSpace(string(raw))
	if version == "" || strings.ContainsAny(version, `/\`) || version == "." || version == ".." {
		return nil, fmt.Errorf("data dir %s: %s names no valid build (%q)", s.dir, currentFile, version)
	}
	ix, err := openIndex(filepath.Join(s.dir, "indexes", version))
	if err != nil {
		return nil, err
	}
	s.removeStale(version)
	return ix, nil
}

// removeStale deletes every build directory but keep, left by a crashed build
// or a crash before an old index was removed.
func (s *Store) removeStale(keep string) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "indexes"))
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Name() == keep {
			continue
		}
		path := filepath.Join(s.dir, "indexes", e.Name())
		if err := os.RemoveAll(path); err != nil {
			s.log.Warn("could not remove a stale index build", slog.String("path", path), slog.Any("error", err))
			continue
		}
		s.log.Info("recovered: removed an index build that was not current (an interrupted reindex)", slog.String("path", path))
	}
}

// Build reads docs into a new index beside any live one, then applies
// opts.Changes on top. On failure nothing of it is left. The new index is not
// yet the one a restart opens: MakeCurrent records it so.
func (s *Store) Build(ctx context.Context, docs iter.Seq2[corpus.Document, error], opts BuildOptions) (*Index, *BuildReport, error) {
	start := time.Now()
	// the time orders builds for a reader of the data dir; the random part keeps
	// two builds apart however close, across restarts too
	var salt [4]byte
	rand.Read(salt[:])
	version := fmt.Sprintf("%s-%d-%x", time.Now().UTC().Format("20060102T150405Z"), s.seq.Add(1), salt)
	dir := ""
	if s.dir != "" {
		dir = filepath.Join(s.dir, "indexes", version)
	}
	ix, err := newIndex(dir)
	if err != nil {
		return nil, nil, err
	}
	rep, err := ix.fill(ctx, docs, opts)
	if err == nil && opts.Changes != nil {
		rep.APIChanges, err = ix.CatchUp(opts.Changes)
	}
	if err == nil {
		err = ix.compact(ctx)
	}
	if err == nil {
		rep.Documents, err = ix.Count()
	}
	if err == nil {
		rep.Duration = time.Since(start)
		err = ix.setMeta(Meta{Version: version, Source: opts.Source, BuildTime: time.Now().UTC(), BuildDuration: rep.Duration})
	}
	if err != nil {
		s.Discard(ix)
		return nil, rep, err
	}
	return ix, rep, nil
}

// MakeCurrent records ix, complete, as the index the next start opens.
func (s *Store) MakeCurrent(ix *Index) error {
	if s.dir == "" {
		return nil
	}
	if err := writeFileAtomic(filepath.Join(s.dir, currentFile), []byte(ix.meta.Version+"\n")); err != nil {
		return fmt.Errorf("record new index as current: %w", err)
	}
	return nil
}

// Discard closes and deletes a built index that will not be served.
func (s *Store) Discard(ix *Index) {
	ix.Close()
	if ix.Dir != "" {
		os.RemoveAll(ix.Dir)
	}
}

// Retire closes an index that is no longer served and deletes its directory.
func (s *Store) Retire(ix *Index) error {
	err := ix.Close()
	if ix.Dir != "" {
		if rerr := os.RemoveAll(ix.Dir); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// writeFileAtomic replaces path with data so that a crash leaves either the old
// or the new content, never a mix.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
