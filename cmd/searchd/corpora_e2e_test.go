package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// TestCorpusSources serves each kind of corpus a site can point searchd at.
func TestCorpusSources(t *testing.T) {
	ctx := context.Background()
	get := func(t *testing.T, s *testServer, id string) *pb.Document {
		t.Helper()
		d, err := s.search.GetDocument(ctx, &pb.GetDocumentRequest{Id: id})
		if err != nil {
			t.Fatalf("document %s: %v", id, err)
		}
		return d
	}

	t.Run("markdown directory with front matter and an FAQ, own taxonomy", func(t *testing.T) {
		s := startServer(t, serverOptions{args: []string{"-corpus", "testdata/site-md", "-taxonomy", "testdata/site-taxonomy.yaml"}})
		wantIgnoredFiles(t, s, 1) // CHANGELOG.txt
		if hits := searchIDs(t, s, "zephyr cache"); len(hits) == 0 || hits[0] != "guides-install--configure-the-zephyr-cache" {
			t.Errorf("zephyr cache: %v", hits)
		}
		d := get(t, s, "guides-install--configure-the-zephyr-cache")
		if d.Url != "/guides/install/#configure-the-zephyr-cache" || d.Page != "Installing Quillstack" || d.Type != "section" ||
			!slices.Equal(d.Languages, []string{"Python"}) || !slices.Equal(d.Frameworks, []string{"Quillstack"}) ||
			!slices.Equal(d.Topics, []string{"deployment"}) || d.Fields["author"] != "Ada Byron" || d.Fields["weight"] != "3" {
			t.Errorf("front matter not applied: %+v", d)
		}
		if d := get(t, s, "guides-install--cache-sizes"); d.Body != "Small sites need 64 MB." || d.Url != "/guides/install/#cache-sizes" {
			t.Errorf("the H3 section = %+v", d)
		}
		// the site's taxonomy tags what the front matter leaves out: postgres is its alias of PostgreSQL
		if d := get(t, s, "guides-install--requirements"); !slices.Equal(d.Databases, []string{"PostgreSQL"}) {
			t.Errorf("requirements databases = %v, want [PostgreSQL] from the site taxonomy", d.Databases)
		}
		var res restSearch
		s.rest("GET", "/v1/search?types=faq&page_size=10", "", nil, &res)
		var faqs []string
		for _, h := range res.Hits {
			faqs = append(faqs, h.Title)
		}
		slices.Sort(faqs)
		if want := []string{"Can Orchard run behind Nginx?", "How do I rotate the marmalade keys?", "Is there a hosted version?"}; !slices.Equal(faqs, want) {
			t.Errorf("FAQ records = %q, want %q", faqs, want)
		}
	})

	t.Run("html directory", func(t *testing.T) {
		s := startServer(t, serverOptions{args: []string{"-corpus", "testdata/site-html"}})
		wantIgnoredFiles(t, s, 1) // robots.txt
		if hits := searchIDs(t, s, "route parameters"); len(hits) == 0 || hits[0] != "index--route-params" {
			t.Errorf("route parameters: %v", hits)
		}
		d := get(t, s, "index--routing")
		if d.Url != "/index.html#routing" || d.Page != "Orchard Reference" || !slices.Contains(d.Frameworks, "Express") {
			t.Errorf("index--routing = %+v", d)
		}
		if d := get(t, s, "reference-api--auth"); d.Url != "/reference/api.html#auth" || d.Page != "HTTP API" || d.Title != "Authentication" {
			t.Errorf("reference-api--auth = %+v", d)
		}
		// only visible text: nothing from script, style, header, nav or footer
		for _, w := range []string{"bandersnatch", "quokkafont", "gryphon", "wyvern", "chimera"} {
			if hits := searchIDs(t, s, w); len(hits) > 0 {
				t.Errorf("%q (outside the visible content) found in %v", w, hits)
			}
		}
	})

	t.Run("jsonl file", func(t *testing.T) {
		s := startServer(t, serverOptions{args: []string{"-corpus", "testdata/docs.jsonl", "-taxonomy", "testdata/site-taxonomy.yaml"}})
		if d := get(t, s, "kb-1"); d.Url != "/kb/1" || d.Page != "Knowledge base" || !slices.Equal(d.Topics, []string{"security"}) ||
			!slices.Equal(d.Frameworks, []string{"Lighthouse"}) {
			t.Errorf("kb-1 = %+v", d)
		}
		if d := get(t, s, "kb-2"); d.Type != "faq" || d.Body != "Put a Redis cache in front of the lighthouse database." ||
			!slices.Equal(d.Databases, []string{"Redis"}) {
			t.Errorf("kb-2 (_id, text) = %+v", d)
		}
		if d := get(t, s, "3"); !slices.Equal(d.Frameworks, []string{"Ruby on Rails"}) || !slices.Equal(d.Languages, []string{"Ruby"}) {
			t.Errorf("numeric id 3 = %+v", d)
		}
	})

	t.Run("beir corpus", func(t *testing.T) {
		s := startServer(t, serverOptions{args: []string{"-corpus", "testdata/beir/corpus.jsonl"}})
		if hits := searchIDs(t, s, "myelodysplasia"); len(hits) == 0 || hits[0] != "5836" {
			t.Errorf("myelodysplasia: %v", hits)
		}
		if d := get(t, s, "7912"); !strings.HasPrefix(d.Body, "ID elements are short") {
			t.Errorf("7912 = %+v", d)
		}
	})

	// The real SciFact corpus, when the shared data is beside the repository.
	t.Run("scifact", func(t *testing.T) {
		const path = "../../../shared/relevance/scifact/corpus.jsonl"
		if _, err := os.Stat(path); err != nil {
			t.Skip("no SciFact corpus at", path)
		}
		if raceEnabled {
			t.Skip("5,183 documents take too long under the race detector")
		}
		s := startServer(t, serverOptions{args: []string{"-corpus", path}})
		if rec := s.logs.find("built index"); rec == nil || rec["documents"] != float64(5183) {
			t.Errorf("built index: %v, want 5183 documents", rec)
		}
		if _, err := s.search.GetDocument(ctx, &pb.GetDocumentRequest{Id: "4983"}); err != nil {
			t.Error(err)
		}
	})
}

