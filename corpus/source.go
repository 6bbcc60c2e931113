package corpus

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

//go:embed default/backend-web-development.md
var defaultFS embed.FS

const (
	defaultFile = "default/backend-web-development.md"
	defaultName = "embedded:backend-web-development.md"
)

// MaxFileSize is the largest Markdown or HTML file a Source reads; a larger one is a record error.
// JSONL files are streamed and have no limit.
const MaxFileSize = 64 << 20

// Source is a corpus to index: the embedded default article, one file, or a directory tree of
// Markdown, HTML and JSONL files.
type Source struct {
	name    string
	path    string // "" for the embedded corpus
	dir     bool
	tax     *Taxonomy
	ignored atomic.Int64
}

// Default returns the embedded default corpus (an article on back-end web development, 32 records)
// tagged with the default taxonomy.
func Default() *Source {
	return &Source{name: defaultName, tax: DefaultTaxonomy()}
}

// Open returns the source at path: a .jsonl, .md, .markdown, .html or .htm file, or a directory read
// recursively. An empty path is the embedded default corpus. Records are tagged with tax; a nil tax
// leaves them with the facets they declare.
func Open(path string, tax *Taxonomy) (*Source, error) {
	if path == "" {
		return &Source{name: defaultName, tax: tax}, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open corpus %s: %w", path, err)
	}
	if !fi.IsDir() && fileKind(path) == "" {
		return nil, fmt.Errorf("open corpus %s: not a directory nor a .jsonl, .md, .markdown, .html or .htm file", path)
	}
	return &Source{name: path, path: path, dir: fi.IsDir(), tax: tax}, nil
}

// Name returns the path the source was opened with, or "embedded:backend-web-development.md".
func (s *Source) Name() string { return s.name }

// IgnoredFiles returns how many files the last complete pass over a directory left alone because
// they are neither Markdown, HTML nor JSONL (symbolic links included: they are not followed).
func (s *Source) IgnoredFiles() int { return int(s.ignored.Load()) }

// Documents yields the records of the source, tagged by the taxonomy, one file at a time, in sorted
// path order (hidden files and directories skipped). A bad record or file yields a *RecordError and
// the sequence goes on: the caller decides whether to stop. A fatal error (a directory that cannot be
// read, ctx cancelled) yields a plain error and ends the sequence. Duplicate ids are not detected.
// At the end of a complete pass the counts are logged with log/slog.
func (s *Source) Documents(ctx context.Context) iter.Seq2[Document, error] {
	return func(yield func(Document, error) bool) {
		p := pass{src: s, ctx: ctx, yield: yield}
		if !p.run() {
			return
		}
		s.ignored.Store(int64(p.ignored))
		slog.Info("corpus read", slog.String("source", s.name), slog.Int("files", p.files),
			slog.Int("records", p.records), slog.Int("record_errors", p.errors), slog.Int("ignored_files", p.ignored))
	}
}

// run walks the whole source; it returns false when the walk ended early.
func (p *pass) run() bool {
	s := p.src
	switch {
	case s.path == "":
		return p.file(defaultName, func() (io.ReadCloser, error) { return defaultFS.Open(defaultFile) })
	case s.dir:
		return p.dir(s.path)
	default:
		return p.file(s.path, func() (io.ReadCloser, error) { return os.Open(s.path) })
	}
}

// Count returns the number of good records of the source: it reads the source as Documents does,
// without tagging records or logging, so it costs less than a pass of Documents. It is meant to
// give a total for progress reports, while another pass reads the records.
func (s *Source) Count(ctx context.Context) (int, error) {
	n := 0
	var fatal error
	p := pass{src: s, ctx: ctx, count: true, yield: func(_ Document, err error) bool {
		if err == nil {
			n++
			return true
		}
		var re *RecordError
		if !errors.As(err, &re) {
			fatal = err
			return false
		}
		return true
	}}
	p.run()
	return n, fatal
}

