//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReindexOnReadOnlyDataDir makes the data directory read-only under a
// serving searchd: the reindex fails with a clear error and searches go on.
func TestReindexOnReadOnlyDataDir(t *testing.T) {
	dataDir := t.TempDir()
	s := startServer(t, serverOptions{token: testToken, args: []string{"-data-dir", dataDir}})
	undo := makeReadOnly(t, dataDir)
	defer undo()
	op := reindexAndWait(t, s)
	if op.Error == nil || !strings.Contains(op.Error.Message, "read-only file system") && !strings.Contains(op.Error.Message, "permission denied") {
		t.Errorf("reindex on a read-only data dir: %v, want a failure saying why", op)
	}
	t.Logf("reindex error: %s", op.GetError().GetMessage())
	if n := totalHits(t, s, "salary"); n == 0 {
		t.Error("the live index stopped serving")
	}
	undo()
	if op := reindexAndWait(t, s); op.Error != nil {
		t.Errorf("reindex once writable again: %v", op.Error)
	}
}

// TestReindexWhenDiskFull fills the disk during a reindex: a small tmpfs when
// the test may mount one (root), else a file size limit on the process
// (EFBIG rather than ENOSPC, the same failed write). The reindex fails with a
// clear error, leaves nothing behind, and the live index keeps serving.
func TestReindexWhenDiskFull(t *testing.T) {
	dir := t.TempDir()
	corpusPath := filepath.Join(dir, "corpus.jsonl")
	writeCorpus(t, corpusPath, 200, "alpha")
	dataDir := filepath.Join(dir, "data")
	os.MkdirAll(dataDir, 0o755)
	mounted := mountTmpfs(dataDir, 3<<20)
	if mounted {
		defer unmount(dataDir)
	}
	s := startServer(t, serverOptions{token: testToken, args: []string{"-data-dir", dataDir, "-corpus", corpusPath}})
	if !mounted {
		limitFileSize(t, s.cmd.Process.Pid, 256<<10)
	}
	writeCorpus(t, corpusPath, 8000, "beta") // an index of several MB: it cannot fit
	op := reindexAndWait(t, s)
	if op.Error == nil || !strings.Contains(op.Error.Message, "no space left on device") && !strings.Contains(op.Error.Message, "file too large") {
		t.Errorf("reindex on a full disk (tmpfs %v): %v, want a failure saying why", mounted, op)
	}
	t.Logf("reindex error (tmpfs %v): %s", mounted, op.GetError().GetMessage())
	if n := totalHits(t, s, "alpha"); n != 200 {
		t.Errorf("the live index serves %d alpha records, want 200", n)
	}
	builds, _ := os.ReadDir(filepath.Join(dataDir, "indexes"))
	if len(builds) != 1 {
		t.Errorf("%d index builds left on disk, want only the live one", len(builds))
	}
}

// makeReadOnly makes dir read-only for the server: a read-only bind mount when
// running as root (root ignores permissions), else chmod. It returns the undo,
// safe to call twice.
func makeReadOnly(t *testing.T, dir string) func() {
	t.Helper()
	if os.Geteuid() == 0 {
		if err := syscall.Mount(dir, dir, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			t.Skipf("cannot bind-mount %s read-only: %v", dir, err)
		}
		if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
			unmount(dir)
			t.Skipf("cannot remount %s read-only: %v", dir, err)
		}
		done := false
		return func() {
			if !done {
				done = true
				unmount(dir)
			}
		}
	}
	var dirs []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
			os.Chmod(path, 0o555)
		}
		return nil
	})
	return func() {
		for _, d := range dirs {
			os.Chmod(d, 0o755)
		}
	}
}

// mountTmpfs mounts a tmpfs of size bytes on dir, reporting whether it could.
func mountTmpfs(dir string, size int) bool {
	if os.Geteuid() != 0 {
		return false
	}
	return syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(size)) == nil
}

func unmount(dir string) { syscall.Unmount(dir, syscall.MNT_DETACH) }

// limitFileSize stops process pid from writing files larger than n bytes.
func limitFileSize(t *testing.T, pid, n int) {
	t.Helper()
	lim := unix.Rlimit{Cur: uint64(n), Max: uint64(n)}
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &lim, nil); err != nil {
		t.Skipf("cannot limit the file size of searchd: %v", err)
	}
}
