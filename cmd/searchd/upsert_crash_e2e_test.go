package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// TestKillDuringUpsertsLosesNoAcknowledgedWrite kills searchd with SIGKILL
// while writers upsert and delete documents (over gRPC and REST), in the last
// round while a reindex runs too, and checks after each restart that every
// acknowledged write is there: each acknowledged upsert present with what was
// written, each acknowledged deletion gone. A write in flight at the kill may
// land or not; it was never acknowledged.
func TestKillDuringUpsertsLosesNoAcknowledgedWrite(t *testing.T) {
	dataDir := t.TempDir()
	opts := serverOptions{token: testToken, args: []string{"-data-dir", dataDir}}
	s := startServer(t, opts)
	actx := adminCtx(context.Background(), testToken)
	if _, err := s.admin.UpsertDocuments(actx, &pb.UpsertDocumentsRequest{}); status.Code(err) == codes.Unimplemented {
		t.Skip("UpsertDocuments is not implemented yet (issue 4)")
	}
	present := map[string]string{} // id -> title acknowledged
	deleted := map[string]bool{}
	for round := 0; round < 3; round++ {
		var mu sync.Mutex
		uncertain := map[string]bool{}
		acks := 0
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				var mine []string
				for i := 0; ; i++ {
					var ids []string
					var err error
					isDelete := i%4 == 3 && len(mine) > 0
					if isDelete {
						ids = []string{mine[0]}
						mine = mine[1:]
						err = deleteDoc(s, w, ids[0])
					} else {
						for j := 0; j <= i%3; j++ {
							ids = append(ids, fmt.Sprintf("crash-r%d-w%d-%d-%d", round, w, i, j))
						}
						err = upsertDocs(s, w, round, ids)
					}
					mu.Lock()
					if err != nil {
						for _, id := range ids {
							uncertain[id] = true
						}
						mu.Unlock()
						return // the server is gone
					}
					acks++
					for _, id := range ids {
						if isDelete {
							delete(present, id)
							deleted[id] = true
						} else {
							present[id] = title(round, id)
							mine = append(mine, id)
						}
					}
					mu.Unlock()
				}
			}(w)
		}
		if round == 2 {
			if _, err := s.admin.Reindex(actx, &pb.ReindexRequest{}); err != nil {
				t.Fatal(err)
			}
		}
		for deadline := time.Now().Add(time.Minute); ; {
			mu.Lock()
			n := acks
			mu.Unlock()
			if n >= 40+20*round || time.Now().After(deadline) {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		kill9(s)
		wg.Wait()
		s = startServer(t, opts)
		lost := 0
		for id, want := range present {
			if uncertain[id] {
				continue
			}
			d, err := s.search.GetDocument(context.Background(), &pb.GetDocumentRequest{Id: id})
			if err != nil || d.Title != want {
				lost++
				t.Errorf("round %d: acknowledged upsert %s: %v %q, want title %q", round, id, err, d.GetTitle(), want)
			}
		}
		for id := range deleted {
			if _, err := s.search.GetDocument(context.Background(), &pb.GetDocumentRequest{Id: id}); status.Code(err) != codes.NotFound {
				lost++
				t.Errorf("round %d: acknowledged deletion of %s undone: %v", round, id, err)
			}
		}
		t.Logf("round %d: %d acknowledged writes, %d ids written in flight at the kill; after restart %d present and %d deleted as acknowledged, %d lost",
			round, acks, len(uncertain), len(present), len(deleted), lost)
		for id := range uncertain {
			delete(present, id) // may or may not have landed: no longer checked
		}
	}
}

func title(round int, id string) string {
	return fmt.Sprintf("Crash-proof record %s of round %d", id, round)
}

// upsertDocs writes ids, over REST for odd writers and gRPC for even ones.
func upsertDocs(s *testServer, w, round int, ids []string) error {
	var docs []*pb.Document
	for _, id := range ids {
		docs = append(docs, &pb.Document{Id: id, Title: title(round, id), Body: "Written while searchd may be killed."})
	}
	if w%2 == 0 {
		_, err := s.admin.UpsertDocuments(adminCtx(context.Background(), testToken), &pb.UpsertDocumentsRequest{Documents: docs})
		return err
	}
	var body []map[string]string
	for _, d := range docs {
		body = append(body, map[string]string{"id": d.Id, "title": d.Title, "body": d.Body})
	}
	return restWrite(s, "POST", "/v1/documents:batchUpsert", map[string]any{"documents": body})
}

func deleteDoc(s *testServer, w int, id string) error {
	if w%2 == 0 {
		_, err := s.admin.DeleteDocument(adminCtx(context.Background(), testToken), &pb.DeleteDocumentRequest{Id: id})
		return err
	}
	return restWrite(s, "DELETE", "/v1/documents/"+url.PathEscape(id), nil)
}

// restWrite makes an admin REST call that must answer 200; unlike s.rest it
// returns an error, for a server that may be killed meanwhile.
func restWrite(s *testServer, method, path string, body any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.url(path), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
	}
	return nil
}
