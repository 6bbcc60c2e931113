package index

import (
	"context"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"slices"
	"testing"

	"github.com/stacksearch/stacksearch/corpus"
)

func upsert(id, title string) Change {
	return Change{ID: id, Doc: &corpus.Document{ID: id, Title: title, Body: "body of " + id, Type: corpus.TypeSection}}
}

func del(id string) Change { return Change{ID: id} }

// logState replays the whole log into a map of id → title ("" for a deletion)
// and returns the sequences fn was called with.
func logState(t *testing.T, l *ChangeLog, after uint64) (map[string]string, []uint64) {
	t.Helper()
	state := map[string]string{}
	var seqs []uint64
	err := l.replay(after, func(seq uint64, changes []Change) error {
		seqs = append(seqs, seq)
		for _, c := range changes {
			if c.Doc == nil {
				state[c.ID] = ""
			} else {
				state[c.ID] = c.Doc.Title
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return state, seqs
}

// changeLogs runs a test on an on-disk log and on an in-memory one; reopen
// returns the log as a restart would see it (the same one in memory).
func changeLogs(t *testing.T, test func(t *testing.T, l *ChangeLog, reopen func() *ChangeLog)) {
	t.Run("disk", func(t *testing.T) {
		dir := t.TempDir()
		l, err := OpenChangeLog(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		test(t, l, func() *ChangeLog {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if l, err = OpenChangeLog(dir); err != nil {
				t.Fatal(err)
			}
			return l
		})
	})
	t.Run("memory", func(t *testing.T) {
		l, _ := OpenChangeLog("")
		test(t, l, func() *ChangeLog { return l })
	})
}

func TestChangeLogKeepsTheLastChangePerDocument(t *testing.T) {
	changeLogs(t, func(t *testing.T, l *ChangeLog, reopen func() *ChangeLog) {
		steps := [][]Change{
			{upsert("a", "A1"), upsert("b", "B1")},
			{upsert("a", "A2"), del("c")},
			{del("b"), upsert("d", "D1")},
		}
		for i, batch := range steps {
			if err := l.Record(uint64(i+1), batch); err != nil {
				t.Fatal(err)
			}
		}
		l = reopen()
		if l.LastSeq() != 3 || l.Len() != 4 {
			t.Errorf("LastSeq %d, Len %d; want 3, 4", l.LastSeq(), l.Len())
		}
		state, seqs := logState(t, l, 0)
		want := map[string]string{"a": "A2", "b": "", "c": "", "d": "D1"}
		if fmt.Sprint(state) != fmt.Sprint(want) {
			t.Errorf("replay from 0 = %v, want %v", state, want)
		}
		if !slices.Equal(seqs, []uint64{3}) {
			t.Errorf("chunks ended at %v, want one chunk ending at 3", seqs)
		}
		state, _ = logState(t, l, 2)
		if want := map[string]string{"b": "", "d": "D1"}; fmt.Sprint(state) != fmt.Sprint(want) {
			t.Errorf("replay after 2 = %v, want %v", state, want)
		}
		if err := l.Record(3, []Change{upsert("e", "E")}); err == nil {
			t.Error("recording sequence 3 again succeeded")
		}
		if err := l.Clear(); err != nil {
			t.Fatal(err)
		}
		l = reopen()
		if state, _ := logState(t, l, 0); len(state) != 0 || l.Len() != 0 || l.LastSeq() != 3 {
			t.Errorf("after Clear: %v, Len %d, LastSeq %d; want nothing, 0, 3", state, l.Len(), l.LastSeq())
		}
	})
}

func TestChangeLogReplayNeverSplitsABatch(t *testing.T) {
	changeLogs(t, func(t *testing.T, l *ChangeLog, _ func() *ChangeLog) {
		var big []Change
		for i := range replayBatch + 5 {
			big = append(big, upsert(fmt.Sprintf("big-%04d", i), "x"))
		}
		batches := [][]Change{{upsert("first", "x")}, big, {upsert("last", "x")}}
		for i, b := range batches {
			if err := l.Record(uint64(i+1), b); err != nil {
				t.Fatal(err)
			}
		}
		sizes := map[uint64]int{}
		err := l.replay(0, func(seq uint64, changes []Change) error {
			sizes[seq] = len(changes)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// the first chunk takes "first" and all of batch 2, however many that is
		if sizes[2] != replayBatch+6 || sizes[3] != 1 || len(sizes) != 2 {
			t.Errorf("chunk sizes by last sequence = %v; want {2: %d, 3: 1}", sizes, replayBatch+6)
		}
	})
}

// docsOf is a corpus of documents.
func docsOf(docs ...corpus.Document) iter.Seq2[corpus.Document, error] {
	return func(yield func(corpus.Document, error) bool) {
		for _, d := range docs {
			if !yield(d, nil) {
				return
			}
		}
	}
}

func TestBuildAppliesTheChangeLogAndRecoveryCatchesUp(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := OpenStore(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := OpenChangeLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer changes.Close()
	// API changes made before the build: replace a corpus record, delete one, add one.
	if err := changes.Record(1, []Change{upsert("c1", "changed through the API"), del("c2"), upsert("api", "added through the API")}); err != nil {
		t.Fatal(err)
	}
	corpusDocs := docsOf(
		corpus.Document{ID: "c1", Title: "corpus one", Body: "x"},
		corpus.Document{ID: "c2", Title: "corpus two", Body: "x"},
		corpus.Document{ID: "c3", Title: "corpus three", Body: "x"},
	)
	ix, rep, err := store.Build(context.Background(), corpusDocs, BuildOptions{Source: "test", Changes: changes})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Documents != 3 || rep.APIChanges != 3 || ix.AppliedSeq() != 1 {
		t.Errorf("build: %d documents, %d API changes, applied %d; want 3, 3, 1", rep.Documents, rep.APIChanges, ix.AppliedSeq())
	}
	wantTitle(t, ix, "c1", "changed through the API")
	wantTitle(t, ix, "c2", "")
	wantTitle(t, ix, "api", "added through the API")
	if err := store.MakeCurrent(ix); err != nil {
		t.Fatal(err)
	}

	// A write recorded in the log whose index batch never happened (a crash
	// between the two): the reopened index catches up.
	if err := ix.Apply(2, []Change{upsert("c3", "applied")}); err != nil {
		t.Fatal(err)
	}
	if err := changes.Record(2, []Change{upsert("c3", "applied")}); err != nil {
		t.Fatal(err)
	}
	if err := changes.Record(3, []Change{upsert("c3", "recorded only"), del("api")}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix, err = store.OpenCurrent()
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if ix.AppliedSeq() != 2 {
		t.Fatalf("reopened index applied %d, want 2", ix.AppliedSeq())
	}
	n, err := ix.CatchUp(changes)
	if err != nil || n != 2 || ix.AppliedSeq() != 3 {
		t.Fatalf("CatchUp: %d changes, %v, applied %d; want 2 changes, applied 3", n, err, ix.AppliedSeq())
	}
	wantTitle(t, ix, "c3", "recorded only")
	wantTitle(t, ix, "api", "")
	if n, _ := ix.CatchUp(changes); n != 0 {
		t.Errorf("a second CatchUp applied %d changes", n)
	}
}

func wantTitle(t *testing.T, ix *Index, id, title string) {
	t.Helper()
	d, err := ix.Document(id)
	switch {
	case title == "" && err == nil:
		t.Errorf("document %s is there, want it deleted", id)
	case title != "" && err != nil:
		t.Errorf("document %s: %v", id, err)
	case title != "" && d.Title != title:
		t.Errorf("document %s has title %q, want %q", id, d.Title, title)
	}
}

func TestBuildReportsDuplicateIDsAcrossBatches(t *testing.T) {
	store, _ := OpenStore("", slog.New(slog.NewTextHandler(io.Discard, nil)))
	doc := func(id string) corpus.Document { return corpus.Document{ID: id, Title: "t " + id, Body: "b"} }
	var done []int
	ix, rep, err := store.Build(context.Background(), docsOf(doc("a"), doc("b"), doc("c"), doc("a"), doc("d"), doc("d"), doc("b")),
		BuildOptions{BatchSize: 2, Progress: func(n int) { done = append(done, n) }})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if rep.Documents != 4 || rep.Duplicates != 3 || !slices.Equal(rep.DuplicateIDs, []string{"a", "d", "b"}) {
		t.Errorf("report: %d documents, %d duplicates %v; want 4, 3 [a d b]", rep.Documents, rep.Duplicates, rep.DuplicateIDs)
	}
	if len(done) == 0 || done[len(done)-1] != 7 {
		t.Errorf("progress %v, want it to end at the 7 records read", done)
	}
}
