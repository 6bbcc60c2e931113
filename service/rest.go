package service

import (
	"context"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// newGateway returns the REST proxy: grpc-gateway handlers calling the servers
// in-process through the same interceptor chain as gRPC calls. JSON uses the
// field names of the .proto files (page_size, total_hits) and always includes
// every field, so browser clients see a stable shape.
func newGateway(ctx context.Context, search pb.SearchServiceServer, admin pb.AdminServiceServer, ic grpc.UnaryServerInterceptor) (http.Handler, error) {
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{},
		}),
		runtime.WithUnescapingMode(runtime.UnescapingModeAllCharacters),
		runtime.WithIncomingHeaderMatcher(func(key string) (string, bool) {
			switch textproto.CanonicalMIMEHeaderKey(key) {
			case "X-Request-Id":
				return "x-request-id", true
			}
			return runtime.DefaultHeaderMatcher(key)
		}),
		// X-Request-Id is answered by the HTTP middleware (withRequestID);
		// Retry-After tells a refused client when to come back (overload.go).
		runtime.WithOutgoingHeaderMatcher(func(key string) (string, bool) {
			if strings.EqualFold(key, "retry-after") {
				return "Retry-After", true
			}
			return "", false
		}),
	)
	if err := pb.RegisterSearchServiceHandlerServer(ctx, mux, restSearch{srv: search, ic: ic}); err != nil {
		return nil, err
	}
	if err := pb.RegisterAdminServiceHandlerServer(ctx, mux, restAdmin{srv: admin, ic: ic}); err != nil {
		return nil, err
	}
	return checkUpsertBody(mux), nil
}

// intercept runs one REST call through the interceptor chain to its handler.
func intercept[Req, Resp any](ctx context.Context, ic grpc.UnaryServerInterceptor, method string, req Req, h func(context.Context, Req) (Resp, error)) (Resp, error) {
	out, err := ic(ctx, req, &grpc.UnaryServerInfo{FullMethod: method}, func(ctx context.Context, req any) (any, error) {
		return h(ctx, req.(Req))
	})
	if err != nil {
		var zero Resp
		return zero, err
	}
	return out.(Resp), nil
}

// restSearch is the SearchService as the gateway calls it. Embedding the Unsafe
// interface makes a method missing here a compile error.
type restSearch struct {
	pb.UnsafeSearchServiceServer
	srv pb.SearchServiceServer
	ic  grpc.UnaryServerInterceptor
}

func (r restSearch) Search(ctx context.Context, in *pb.SearchRequest) (*pb.SearchResponse, error) {
	return intercept(ctx, r.ic, pb.SearchService_Search_FullMethodName, in, r.srv.Search)
}

func (r restSearch) Suggest(ctx context.Context, in *pb.SuggestRequest) (*pb.SuggestResponse, error) {
	return intercept(ctx, r.ic, pb.SearchService_Suggest_FullMethodName, in, r.srv.Suggest)
}

func (r restSearch) GetDocument(ctx context.Context, in *pb.GetDocumentRequest) (*pb.Document, error) {
	return intercept(ctx, r.ic, pb.SearchService_GetDocument_FullMethodName, in, r.srv.GetDocument)
}

func (r restSearch) ReportClick(ctx context.Context, in *pb.ReportClickRequest) (*pb.ReportClickResponse, error) {
	return intercept(ctx, r.ic, pb.SearchService_ReportClick_FullMethodName, in, r.srv.ReportClick)
}

// restAdmin is the AdminService as the gateway calls it.
type restAdmin struct {
	pb.UnsafeAdminServiceServer
	srv pb.AdminServiceServer
	ic  grpc.UnaryServerInterceptor
}

func (r restAdmin) Reindex(ctx context.Context, in *pb.ReindexRequest) (*pb.Operation, error) {
	return intercept(ctx, r.ic, pb.AdminService_Reindex_FullMethodName, in, r.srv.Reindex)
}

func (r restAdmin) GetOperation(ctx context.Context, in *pb.GetOperationRequest) (*pb.Operation, error) {
	return intercept(ctx, r.ic, pb.AdminService_GetOperation_FullMethodName, in, r.srv.GetOperation)
}

func (r restAdmin) ListOperations(ctx context.Context, in *pb.ListOperationsRequest) (*pb.ListOperationsResponse, error) {
	return intercept(ctx, r.ic, pb.AdminService_ListOperations_FullMethodName, in, r.srv.ListOperations)
}

func (r restAdmin) GetIndex(ctx context.Context, in *pb.GetIndexRequest) (*pb.IndexInfo, error) {
	return intercept(ctx, r.ic, pb.AdminService_GetIndex_FullMethodName, in, r.srv.GetIndex)
}

func (r restAdmin) UpsertDocuments(ctx context.Context, in *pb.UpsertDocumentsRequest) (*pb.UpsertDocumentsResponse, error) {
	return intercept(ctx, r.ic, pb.AdminService_UpsertDocuments_FullMethodName, in, r.srv.UpsertDocuments)
}

func (r restAdmin) DeleteDocument(ctx context.Context, in *pb.DeleteDocumentRequest) (*pb.DeleteDocumentResponse, error) {
	return intercept(ctx, r.ic, pb.AdminService_DeleteDocument_FullMethodName, in, r.srv.DeleteDocument)
}

func (r restAdmin) CreateKey(ctx context.Context, in *pb.CreateKeyRequest) (*pb.CreateKeyResponse, error) {
	return intercept(ctx, r.ic, pb.AdminService_CreateKey_FullMethodName, in, r.srv.CreateKey)
}

func (r restAdmin) ListKeys(ctx context.Context, in *pb.ListKeysRequest) (*pb.ListKeysResponse, error) {
	return intercept(ctx, r.ic, pb.AdminService_ListKeys_FullMethodName, in, r.srv.ListKeys)
}

func (r restAdmin) DeleteKey(ctx context.Context, in *pb.DeleteKeyRequest) (*pb.DeleteKeyResponse, error) {
	return intercept(ctx, r.ic, pb.AdminService_DeleteKey_FullMethodName, in, r.srv.DeleteKey)
}

func (r restAdmin) GetAnalytics(ctx context.Context, in *pb.GetAnalyticsRequest) (*pb.Analytics, error) {
	return intercept(ctx, r.ic, pb.AdminService_GetAnalytics_FullMethodName, in, r.srv.GetAnalytics)
}

func (r restAdmin) GetCluster(ctx context.Context, in *pb.GetClusterRequest) (*pb.Cluster, error) {
	return intercept(ctx, r.ic, pb.AdminService_GetCluster_FullMethodName, in, r.srv.GetCluster)
}
