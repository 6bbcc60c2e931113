package index

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stacksearch/stacksearch/corpus"
)

// snapshotStore returns a store in a new data directory with one index of n
// documents built in it, with a change applied at sequence 7.
func snapshotStore(t *testing.T, n int) (*Store, *Index) {
	t.Helper()
	s, err := OpenStore(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	docs := func(yield func(corpus.Document, error) bool) {
		for i := range n {
			c := upsert(string(rune('a'+i%26))+string(rune('a'+i/26)), "a document about snapshots")
			if !yield(*c.Doc, nil) {
				return
			}
		}
	}
	ix, _, err := s.Build(context.Background(), docs, BuildOptions{Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	if err := ix.Apply(7, []Change{upsert("added", "an added document")}); err != nil {
		t.Fatal(err)
	}
	return s, ix
}

func TestSnapshotRoundTrip(t *testing.T) {
	ctx := context.Background()
	src, ix := snapshotStore(t, 40)
	var buf bytes.Buffer
	info, err := src.ExportSnapshot(ctx, ix, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if info.Bytes != int64(buf.Len()) || len(info.SHA256) != 64 {
		t.Fatalf("info %+v for %d bytes", info, buf.Len())
	}
	// the index keeps serving and changing after the copy
	if err := ix.Apply(8, []Change{upsert("later", "after the snapshot")}); err != nil {
		t.Fatal(err)
	}

	dst, err := OpenStore(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := dst.ImportSnapshot(ctx, ix.Meta().Version, bytes.NewReader(buf.Bytes()), info)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := got.Count()
	if n != 41 || got.AppliedSeq() != 7 || got.Meta() != ix.Meta() {
		t.Errorf("imported %d documents at sequence %d, meta %+v; want 41 at 7, meta %+v", n, got.AppliedSeq(), got.Meta(), ix.Meta())
	}
	if _, err := got.Document("added"); err != nil {
		t.Errorf("the change before the snapshot is missing: %v", err)
	}
	if _, err := got.Document("later"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the change after the snapshot is in it: %v", err)
	}
	if got.Dir != filepath.Join(dst.Dir(), "indexes", ix.Meta().Version) {
		t.Errorf("imported into %s", got.Dir)
	}
	// it can be made current and reopened as any build
	if err := dst.MakeCurrent(got); err != nil {
		t.Fatal(err)
	}
	got.Close()
	again, err := dst.OpenCurrent()
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
	// no temporary directory is left behind, here or at the source
	for _, s := range []*Store{src, dst} {
		entries, _ := os.ReadDir(filepath.Join(s.Dir(), "indexes"))
		for _, e := range entries {
			if e.Name() != ix.Meta().Version {
				t.Errorf("%s left in %s", e.Name(), s.Dir())
			}
		}
	}
	// importing it again where it is is refused, not overwritten
	if _, err := dst.ImportSnapshot(ctx, ix.Meta().Version, bytes.NewReader(buf.Bytes()), info); err == nil {
		t.Error("importing over an existing index succeeded")
	}
}

func TestSnapshotRefusesBadArchives(t *testing.T) {
	ctx := context.Background()
	src, ix := snapshotStore(t, 5)
	var buf bytes.Buffer
	info, err := src.ExportSnapshot(ctx, ix, &buf)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := slices.Clone(buf.Bytes())
	corrupt[len(corrupt)/2] ^= 0xff
	var evil bytes.Buffer
	tw := tar.NewWriter(&evil)
	tw.WriteHeader(&tar.Header{Name: "../escape", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()

	cases := []struct {
		name    string
		version string
		data    []byte
		want    SnapshotInfo
	}{
		{"flipped byte", ix.Meta().Version, corrupt, info},
		{"wrong checksum", ix.Meta().Version, buf.Bytes(), SnapshotInfo{Bytes: info.Bytes, SHA256: "00"}},
		{"truncated", ix.Meta().Version, buf.Bytes()[:buf.Len()/3], info},
		{"name leaving the directory", ix.Meta().Version, evil.Bytes(), info},
		{"wrong version", "another-version", buf.Bytes(), info},
		{"version naming a path", "../x", buf.Bytes(), info},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst, err := OpenStore(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			got, err := dst.ImportSnapshot(ctx, c.version, bytes.NewReader(c.data), c.want)
			if err == nil {
				got.Close()
				t.Fatal("imported")
			}
			if !errors.Is(err, ErrBadSnapshot) {
				t.Errorf("error %v, want ErrBadSnapshot", err)
			}
			entries, _ := os.ReadDir(filepath.Join(dst.Dir(), "indexes"))
			if len(entries) != 0 {
				t.Errorf("left %d entries in the data directory: %v", len(entries), entries[0].Name())
			}
			if _, err := os.Stat(filepath.Join(dst.Dir(), "escape")); err == nil {
				t.Error("a file was written outside the index directory")
			}
		})
	}
}