// wantIgnoredFiles checks the build's log line for the count of files that are no corpus format.
func wantIgnoredFiles(t *testing.T, s *testServer, n int) {
	t.Helper()
	rec := s.logs.find("built index")
	if rec == nil || rec["ignored_files"] != float64(n) {
		t.Errorf("built index log %v, want ignored_files %d", rec, n)
	}
}

// TestMalformedCorpus breaks a good corpus one file kind at a time: each
// reindex fails naming the file and line, and the old index keeps serving;
// with skip_bad the bad records are counted and listed.
func TestMalformedCorpus(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "site")
	copyDir(t, "testdata/site-md", dir)
	copyDir(t, "testdata/site-html", filepath.Join(dir, "html"))
	copyFile(t, "testdata/docs.jsonl", filepath.Join(dir, "kb.jsonl"))
	s := startServer(t, serverOptions{token: testToken, args: []string{"-corpus", dir}})
	ctx := context.Background()
	actx := adminCtx(ctx, testToken)
	info, err := s.admin.GetIndex(actx, &pb.GetIndexRequest{})
	if err != nil {
		t.Fatal(err)
	}
	good := info.DocumentCount
	if good != 8+5+3 {
		t.Fatalf("the good corpus has %d records, want 16", good)
	}
	bad := []struct {
		kind, file, content, where string
	}{
		{"markdown", "broken.md", "---\ntitle: [unclosed\n---\n\n# Broken\n", "broken.md:2: front matter"},
		{"html", "html/broken.html", "<html>\n<body>\n\x89PNG\x00\x00\rIHDR\n</body>", "broken.html:3: not a text file"},
		{"jsonl", "broken.jsonl", `{"id": "ok-1", "title": "Fine"}` + "\n" + `{"id": "bad-1", "title": ` + "\n", "broken.jsonl:2: parse JSON"},
	}
	for _, b := range bad {
		t.Run(b.kind, func(t *testing.T) {
			path := filepath.Join(dir, b.file)
			if err := os.WriteFile(path, []byte(b.content), 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(path)
			op, err := s.admin.Reindex(actx, &pb.ReindexRequest{})
			if err != nil {
				t.Fatal(err)
			}
			final := waitOperation(t, s, op.Name)
			if final.Error == nil || (final.Error.Code != "INVALID_ARGUMENT" && final.Error.Code != "InvalidArgument") {
				t.Fatalf("reindex with %s succeeded or failed wrongly: %+v", b.file, final)
			}
			joined := strings.Join(final.Error.Details, "\n")
			if !strings.Contains(joined, filepath.Join(dir, b.file)) || !strings.Contains(joined, b.where) ||
				!strings.Contains(final.Error.Message, "-skip-bad") {
				t.Errorf("error %q, details %q: want %s:line named and -skip-bad suggested", final.Error.Message, final.Error.Details, b.where)
			}
			if hits := searchIDs(t, s, "marmalade"); len(hits) == 0 {
				t.Error("the old index stopped serving")
			}
			if info, _ := s.admin.GetIndex(actx, &pb.GetIndexRequest{}); info.GetDocumentCount() != good {
				t.Errorf("document count %d after a failed reindex, want %d", info.GetDocumentCount(), good)
			}
		})
	}

	t.Run("skip_bad counts and lists them", func(t *testing.T) {
		for _, b := range bad {
			if err := os.WriteFile(filepath.Join(dir, b.file), []byte(b.content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// and a duplicate id: kb-1 again, in another file
		if err := os.WriteFile(filepath.Join(dir, "more.jsonl"), []byte(`{"id": "kb-1", "title": "Resetting a password, again"}`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var op struct {
			Name string `json:"name"`
		}
		if code := s.rest("POST", "/v1/index:reindex", testToken, map[string]any{"skip_bad": true}, &op); code != 200 {
			t.Fatalf("reindex: %d", code)
		}
		final := waitOperation(t, s, op.Name)
		r := final.GetResult()
		if final.Error != nil || r.GetSkipped() != 3 || len(r.GetBadRecords()) != 3 || r.GetDocumentCount() != good+1 {
			t.Fatalf("reindex with skip_bad: error %v, result %+v; want 3 skipped and listed, %d documents", final.Error, r, good+1)
		}
		for i, b := range bad {
			if !strings.Contains(strings.Join(r.BadRecords, "\n"), b.where) {
				t.Errorf("bad record %d (%s) not listed in %q", i, b.where, r.BadRecords)
			}
		}
		if !slices.Equal(r.GetDuplicateIds(), []string{"kb-1"}) {
			t.Errorf("duplicate ids %v, want [kb-1]", r.GetDuplicateIds())
		}
		if d, err := s.search.GetDocument(ctx, &pb.GetDocumentRequest{Id: "kb-1"}); err != nil || d.Title != "Resetting a password, again" {
			t.Errorf("kb-1 = %v %v; want the last record with the id", d, err)
		}
	})

	t.Run("at start the build fails unless skip-bad", func(t *testing.T) {
		cmd := exec.Command(searchdBin, "-http-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:0", "-corpus", dir)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "broken.jsonl:2:") || !strings.Contains(string(out), "broken.md:2:") {
			t.Errorf("searchd on a bad corpus: %v\n%s", err, out)
		}
		s := startServer(t, serverOptions{args: []string{"-corpus", dir, "-skip-bad"}})
		if rec := s.logs.find("built index"); rec == nil || rec["skipped"] != float64(3) || rec["duplicate_ids"] != float64(1) {
			t.Errorf("built index: %v", rec)
		}
		if s.logs.find("skipped malformed records") == nil || s.logs.find("duplicate ids in the corpus: the last record of each won") == nil {
			t.Errorf("skipped records and duplicates are not logged:\n%s", s.logs)
		}
	})
}

// TestReindexLargeCorpusWhileSearching reindexes a generated corpus of 20,000
// records while clients search, over gRPC and REST, without a single failure.
func TestReindexLargeCorpusWhileSearching(t *testing.T) {
	const n = 20000
	path := filepath.Join(t.TempDir(), "large.jsonl")
	writeGeneratedCorpus(t, path, 100) // start small: the test is about the reindex
	s := startServer(t, serverOptions{token: testToken, args: []string{"-corpus", path, "-data-dir", t.TempDir()}})
	writeGeneratedCorpus(t, path, n)
	ctx := context.Background()

	load := startSearchLoad(s, loadOptions{clients: 4, queries: []string{"database", "cache latency", "django", "token auth", ""},
		requireHits: true, pause: time.Millisecond})

	start := time.Now()
	actx := adminCtx(ctx, testToken)
	op, err := s.admin.Reindex(actx, &pb.ReindexRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sawProgress := false
	deadline := time.Now().Add(5 * time.Minute)
	for !op.Done && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if op, err = s.admin.GetOperation(actx, &pb.GetOperationRequest{Name: op.Name}); err != nil {
			t.Fatal(err)
		}
		p := op.Progress
		if !op.Done && p.Phase == "indexing" && p.DocumentsTotal == n && p.DocumentsDone > 0 && p.DocumentsDone < n {
			sawProgress = true
		}
	}
	res := load.stop()
	if !op.Done || op.Error != nil || op.Result.DocumentCount != n {
		t.Fatalf("reindex: %+v", op)
	}
	if !sawProgress {
		t.Errorf("never saw progress of the form done/%d during the build", n)
	}
	if p := op.Progress; p.Phase != "done" || p.DocumentsDone != n || p.DocumentsTotal != n {
		t.Errorf("final progress %+v", p)
	}
	res.check(t, "during the reindex", 20)
	t.Logf("reindex of %d records took %s (%.0f records/s%s)", n,
		time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds(), map[bool]string{true: ", race detector on"}[raceEnabled])
}

// writeGeneratedCorpus writes n records of a few dozen words to path.
func writeGeneratedCorpus(t *testing.T, path string, n int) {
	t.Helper()
	words := strings.Fields(`server request response database query index cache session token route handler
		middleware framework python django flask node express java spring ruby rails php laravel
		postgres mysql redis api rest json http auth security deploy docker cloud scale latency
		thread async queue worker log metric test build release schema migration transaction pool`)
	f, err := os.Create(path + ".tmp")
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	r := rand.New(rand.NewPCG(7, uint64(n)))
	pick := func(k int) string {
		out := make([]string, k)
		for i := range out {
			out[i] = words[r.IntN(len(words))]
		}
		return strings.Join(out, " ")
	}
	for i := range n {
		enc.Encode(map[string]any{"id": fmt.Sprintf("gen-%05d", i), "title": pick(4), "body": pick(30)})
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		copyFile(t, path, filepath.Join(to, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
