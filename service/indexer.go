package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/stacksearch/stacksearch/corpus"
	"github.com/stacksearch/stacksearch/index"
)

// Indexer builds indexes from the corpus source and swaps them into the live index.
type Indexer struct {
	store   *index.Store
	live    *index.Live
	corpus  string
	tax     *corpus.Taxonomy
	skipBad bool
	log     *slog.Logger
}

// Progress reports how far a build has got.
type Progress func(phase string, done, total int)

// Load serves the index kept in the data directory, or builds one from the
// corpus when there is none (or rebuild is set).
func (x *Indexer) Load(ctx context.Context, rebuild bool) error {
	if !rebuild {
		start := time.Now()
		ix, err := x.store.OpenCurrent()
		switch {
		case err == nil:
			x.live.Swap(ix)
			info, _ := x.live.Info()
			x.log.Info("opened index", slog.String("dir", ix.Dir), slog.String("version", ix.Meta().Version),
				slog.Int("documents", info.Documents), slog.Duration("took", time.Since(start)))
			return nil
		case !errors.Is(err, index.ErrNoIndex):
			return fmt.Errorf("%w (start with -rebuild to build a new index from the corpus)", err)
		}
	}
	rep, err := x.Rebuild(ctx, x.skipBad, nil)
	if err != nil {
		return err
	}
	x.log.Info("built index", slog.String("source", x.sourceName()), slog.Int("documents", rep.Documents),
		slog.Int("skipped", rep.Skipped), slog.Duration("took", rep.Duration))
	return nil
}

func (x *Indexer) sourceName() string {
	if x.corpus == "" {
		return corpus.Default().Name()
	}
	return x.corpus
}

// Rebuild builds a new index from the corpus beside the live one and swaps it
// in. On failure the live index is untouched.
func (x *Indexer) Rebuild(ctx context.Context, skipBad bool, progress Progress) (*index.BuildReport, error) {
	if progress == nil {
		progress = func(string, int, int) {}
	}
	src, err := x.open()
	if err != nil {
		return nil, err
	}
	progress("reading", 0, 0)
	total := 0
	for _, err := range src.Documents(ctx) {
		if err == nil {
			total++
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	progress("indexing", 0, total)
	ix, rep, err := x.store.Build(ctx, src.Documents(ctx), index.BuildOptions{
		Source:   src.Name(),
		SkipBad:  skipBad,
		Progress: func(done int) { progress("indexing", done, total) },
	})
	if err != nil {
		return rep, fmt.Errorf("build index from %s: %w", src.Name(), err)
	}
	progress("swapping", rep.Documents, total)
	if old := x.live.Swap(ix); old != nil {
		if err := x.store.Retire(old); err != nil {
			x.log.Warn("could not remove the replaced index", slog.String("dir", old.Dir), slog.Any("error", err))
		}
	}
	progress("done", rep.Documents, total)
	return rep, nil
}

// open opens the configured corpus source: the embedded default, or a path.
func (x *Indexer) open() (*corpus.Source, error) {
	src, err := corpus.Open(x.corpus, x.tax)
	if err != nil {
		return nil, fmt.Errorf("open corpus: %w", err)
	}
	return src, nil
}
