package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/stacksearch/stacksearch/corpus"
	"github.com/stacksearch/stacksearch/index"
	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// MaxUpsertDocuments is the most documents one UpsertDocuments call may carry.
const MaxUpsertDocuments = 1000

// maxUpsertBody bounds a REST batchUpsert body: 1,000 documents of 64 KB.
const maxUpsertBody = 64 << 20

// UpsertDocuments adds or replaces documents. The batch is validated as a whole
// and written as one change: all of it or, on any problem, nothing.
func (s *AdminServer) UpsertDocuments(ctx context.Context, in *pb.UpsertDocumentsRequest) (*pb.UpsertDocumentsResponse, error) {
	if errs := bodyViolations(ctx); len(errs) > 0 {
		return nil, toStatus(ctx, s.log, errors.Join(errs...))
	}
	docs := in.GetDocuments()
	switch {
	case len(docs) == 0:
		return nil, invalid("documents", "must hold at least one document")
	case len(docs) > MaxUpsertDocuments:
		return nil, invalid("documents", fmt.Sprintf("has %d documents, more than the limit of %d a call", len(docs), MaxUpsertDocuments))
	}
	changes := make([]index.Change, 0, len(docs))
	var errs []error
	seen := make(map[string]int, len(docs))
	for i, d := range docs {
		doc := documentFromProto(d)
		if err := index.ValidateDocument(doc); err != nil {
			errs = append(errs, documentError(i, err))
			continue
		}
		if j, dup := seen[doc.ID]; dup {
			errs = append(errs, &index.FieldError{Field: fmt.Sprintf("documents[%d].id", i),
				Reason: fmt.Sprintf("%q is also the id of documents[%d]; a batch may change a document only once", doc.ID, j)})
			continue
		}
		seen[doc.ID] = i
		if doc.Type == "" {
			doc.Type = corpus.TypeSection
		}
		s.indexer.tax.Tag(doc) // fills the facets the document does not declare
		if err := index.ValidateDocument(doc); err != nil {
			errs = append(errs, documentError(i, err))
			continue
		}
		changes = append(changes, index.Change{ID: doc.ID, Doc: doc})
	}
	if len(errs) > 0 {
		return nil, toStatus(ctx, s.log, errors.Join(errs...))
	}
	seq, err := s.indexer.Write(ctx, changes)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &pb.UpsertDocumentsResponse{Upserted: int32(len(changes)), Sequence: int64(seq)}, nil
}

// DeleteDocument removes one document; an unknown id is NotFound.
func (s *AdminServer) DeleteDocument(ctx context.Context, in *pb.DeleteDocumentRequest) (*pb.DeleteDocumentResponse, error) {
	if strings.TrimSpace(in.GetId()) == "" {
		return nil, invalid("id", "must not be empty")
	}
	seq, err := s.indexer.Delete(ctx, in.GetId())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &pb.DeleteDocumentResponse{Sequence: int64(seq)}, nil
}

// documentError names the document of a validation error: "title" becomes "documents[3].title".
func documentError(i int, err error) error {
	var fe *index.FieldError
	if errors.As(err, &fe) {
		return &index.FieldError{Field: fmt.Sprintf("documents[%d].%s", i, fe.Field), Reason: fe.Reason}
	}
	return fmt.Errorf("documents[%d]: %w", i, err)
}

func documentFromProto(d *pb.Document) *corpus.Document {
	return &corpus.Document{
		ID: d.GetId(), Title: d.GetTitle(), URL: d.GetUrl(), Page: d.GetPage(), Type: d.GetType(), Body: d.GetBody(),
		Languages: d.GetLanguages(), Frameworks: d.GetFrameworks(), Databases: d.GetDatabases(), Topics: d.GetTopics(),
		Fields: d.GetFields(),
	}
}

// apiChanges says, for a reindex's result, how many documents the documents API
// changed and what the reindex did with them.
func (s *AdminServer) apiChanges(rep *RebuildReport, err error) (int32, string) {
	if err != nil {
		n := s.indexer.apiChangeCount()
		if n == 0 {
			return 0, "The reindex failed, so nothing was replaced: the previous index keeps serving."
		}
		return int32(n), fmt.Sprintf("The reindex failed, so nothing was replaced: the previous index keeps serving, "+
			"with the %d documents added, changed or deleted through the documents API.", n)
	}
	n := rep.APIChanges
	if n == 0 {
		return 0, "No documents had been changed through the documents API: the index holds the corpus source alone. " +
			"Documents changed through the API are kept across reindexes."
	}
	drop := "restart searchd with -discard-api-changes"
	if s.indexer.cluster != nil {
		drop = "purge the NATS stream " + replicaStream + " and reindex"
	}
	return int32(n), fmt.Sprintf("API-made changes were not replaced: the %d documents added, changed or deleted through "+
		"the documents API were applied again on top of the corpus source, and win over corpus records with the same id. "+
		"To drop them all, %s.", n, drop)
}