// pass is one walk over a source. Its methods return false when the walk must end: the consumer
// stopped, or a fatal error was yielded.
type pass struct {
	src                             *Source
	ctx                             context.Context
	yield                           func(Document, error) bool
	count                           bool // only counting: no tagging
	files, records, errors, ignored int
}

func (p *pass) dir(dir string) bool {
	if err := p.ctx.Err(); err != nil {
		p.yield(Document{}, fmt.Errorf("read corpus %s: %w", p.src.name, err))
		return false
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		p.yield(Document{}, fmt.Errorf("read corpus directory %s: %w", dir, err))
		return false
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			p.ignored++
		case e.IsDir():
			if !p.dir(path) {
				return false
			}
		case e.Type().IsRegular() && fileKind(path) != "":
			if !p.file(path, func() (io.ReadCloser, error) { return os.Open(path) }) {
				return false
			}
		default:
			p.ignored++
		}
	}
	return true
}

// file yields the records of one file.
func (p *pass) file(path string, open func() (io.ReadCloser, error)) bool {
	if err := p.ctx.Err(); err != nil {
		p.yield(Document{}, fmt.Errorf("read corpus %s: %w", p.src.name, err))
		return false
	}
	p.files++
	f, err := open()
	if err != nil {
		return p.emit(Document{}, &RecordError{Path: path, Err: err})
	}
	defer f.Close()
	kind := fileKind(path)
	if kind == "jsonl" {
		for doc, err := range ReadJSONL(path, f) {
			if cerr := p.ctx.Err(); cerr != nil {
				p.yield(Document{}, fmt.Errorf("read corpus %s: %w", p.src.name, cerr))
				return false
			}
			if !p.emit(doc, err) {
				return false
			}
		}
		return true
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return p.emit(Document{}, &RecordError{Path: path, Err: err})
	}
	if len(data) > MaxFileSize {
		return p.emit(Document{}, &RecordError{Path: path, Err: fmt.Errorf("larger than %d bytes", MaxFileSize)})
	}
	if line := binaryLine(data); line > 0 {
		return p.emit(Document{}, &RecordError{Path: path, Line: line, Err: fmt.Errorf("not a text file: it holds a NUL byte (binary data named %s?)", filepath.Ext(path))})
	}
	var docs []Document
	if kind == "markdown" {
		docs, err = ParseMarkdown(path, data)
	} else {
		// An HTML page is named by its path from the root of the source, which is its URL on the site.
		docs, err = ParseHTML(p.src.relative(path), bytes.NewReader(data))
		if re, ok := err.(*RecordError); ok {
			re.Path = path
		}
	}
	if err != nil {
		return p.emit(Document{}, err)
	}
	for _, doc := range docs {
		if !p.emit(doc, nil) {
			return false
		}
	}
	return true
}

// binaryLine returns the 1-based line of the first NUL byte in data, or 0 when there is none or the
// file is UTF-16 (marked by its byte order mark), where NUL bytes are part of the text. A Markdown or
// HTML file with a NUL byte is binary data under the wrong name: an image, an archive.
func binaryLine(data []byte) int {
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		return 0
	}
	i := bytes.IndexByte(data, 0)
	if i < 0 {
		return 0
	}
	return bytes.Count(data[:i], []byte("\n")) + 1
}

// relative returns a file's path from the root of the source: its base name for a one-file source.
func (s *Source) relative(path string) string {
	if s.dir {
		if rel, err := filepath.Rel(s.path, path); err == nil {
			return rel
		}
	}
	return filepath.Base(path)
}

// emit tags and yields one record, or yields a record error.
func (p *pass) emit(doc Document, err error) bool {
	if err != nil {
		p.errors++
		return p.yield(Document{}, err)
	}
	if p.src.tax != nil && !p.count {
		p.src.tax.Tag(&doc)
	}
	p.records++
	return p.yield(doc, nil)
}

// fileKind returns "markdown", "html" or "jsonl" by a file's extension, or "" for other files.
func fileKind(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".md", ".markdown":
		return "markdown"
	case ".html", ".htm":
		return "html"
	case ".jsonl":
		return "jsonl"
	}
	return ""
}
