package service

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stacksearch/stacksearch/corpus"
	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

func TestKeyStorePersistsOnlyHashes(t *testing.T) {
	dir := t.TempDir()
	ks, err := OpenKeyStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	k, secret, err := ks.create("docs site", map[string][]string{"languages": {"Python"}}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "ss_") || len(secret) < 40 || k.Prefix != secret[:len(k.Prefix)] {
		t.Errorf("secret %q, prefix %q", secret, k.Prefix)
	}
	raw, err := os.ReadFile(filepath.Join(dir, keysFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), secret) || strings.Contains(string(raw), secret[len(k.Prefix):]) {
		t.Errorf("keys file holds the secret:\n%s", raw)
	}
	if fi, _ := os.Stat(filepath.Join(dir, keysFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("keys file mode %v, want 0600", fi.Mode().Perm())
	}
	ks2, err := OpenKeyStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := ks2.lookup(secret)
	if got == nil || got.ID != k.ID || got.RateLimit != 5 || !slices.Equal(got.Scope["languages"], []string{"Python"}) {
		t.Fatalf("reopened lookup = %+v", got)
	}
	for _, wrong := range []string{"", "ss_", secret + "x", secret[:len(secret)-1], strings.ToUpper(secret)} {
		if ks2.lookup(wrong) != nil {
			t.Errorf("lookup(%q) found a key", wrong)
		}
	}
	if err := ks2.remove(k.ID); err != nil {
		t.Fatal(err)
	}
	if ks2.lookup(secret) != nil {
		t.Error("revoked key still found")
	}
	if err := ks2.remove(k.ID); status.Code(err) != codes.NotFound {
		t.Errorf("removing twice: %v", err)
	}
	ks3, _ := OpenKeyStore(dir)
	if len(ks3.list()) != 0 {
		t.Errorf("revocation not saved: %v", ks3.list())
	}
	os.WriteFile(filepath.Join(dir, keysFile), []byte("{not json"), 0o600)
	if _, err := OpenKeyStore(dir); err == nil || !strings.Contains(err.Error(), keysFile) {
		t.Errorf("corrupt keys file: %v, want an error naming it", err)
	}
}

func TestAuthentication(t *testing.T) {
	b := startBufServer(t, Config{RequireSearchKey: true})
	ctx := context.Background()
	admin := withToken(ctx, bufToken)
	created, err := b.admin.CreateKey(admin, &pb.CreateKeyRequest{Key: &pb.Key{Description: "site"}})
	if err != nil {
		t.Fatal(err)
	}
	key := created.Secret
	cases := []struct {
		name        string
		tok         string
		search, adm codes.Code
	}{
		{"no token", "", codes.Unauthenticated, codes.Unauthenticated},
		{"wrong token", "nope", codes.Unauthenticated, codes.Unauthenticated},
		{"forged key", "ss_" + strings.Repeat("A", 43), codes.Unauthenticated, codes.Unauthenticated},
		{"search key", key, codes.OK, codes.PermissionDenied},
		{"admin token", bufToken, codes.OK, codes.OK},
	}
	for _, c := range cases {
		cctx := ctx
		if c.tok != "" {
			cctx = withToken(ctx, c.tok)
		}
		_, err := b.search.Search(cctx, &pb.SearchRequest{Query: "django"})
		if status.Code(err) != c.search {
			t.Errorf("%s: Search = %v, want %v", c.name, err, c.search)
		}
		_, err = b.admin.ListKeys(cctx, &pb.ListKeysRequest{})
		if status.Code(err) != c.adm {
			t.Errorf("%s: ListKeys = %v, want %v", c.name, err, c.adm)
		}
	}
	list, err := b.admin.ListKeys(admin, &pb.ListKeysRequest{})
	if err != nil || len(list.Keys) != 1 || list.Keys[0].Id != created.Key.Id || list.Keys[0].Prefix == "" {
		t.Fatalf("ListKeys = %v %v", list, err)
	}
	raw, _ := json.Marshal(list)
	if strings.Contains(string(raw), key[len(created.Key.Prefix):]) {
		t.Error("ListKeys shows the secret")
	}
	if _, err := b.admin.DeleteKey(admin, &pb.DeleteKeyRequest{Id: created.Key.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.search.Search(withToken(ctx, key), &pb.SearchRequest{Query: "django"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("revoked key: %v", err)
	}
	if strings.Contains(b.logs.String(), key) || strings.Contains(b.logs.String(), bufToken) {
		t.Error("a secret reached the logs")
	}
	// bad key definitions are refused, naming the field
	for _, k := range []*pb.Key{
		{RateLimit: -1},
		{Description: strings.Repeat("d", 300)},
		{Scope: &pb.KeyScope{Types: []string{"blog"}}},
		{Scope: &pb.KeyScope{Languages: []string{""}}},
	} {
		if _, err := b.admin.CreateKey(admin, &pb.CreateKeyRequest{Key: k}); status.Code(err) != codes.InvalidArgument || violationField(status.Convert(err)) == "" {
			t.Errorf("CreateKey(%v) = %v, want InvalidArgument with a field", k, err)
		}
	}
}

func TestScopedKey(t *testing.T) {
	b := startBufServer(t, Config{})
	ctx := context.Background()
	created, err := b.admin.CreateKey(withToken(ctx, bufToken), &pb.CreateKeyRequest{Key: &pb.Key{
		Description: "python docs", Scope: &pb.KeyScope{Languages: []string{"python"}}, // canonicalised to Python
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := created.Key.Scope.GetLanguages(); !slices.Equal(got, []string{"Python"}) {
		t.Errorf("scope stored as %q, want the canonical Python", got)
	}
	kctx := withToken(ctx, created.Secret)
	all, err := b.search.Search(ctx, &pb.SearchRequest{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	scoped, err := b.search.Search(kctx, &pb.SearchRequest{PageSize: 100, Facets: []string{"languages"}, DisjunctiveFacets: true})
	if err != nil {
		t.Fatal(err)
	}
	if scoped.TotalHits == 0 || scoped.TotalHits >= all.TotalHits {
		t.Fatalf("scoped browse finds %d of %d records", scoped.TotalHits, all.TotalHits)
	}
	for _, h := range scoped.Hits {
		if !slices.Contains(h.Languages, "Python") {
			t.Errorf("scoped hit %s has languages %v", h.Id, h.Languages)
		}
	}
	for _, v := range scoped.Facets["languages"].GetValues() {
		if v.Value != "Python" {
			t.Errorf("disjunctive facet shows %s outside the scope", v.Value)
		}
	}
	if _, err := b.search.Search(kctx, &pb.SearchRequest{Query: "django", Languages: []string{"python"}}); err != nil {
		t.Errorf("filter inside the scope: %v", err)
	}
	_, err = b.search.Search(kctx, &pb.SearchRequest{Query: "django", Languages: []string{"Python", "PHP"}})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "PHP") {
		t.Errorf("filter outside the scope: %v, want PermissionDenied naming PHP", err)
	}
	// a record outside the scope does not exist for the key
	var outside string
	for _, h := range all.Hits {
		if !slices.Contains(h.Languages, "Python") {
			outside = h.Id
			break
		}
	}
	if _, err := b.search.GetDocument(kctx, &pb.GetDocumentRequest{Id: outside}); status.Code(err) != codes.NotFound {
		t.Errorf("GetDocument outside the scope: %v, want NotFound", err)
	}
	if _, err := b.search.GetDocument(kctx, &pb.GetDocumentRequest{Id: scoped.Hits[0].Id}); err != nil {
		t.Errorf("GetDocument inside the scope: %v", err)
	}
	// the same over REST
	resp, raw := b.rest("GET", "/v1/search?languages=PHP", created.Secret, "")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("REST filter outside the scope: %d %s", resp.StatusCode, raw)
	}
	resp, _ = b.rest("GET", "/v1/documents/"+outside, created.Secret, "")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("REST GetDocument outside the scope: %d", resp.StatusCode)
	}
}

func TestScopeHelpers(t *testing.T) {
	tax := corpus.DefaultTaxonomy()
	got, err := scopedFilter(tax, "databases", []string{"postgres"}, []string{"PostgreSQL", "MySQL"})
	if err != nil || !slices.Equal(got, []string{"PostgreSQL"}) {
		t.Errorf("scopedFilter alias = %v %v", got, err)
	}
	if got, _ := scopedFilter(tax, "types", nil, []string{"faq"}); !slices.Equal(got, []string{"faq"}) {
		t.Errorf("unfiltered field takes the scope: %v", got)
	}
	if _, err := scopedFilter(tax, "types", []string{"section"}, []string{"faq"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("outside: %v", err)
	}
	scope := map[string][]string{"languages": {"Python"}, "types": {"faq"}}
	if !inScope(&pb.Document{Languages: []string{"Go", "Python"}, Type: "faq"}, scope) {
		t.Error("in-scope document refused")
	}
	if inScope(&pb.Document{Languages: []string{"Python"}, Type: "section"}, scope) {
		t.Error("document of another type accepted")
	}
	resp := &pb.SearchResponse{
		Hits:   []*pb.Hit{{Id: "a"}},
		Facets: map[string]*pb.FacetCounts{"languages": {Values: []*pb.FacetValue{{Value: "Python", Count: 2}, {Value: "Go", Count: 1}}}},
		Answer: &pb.Answer{Id: "b"},
	}
	confineResponse(resp, scope)
	if len(resp.Facets["languages"].Values) != 1 || resp.Answer != nil {
		t.Errorf("confineResponse left %v, answer %v", resp.Facets, resp.Answer)
	}
}
