package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// salaryFAQ is a record of the default corpus.
const salaryFAQ = "what-is-back-end-web-development--20-what-is-the-salary-range-for-a-back-end-web-development-job"

// restDoc is the JSON shape of a document.
type restDoc struct {
	ID         string            `json:"id"`
	Title      string            `json:"title"`
	Body       string            `json:"body"`
	Type       string            `json:"type"`
	Languages  []string          `json:"languages"`
	Frameworks []string          `json:"frameworks"`
	Databases  []string          `json:"databases"`
	Topics     []string          `json:"topics"`
	Fields     map[string]string `json:"fields"`
}

func TestDocumentsAPI(t *testing.T) {
	dataDir := t.TempDir()
	opts := serverOptions{token: testToken, args: []string{"-data-dir", dataDir}}
	s := startServer(t, opts)
	top := t // servers started in subtests run until the whole test ends
	ctx := context.Background()
	actx := adminCtx(ctx, testToken)

	t.Run("without the token nothing is written", func(t *testing.T) {
		doc := &pb.Document{Id: "no-token", Title: "Should not exist"}
		for _, tok := range []string{"", "wrong-token"} {
			cctx := ctx
			if tok != "" {
				cctx = adminCtx(ctx, tok)
			}
			if _, err := s.admin.UpsertDocuments(cctx, &pb.UpsertDocumentsRequest{Documents: []*pb.Document{doc}}); status.Code(err) != codes.Unauthenticated {
				t.Errorf("gRPC upsert with token %q: %v, want Unauthenticated", tok, err)
			}
			if _, err := s.admin.DeleteDocument(cctx, &pb.DeleteDocumentRequest{Id: salaryFAQ}); status.Code(err) != codes.Unauthenticated {
				t.Errorf("gRPC delete with token %q: %v, want Unauthenticated", tok, err)
			}
			var e restError
			body := map[string]any{"documents": []map[string]any{{"id": "no-token", "title": "Should not exist"}}}
			if code := s.rest("POST", "/v1/documents:batchUpsert", tok, body, &e); code != http.StatusUnauthorized {
				t.Errorf("REST upsert with token %q: %d %+v, want 401", tok, code, e)
			}
			// a body with an unknown key is still refused for the token first
			if code := s.rest("POST", "/v1/documents:batchUpsert", tok, `{"documents": [{"id": "x", "title": "x", "colours": []}]}`, &e); code != http.StatusUnauthorized {
				t.Errorf("REST upsert of a bad body with token %q: %d, want 401", tok, code)
			}
			if code := s.rest("DELETE", "/v1/documents/"+salaryFAQ, tok, nil, &e); code != http.StatusUnauthorized {
				t.Errorf("REST delete with token %q: %d, want 401", tok, code)
			}
		}
		wantMissing(t, s, "no-token")
		wantPresent(t, s, salaryFAQ)
	})

	t.Run("upsert over gRPC is searchable at once with facets from the taxonomy", func(t *testing.T) {
		res, err := s.admin.UpsertDocuments(actx, &pb.UpsertDocumentsRequest{Documents: []*pb.Document{
			{Id: "grpc-1", Title: "Deploying the quetzal service", Body: "Quetzal runs Django on PostgreSQL."},
			{Id: "grpc-2", Title: "Quetzal FAQ: can it scale?", Body: "Yes.", Type: "faq", Topics: []string{"performance"},
				Fields: map[string]string{"owner": "platform team"}},
		}})
		if err != nil || res.Upserted != 2 {
			t.Fatalf("upsert: %v %v", res, err)
		}
		// No wait: a write is visible when it is acknowledged.
		hits := searchIDs(t, s, "quetzal")
		if !slices.Contains(hits, "grpc-1") || !slices.Contains(hits, "grpc-2") {
			t.Fatalf("search quetzal = %v, want both upserted documents", hits)
		}
		d, err := s.search.GetDocument(ctx, &pb.GetDocumentRequest{Id: "grpc-1"})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(d.Frameworks, "Django") || !slices.Contains(d.Languages, "Python") ||
			!slices.Contains(d.Databases, "PostgreSQL") || d.Type != "section" {
			t.Errorf("grpc-1 = %+v; want Django, Python, PostgreSQL filled from the taxonomy and type section", d)
		}
		d, err = s.search.GetDocument(ctx, &pb.GetDocumentRequest{Id: "grpc-2"})
		if err != nil || d.Type != "faq" || !slices.Equal(d.Topics, []string{"performance"}) || d.Fields["owner"] != "platform team" {
			t.Errorf("grpc-2 = %+v, %v; want type faq, declared topics kept, fields kept", d, err)
		}
	})

	t.Run("upsert over REST replaces a document", func(t *testing.T) {
		body := map[string]any{"documents": []map[string]any{
			{"id": "grpc-1", "title": "Deploying the quetzal service, revised", "body": "Quetzal now runs Flask.",
				"frameworks": []string{"flask"}},
			{"id": "rest-1", "title": "Quetzal over REST", "body": "Written with curl."},
		}}
		var out struct {
			Upserted int `json:"upserted"`
		}
		if code := s.rest("POST", "/v1/documents:batchUpsert", testToken, body, &out); code != 200 || out.Upserted != 2 {
			t.Fatalf("REST upsert: %d %+v", code, out)
		}
		var d restDoc
		if code := s.rest("GET", "/v1/documents/grpc-1", "", nil, &d); code != 200 || d.Title != "Deploying the quetzal service, revised" ||
			!slices.Equal(d.Frameworks, []string{"Flask"}) || !slices.Equal(d.Languages, []string{"Python"}) {
			t.Errorf("after REST upsert: %d %+v; want the new title, frameworks [Flask] (canonical) and its language", code, d)
		}
		if hits := searchIDs(t, s, "curl"); !slices.Contains(hits, "rest-1") {
			t.Errorf("search curl = %v, want rest-1", hits)
		}
	})

	t.Run("a bad batch is rejected whole, naming the document and field", func(t *testing.T) {
		good := map[string]any{"id": "must-not-exist", "title": "A good document in a bad batch"}
		many := make([]map[string]any, 1001)
		for i := range many {
			many[i] = map[string]any{"id": fmt.Sprintf("many-%d", i), "title": "x"}
		}
		cases := []struct {
			name  string
			body  any
			field string
		}{
			{"unknown facet field", map[string]any{"documents": []any{good, map[string]any{"id": "c", "title": "Colours", "colours": []string{"red"}}}}, "documents[1].colours"},
			{"empty id", map[string]any{"documents": []any{good, map[string]any{"id": "", "title": "No id"}}}, "documents[1].id"},
			{"empty title", map[string]any{"documents": []any{good, map[string]any{"id": "t", "title": "  "}}}, "documents[1].title"},
			{"title too long", map[string]any{"documents": []any{good, map[string]any{"id": "t", "title": strings.Repeat("x", 1025)}}}, "documents[1].title"},
			{"id too long", map[string]any{"documents": []any{map[string]any{"id": strings.Repeat("i", 513), "title": "x"}, good}}, "documents[0].id"},
			{"body too long", map[string]any{"documents": []any{good, map[string]any{"id": "b", "title": "x", "body": strings.Repeat("word ", 210000)}}}, "documents[1].body"},
			{"bad type", map[string]any{"documents": []any{good, map[string]any{"id": "t", "title": "x", "type": "blog"}}}, "documents[1].type"},
			{"wrong JSON type", map[string]any{"documents": []any{good, map[string]any{"id": "t", "title": 42}}}, "documents[1].title"},
			{"duplicate id", map[string]any{"documents": []any{good, map[string]any{"id": "must-not-exist", "title": "again"}}}, "documents[1].id"},
			{"unknown top-level key", map[string]any{"documents": []any{good}, "docs": []any{}}, "docs"},
			{"too many documents", map[string]any{"documents": many}, "documents"},
			{"no documents", map[string]any{"documents": []any{}}, "documents"},
		}
		for _, c := range cases {
			var e restError
			code := s.rest("POST", "/v1/documents:batchUpsert", testToken, c.body, &e)
			if code != http.StatusBadRequest || e.Code != int(codes.InvalidArgument) {
				t.Errorf("%s: status %d %+v, want 400 InvalidArgument", c.name, code, e)
				continue
			}
			if len(e.Details) == 0 || len(e.Details[0].FieldViolations) == 0 || e.Details[0].FieldViolations[0].Field != c.field {
				t.Errorf("%s: details %+v, want a violation of %s", c.name, e.Details, c.field)
			}
			if !strings.HasPrefix(e.Message, c.field+":") {
				t.Errorf("%s: message %q does not start with the field", c.name, e.Message)
			}
		}
		wantMissing(t, s, "must-not-exist")
		wantMissing(t, s, "many-0")

		// The same rules over gRPC.
		_, err := s.admin.UpsertDocuments(actx, &pb.UpsertDocumentsRequest{Documents: []*pb.Document{
			{Id: "must-not-exist", Title: "good"}, {Id: "g", Title: ""}, {Id: "g2", Title: "x", Languages: []string{""}},
		}})
		st := status.Convert(err)
		var fields []string
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, v := range br.FieldViolations {
					fields = append(fields, v.Field)
				}
			}
		}
		if st.Code() != codes.InvalidArgument || !slices.Equal(fields, []string{"documents[1].title", "documents[2].languages[0]"}) {
			t.Errorf("gRPC bad batch: %v, violations %v", err, fields)
		}
		wantMissing(t, s, "must-not-exist")
	})

	t.Run("delete", func(t *testing.T) {
		if _, err := s.admin.DeleteDocument(actx, &pb.DeleteDocumentRequest{Id: "grpc-2"}); err != nil {
			t.Fatal(err)
		}
		wantMissing(t, s, "grpc-2")
		var e restError
		if code := s.rest("DELETE", "/v1/documents/"+salaryFAQ, testToken, nil, &e); code != 200 {
			t.Fatalf("REST delete: %d %+v", code, e)
		}
		wantMissing(t, s, salaryFAQ)
		if hits := searchIDs(t, s, "salary"); slices.Contains(hits, salaryFAQ) {
			t.Errorf("deleted record still found: %v", hits)
		}
		if code := s.rest("DELETE", "/v1/documents/no-such-doc", testToken, nil, &e); code != http.StatusNotFound {
			t.Errorf("REST delete of an unknown id: %d, want 404", code)
		}
		if _, err := s.admin.DeleteDocument(actx, &pb.DeleteDocumentRequest{Id: "grpc-2"}); status.Code(err) != codes.NotFound {
			t.Errorf("gRPC delete of a deleted id: %v, want NotFound", err)
		}
	})

	// Now in the API's overlay: grpc-1 and rest-1 upserted, grpc-2 and the salary FAQ deleted.
	checkOverlay := func(t *testing.T, s *testServer) {
		t.Helper()
		wantPresent(t, s, "grpc-1")
		wantPresent(t, s, "rest-1")
		wantMissing(t, s, "grpc-2")
		wantMissing(t, s, salaryFAQ)
		info, err := s.admin.GetIndex(actx, &pb.GetIndexRequest{})
		if err != nil || info.ApiChanges != 4 {
			t.Errorf("GetIndex: api_changes %d, %v; want 4", info.GetApiChanges(), err)
		}
	}

	t.Run("a reindex keeps API changes and says so", func(t *testing.T) {
		op, err := s.admin.Reindex(actx, &pb.ReindexRequest{})
		if err != nil {
			t.Fatal(err)
		}
		final := waitOperation(t, s, op.Name)
		r := final.GetResult()
		if final.Error != nil || r.GetApiChanges() != 4 || r.GetApiChangesReplaced() || !strings.Contains(r.GetApiChangesNote(), "not replaced") {
			t.Fatalf("reindex: error %v, result %+v; want 4 API changes kept, said plainly", final.Error, r)
		}
		if r.GetDocumentCount() != 32+2-1 {
			t.Errorf("document_count %d, want 33 (32 corpus records, 2 added, 1 deleted)", r.GetDocumentCount())
		}
		checkOverlay(t, s)
	})

	t.Run("a restart keeps API changes", func(t *testing.T) {
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}
		s = startServer(top, opts)
		if s.logs.find("opened index") == nil {
			t.Fatalf("the restart did not reopen the index:\n%s", s.logs)
		}
		checkOverlay(t, s)
	})

	t.Run("kill -9 loses no acknowledged write", func(t *testing.T) {
		var wg sync.WaitGroup
		acked := make(chan string, 10000)
		var firstErr error
		var once sync.Once
		for w := range 2 {
			wg.Add(1)
			go func(admin pb.AdminServiceClient) {
				defer wg.Done()
				for i := range 2000 {
					id := fmt.Sprintf("crash-%d-%d", w, i)
					_, err := admin.UpsertDocuments(actx, &pb.UpsertDocumentsRequest{Documents: []*pb.Document{{Id: id, Title: "Written before a crash"}}})
					if err != nil {
						once.Do(func() { firstErr = err })
						return // the server is gone
					}
					acked <- id
				}
			}(s.admin)
		}
		for deadline := time.Now().Add(time.Minute); len(acked) < 20 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		if len(acked) < 20 {
			t.Fatalf("only %d writes acknowledged; first error %v", len(acked), firstErr)
		}
		s.kill()
		wg.Wait()
		close(acked)
		s = startServer(top, opts)
		n := 0
		for id := range acked {
			wantPresent(t, s, id)
			n++
		}
		t.Logf("%d acknowledged writes before kill -9, all present after restart", n)
	})

	t.Run("discard-api-changes restores the corpus", func(t *testing.T) {
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}
		s = startServer(top, serverOptions{token: testToken, args: []string{"-data-dir", dataDir, "-discard-api-changes"}})
		wantPresent(t, s, salaryFAQ)
		wantMissing(t, s, "rest-1")
		if info, err := s.admin.GetIndex(actx, &pb.GetIndexRequest{}); err != nil || info.ApiChanges != 0 || info.DocumentCount != 32 {
			t.Errorf("GetIndex after discarding: %+v %v", info, err)
		}
	})
}

