package index

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/blevesearch/bleve/v2"
)

// A snapshot is an index directory as one file, for copying an index between
// replicas: a tar archive of a consistent copy of the index (Bleve's online
// CopyTo, so the index may keep serving and merging while it is written), with
// the build metadata and the applied sequence inside the index as always.

// ErrBadSnapshot marks a snapshot that is not what its manifest says (size,
// checksum) or not an index at all.
var ErrBadSnapshot = errors.New("bad snapshot")

// SnapshotInfo identifies the bytes of a snapshot.
type SnapshotInfo struct {
	// Bytes is the size of the archive.
	Bytes int64
	// SHA256 is the hex SHA-256 of the archive.
	SHA256 string
}

// snapshotTempPrefix starts the names of the directories a snapshot is copied
// to or unpacked in; a crash leaves them under indexes/, where the next
// OpenCurrent removes them with the other builds that are not current.
const snapshotTempPrefix = ".snapshot-"

// ExportSnapshot writes a consistent copy of ix, an index of this store's data
// directory, to w as a snapshot archive and returns its size and checksum.
// ix may serve searches and take changes meanwhile: the copy is of one point in
// time. It needs a data directory, where the copy is made first.
func (s *Store) ExportSnapshot(ctx context.Context, ix *Index, w io.Writer) (SnapshotInfo, error) {
	if s.dir == "" {
		return SnapshotInfo{}, errors.New("export snapshot: the store has no data directory")
	}
	copyable, ok := ix.bleve.(bleve.IndexCopyable)
	if !ok {
		return SnapshotInfo{}, errors.New("export snapshot: the index cannot be copied while open")
	}
	tmp, err := s.tempDir()
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("export snapshot: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := copyable.CopyTo(bleve.FileSystemDirectory(tmp)); err != nil {
		return SnapshotInfo{}, fmt.Errorf("export snapshot: copy index %s: %w", ix.Dir, err)
	}
	if err := ctx.Err(); err != nil {
		return SnapshotInfo{}, err
	}
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(w, h)}
	tw := tar.NewWriter(cw)
	err = filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(tmp, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: fi.Size(), ModTime: fi.ModTime(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("export snapshot: write archive: %w", err)
	}
	return SnapshotInfo{Bytes: cw.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// ImportSnapshot unpacks the snapshot archive read from r into a new index
// directory of this store named version, checks it against want (size and
// checksum) before opening it, and returns it, opened and not yet served. A
// snapshot that does not match is ErrBadSnapshot, and nothing of it is left.
func (s *Store) ImportSnapshot(ctx context.Context, version string, r io.Reader, want SnapshotInfo) (*Index, error) {
	if s.dir == "" {
		return nil, errors.New("import snapshot: the store has no data directory")
	}
	if !validVersion(version) {
		return nil, fmt.Errorf("import snapshot: %w: %q is not a valid index version", ErrBadSnapshot, version)
	}
	tmp, err := s.tempDir()
	if err != nil {
		return nil, fmt.Errorf("import snapshot %s: %w", version, err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(r, h)}
	if err := untar(ctx, tar.NewReader(cr), tmp); err != nil {
		return nil, fmt.Errorf("import snapshot %s: %w", version, err)
	}
	// the archive ends before the stream does (tar pads to a record): hash it all
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return nil, fmt.Errorf("import snapshot %s: %w", version, err)
	}
	got := SnapshotInfo{Bytes: cr.n, SHA256: hex.EncodeToString(h.Sum(nil))}
	if got != want {
		return nil, fmt.Errorf("import snapshot %s: %w: got %d bytes with SHA-256 %s, the manifest says %d bytes with %s",
			version, ErrBadSnapshot, got.Bytes, got.SHA256, want.Bytes, want.SHA256)
	}
	if err := syncDir(tmp); err != nil {
		return nil, fmt.Errorf("import snapshot %s: %w", version, err)
	}
	// An index directory appears only by this rename or a build, complete:
	// one there already is an index of this version, perhaps the one served.
	dir := filepath.Join(s.dir, "indexes", version)
	if _, err := os.Stat(dir); err == nil {
		return nil, fmt.Errorf("import snapshot %s: the data directory already holds that index", version)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("import snapshot %s: %w", version, err)
	}
	ix, err := openIndex(dir)
	if err == nil && ix.meta.Version != version {
		ix.Close()
		err = fmt.Errorf("%w: it holds index version %q", ErrBadSnapshot, ix.meta.Version)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("import snapshot %s: %w", version, err)
	}
	return ix, nil
}

// tempDir makes a new directory for a snapshot being copied or unpacked.
func (s *Store) tempDir() (string, error) {
	var salt [6]byte
	rand.Read(salt[:])
	dir := filepath.Join(s.dir, "indexes", snapshotTempPrefix+hex.EncodeToString(salt[:]))
	return dir, os.Mkdir(dir, 0o755)
}

// untar writes the regular files of an archive under dir, refusing any other
// kind of entry and any name that would leave dir.
func untar(ctx context.Context, tr *tar.Reader, dir string) error {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := path.Clean(hdr.Name)
		if hdr.Typeflag != tar.TypeReg || path.IsAbs(name) || name == "." || strings.HasPrefix(name, "../") || name == ".." {
			return fmt.Errorf("%w: unexpected entry %q", ErrBadSnapshot, hdr.Name)
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: the archive is truncated", ErrBadSnapshot)
		}
		if err != nil {
			return err
		}
	}
}

// syncDir fsyncs every directory under dir, so that the files written into
// them survive a crash once the directory is renamed into place.
func syncDir(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}

// validVersion reports whether v can name an index directory.
func validVersion(v string) bool {
	return v != "" && v != "." && v != ".." && !strings.ContainsAny(v, `/\`) && !strings.HasPrefix(v, snapshotTempPrefix)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
