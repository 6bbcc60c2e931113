package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/stacksearch/stacksearch/corpus"
	"github.com/stacksearch/stacksearch/index"
	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// edge is what stands between callers and the servers for production use:
// keys, request limits, overload protection, TLS, metrics and search
// analytics. Server.New wires it in; each part lives in its own file.
type edge struct {
	log       *slog.Logger
	tax       *corpus.Taxonomy
	limits    Limits
	overload  Overload
	keys      *KeyStore
	auth      *authenticator
	limiter   *rateLimiter
	shedder   *shedder
	metrics   *metrics
	analytics *Analytics
	tls       *tls.Config
	// waitApplied makes a search with min_sequence wait for that change (Indexer.WaitApplied).
	waitApplied func(context.Context, uint64) error
}

// HTTP server timeouts: long enough for a large upsert body on a slow link,
// short enough that idle or stalled connections do not pile up.
const (
	httpReadTimeout    = time.Minute
	httpIdleTimeout    = 2 * time.Minute
	httpMaxHeaderBytes = 64 << 10
)

func newEdge(cfg Config, tax *corpus.Taxonomy, log *slog.Logger) (*edge, error) {
	e := &edge{log: log, tax: tax, limits: cfg.Limits.withDefaults(), overload: cfg.Overload, metrics: newMetrics()}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("TLS needs both a certificate and a key (-tls-cert and -tls-key)")
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		e.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	index.SetMaxClauseCount(e.limits.MaxClauses)
	var err error
	if e.keys, err = OpenKeyStore(cfg.DataDir); err != nil {
		return nil, err
	}
	e.auth = newAuthenticator(cfg.AdminToken, e.keys, cfg.RequireSearchKey)
	e.limiter = newRateLimiter(cfg.Overload, e.metrics)
	e.shedder = newShedder(cfg.Overload, e.metrics)
	if cfg.AnalyticsRetention != 0 && cfg.AnalyticsRetention < time.Hour {
		return nil, fmt.Errorf("analytics retention %s is less than an hour", cfg.AnalyticsRetention)
	}
	if e.analytics, err = OpenAnalytics(cfg.DataDir, cfg.AnalyticsRetention, log); err != nil {
		return nil, err
	}
	return e, nil
}

// interceptor is the part of the chain after logging and recovery: who calls,
// how often, how many at once, for how long, asking for how much, seeing what;
// and what they searched for.
func (e *edge) interceptor() grpc.UnaryServerInterceptor {
	return chain(e.auth.interceptor(), e.limiter.interceptor(), searchDeadline(e.overload.SearchTimeout),
		minSequence(e.waitApplied, e.log), e.shedder.interceptor(), requestLimits(e.limits), applyScope(e.tax, e.log), e.analytics.interceptor())
}

// How long a gRPC connection lives before the server asks the client to make
// another, and how long its calls then have to finish.
const (
	grpcMaxConnectionAge      = 5 * time.Minute
	grpcMaxConnectionAgeGrace = 30 * time.Second
)

// grpcOptions configures the gRPC server: metrics outermost, then the chain ic,
// message and stream limits, and TLS.
func (e *edge) grpcOptions(ic grpc.UnaryServerInterceptor) []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(e.metrics.grpcInterceptor(), ic),
		grpc.ChainStreamInterceptor(e.metrics.grpcStreamInterceptor(), streamRecovery(e.log, e.metrics)),
		grpc.MaxRecvMsgSize(e.limits.MaxMessageBytes),
		grpc.MaxConcurrentStreams(uint32(e.limits.MaxConcurrentStreams)),
		// Clients balancing with round_robin over a headless Service resolve the
		// replicas again only when a connection ends: ending each after a while
		// brings new replicas (a scale-up, a restart) into their rotation.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: grpcMaxConnectionAge, MaxConnectionAgeGrace: grpcMaxConnectionAgeGrace}),
	}
	if e.tls != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(e.tls)))
	}
	return opts
}

// httpServer returns the REST server around mux, with the middleware, timeouts,
// header and stream limits, and TLS.
func (e *edge) httpServer(mux *http.ServeMux) *http.Server {
	mux.Handle("GET /metrics", e.metrics.handler())
	var h http.Handler = limitBody(e.limits, mux)
	h = withRequestID(instrument(e.metrics, e.log, h))
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       httpReadTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		TLSConfig:         e.tls,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: e.limits.MaxConcurrentStreams},
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
	}
}

// serveHTTP serves srv on lis, with TLS when srv has a TLS configuration.
func serveHTTP(srv *http.Server, lis net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(lis, "", "")
	}
	return srv.Serve(lis)
}

// watch exports the live index and the reindex operations as metrics.
func (e *edge) watch(live *index.Live, admin *AdminServer) {
	e.metrics.watchIndex(live)
	e.metrics.watchReindexes(admin)
}

// close writes the analytics not yet written.
func (e *edge) close() { e.analytics.Close() }

// adminAPI is the AdminService as served: the index operations of AdminServer,
// and the keys and analytics methods of keys.go and analytics.go.
type adminAPI struct {
	*AdminServer
	keys      *KeyStore
	analytics *Analytics
	tax       *corpus.Taxonomy
	log       *slog.Logger
}

func (e *edge) adminAPI(a *AdminServer) adminAPI {
	return adminAPI{AdminServer: a, keys: e.keys, analytics: e.analytics, tax: e.tax, log: e.log}
}

// searchAPI is the SearchService as served: SearchServer's searches and the
// click reports of analytics.go.
type searchAPI struct {
	*SearchServer
	analytics *Analytics
}

func (e *edge) searchAPI(s *SearchServer) searchAPI {
	return searchAPI{SearchServer: s, analytics: e.analytics}
}

var (
	_ pb.AdminServiceServer  = adminAPI{}
	_ pb.SearchServiceServer = searchAPI{}
)