func TestDocumentsInMemoryOutliveAReindex(t *testing.T) {
	s := startServer(t, serverOptions{token: testToken})
	actx := adminCtx(context.Background(), testToken)
	if _, err := s.admin.UpsertDocuments(actx, &pb.UpsertDocumentsRequest{Documents: []*pb.Document{{Id: "mem-1", Title: "Kept in memory"}}}); err != nil {
		t.Fatal(err)
	}
	op, err := s.admin.Reindex(actx, &pb.ReindexRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if final := waitOperation(t, s, op.Name); final.Error != nil || final.Result.ApiChanges != 1 {
		t.Fatalf("reindex: %v", final)
	}
	wantPresent(t, s, "mem-1")
}

// TestSearchctlImport sends a Markdown directory through searchctl import.
func TestSearchctlImport(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "searchctl")
	build := exec.Command("go", "build", "-o", bin, "../searchctl")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build searchctl: %v\n%s", err, out)
	}
	s := startServer(t, serverOptions{token: testToken})
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command(bin, append([]string{"-addr", s.grpcAddr}, args...)...)
		cmd.Env = append(os.Environ(), "STACKSEARCH_ADMIN_TOKEN="+testToken)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	out, progress, err := run("import", "-batch", "3", "testdata/site-md")
	if err != nil {
		t.Fatalf("import: %v\n%s%s", err, out, progress)
	}
	if !strings.Contains(out, "imported 8 documents") || !strings.Contains(progress, "imported 8/8 documents") {
		t.Errorf("import output %q, progress %q", out, progress)
	}
	if hits := searchIDs(t, s, "marmalade"); !slices.Contains(hits, "orchard-faq--1-how-do-i-rotate-the-marmalade-keys") {
		t.Errorf("search marmalade after import = %v", hits)
	}
	// A malformed file stops the import before anything is sent.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "good.jsonl"), []byte(`{"id": "imp-good", "title": "Good"}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.jsonl"), []byte(`{"id": "imp-ok", "title": "ok"}`+"\n{broken\n"), 0o644)
	if _, stderr, err := run("import", dir); err == nil || !strings.Contains(stderr, "bad.jsonl:2:") {
		t.Errorf("import of a bad file: %v, stderr %q; want a failure naming bad.jsonl:2", err, stderr)
	}
	wantMissing(t, s, "imp-good")
	if out, _, err := run("import", "-skip-bad", dir); err != nil || !strings.Contains(out, "imported 2 documents") {
		t.Errorf("import -skip-bad: %v %q", err, out)
	}
	wantPresent(t, s, "imp-good")
}

// kill stops the server with SIGKILL, as a crash would.
func (s *testServer) kill() {
	s.t.Helper()
	if s.conn != nil {
		s.conn.Close()
	}
	s.cmd.Process.Kill()
	<-s.exited
}

func searchIDs(t *testing.T, s *testServer, query string) []string {
	t.Helper()
	var res restSearch
	if code := s.rest("GET", "/v1/search?page_size=100&query="+url.QueryEscape(query), "", nil, &res); code != 200 {
		t.Fatalf("search %q: status %d", query, code)
	}
	var ids []string
	for _, h := range res.Hits {
		ids = append(ids, h.ID)
	}
	return ids
}

func wantPresent(t *testing.T, s *testServer, id string) {
	t.Helper()
	if _, err := s.search.GetDocument(context.Background(), &pb.GetDocumentRequest{Id: id}); err != nil {
		t.Errorf("document %s: %v, want it present", id, err)
	}
}

func wantMissing(t *testing.T, s *testServer, id string) {
	t.Helper()
	if _, err := s.search.GetDocument(context.Background(), &pb.GetDocumentRequest{Id: id}); status.Code(err) != codes.NotFound {
		t.Errorf("document %s: %v, want NotFound", id, err)
	}
}
