// Package service is Stacksearch's edge: the gRPC servers for
// stacksearch.v1.SearchService and stacksearch.v1.AdminService, their
// interceptors (recovery, logging, authentication), the grpc-gateway REST proxy
// serving the same API as JSON, health and readiness, and the reindex
// operations. It translates protobuf messages into index requests and back, and
// maps errors to status codes in one place (errors.go); it holds no Bleve code.
package service