// The REST gateway decodes a batchUpsert body with protojson, whose error for a
// key a Document does not have gives only a byte offset. checkUpsertBody reads
// the body first and names the document and the key ("documents[3].colours").
// It does not answer itself: the violations ride in the request context to
// UpsertDocuments, which reports them after the admin token is checked, so a
// caller without the token learns nothing and gets 401 as for any admin call.

// upsertPath is the REST route of UpsertDocuments.
const upsertPath = "/v1/documents:batchUpsert"

type bodyViolationsKey struct{}

// bodyViolations returns the problems checkUpsertBody found in the REST body of ctx's call.
func bodyViolations(ctx context.Context) []error {
	errs, _ := ctx.Value(bodyViolationsKey{}).([]error)
	return errs
}

// checkUpsertBody wraps the REST handler to check batchUpsert bodies for
// unknown keys and values of the wrong JSON type before the gateway decodes them.
func checkUpsertBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != upsertPath || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > maxUpsertBody {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"code": 3, "details": []any{},
				"message": fmt.Sprintf("the request body is %d bytes, more than the limit of %d", r.ContentLength, maxUpsertBody)})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxUpsertBody))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"code": 3, "details": []any{},
				"message": fmt.Sprintf("the request body is more than the limit of %d bytes", maxUpsertBody)})
			return
		}
		if errs := upsertBodyViolations(body); len(errs) > 0 {
			r = r.WithContext(context.WithValue(r.Context(), bodyViolationsKey{}, errs))
			body = []byte("{}") // decodes; UpsertDocuments reports the violations
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// maxBodyViolations bounds the problems reported for one body.
const maxBodyViolations = 20

// upsertBodyViolations returns the keys of a batchUpsert body that no field
// has, and the values of the wrong JSON type, as *index.FieldError. A body that
// is not JSON at all is left to the gateway's decoder.
func upsertBodyViolations(body []byte) []error {
	var req map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	var errs []error
	add := func(field, reason string) bool {
		errs = append(errs, &index.FieldError{Field: field, Reason: reason})
		return len(errs) < maxBodyViolations
	}
	reqDesc := (&pb.UpsertDocumentsRequest{}).ProtoReflect().Descriptor()
	for _, key := range slices.Sorted(maps.Keys(req)) {
		if protoField(reqDesc, key) == nil {
			add(key, "is not a field of the request; it has only documents")
		}
	}
	var docs []json.RawMessage
	if raw, ok := req["documents"]; !ok || json.Unmarshal(raw, &docs) != nil {
		return errs
	}
	docDesc := (&pb.Document{}).ProtoReflect().Descriptor()
	var names []string
	for i := range docDesc.Fields().Len() {
		names = append(names, string(docDesc.Fields().Get(i).Name()))
	}
	for i, raw := range docs {
		var doc map[string]json.RawMessage
		if json.Unmarshal(raw, &doc) != nil {
			if !add(fmt.Sprintf("documents[%d]", i), "must be a JSON object") {
				return errs
			}
			continue
		}
		for _, key := range slices.Sorted(maps.Keys(doc)) {
			field := fmt.Sprintf("documents[%d].%s", i, key)
			fd := protoField(docDesc, key)
			var reason string
			switch {
			case fd == nil:
				reason = fmt.Sprintf("is not a field of a document (%s; further string fields go in fields)",
					strings.Join(names, ", "))
			default:
				reason = jsonTypeProblem(fd, doc[key])
			}
			if reason != "" && !add(field, reason) {
				return errs
			}
		}
	}
	return errs
}

// protoField finds a message field by the names protojson accepts for it.
func protoField(md protoreflect.MessageDescriptor, key string) protoreflect.FieldDescriptor {
	if fd := md.Fields().ByJSONName(key); fd != nil {
		return fd
	}
	return md.Fields().ByTextName(key)
}

// jsonTypeProblem says what is wrong with a JSON value for a string, repeated
// string or string map field, or "" when nothing is (other fields are left to
// the decoder).
func jsonTypeProblem(fd protoreflect.FieldDescriptor, raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return ""
	}
	switch {
	case fd.IsMap():
		var m map[string]string
		if json.Unmarshal(raw, &m) != nil {
			return "must be an object of string values"
		}
	case fd.IsList() && fd.Kind() == protoreflect.StringKind:
		var l []string
		if json.Unmarshal(raw, &l) != nil {
			return "must be a list of strings"
		}
	case fd.Kind() == protoreflect.StringKind:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "must be a string"
		}
	}
	return ""
}
