package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/stacksearch/stacksearch/corpus"
	"github.com/stacksearch/stacksearch/index"
	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// Config is everything a server is started with.
type Config struct {
	// Corpus is the path of the corpus source; empty means the embedded default.
	Corpus string
	// Taxonomy is the path of a taxonomy file; empty means the embedded default.
	Taxonomy string
	// DataDir keeps the index on disk; empty builds it in memory at start.
	DataDir string
	// Rebuild builds a new index from the corpus even when DataDir holds one.
	Rebuild bool
	// SkipBad skips malformed corpus records instead of failing a build.
	SkipBad bool
	// AdminToken is the secret admin calls must present; empty disables the admin API.
	AdminToken string
	// ShutdownTimeout bounds how long in-flight requests may take to finish at shutdown.
	ShutdownTimeout time.Duration
	// Log receives the server's structured logs.
	Log *slog.Logger
}

// Server is a running Stacksearch: gRPC and REST over one live index.
type Server struct {
	cfg     Config
	log     *slog.Logger
	live    *index.Live
	indexer *Indexer
	grpc    *grpc.Server
	health  *health.Server
	http    *http.Server
	admin   *AdminServer
	cancel  context.CancelFunc
}

// New wires a server from cfg. It opens nothing yet: Run loads the index.
func New(cfg Config) (*Server, error) {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	tax := corpus.DefaultTaxonomy()
	if cfg.Taxonomy != "" {
		var err error
		if tax, err = corpus.LoadTaxonomy(cfg.Taxonomy); err != nil {
			return nil, fmt.Errorf("taxonomy: %w", err)
		}
	}
	store, err := index.OpenStore(cfg.DataDir, log)
	if err != nil {
		return nil, err
	}
	live := index.NewLive(tax)
	s := &Server{cfg: cfg, log: log, live: live}
	s.indexer = &Indexer{store: store, live: live, corpus: cfg.Corpus, tax: tax, skipBad: cfg.SkipBad, log: log}

	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	search := NewSearchServer(live, log)
	s.admin = NewAdminServer(ctx, s.indexer, log)
	ic := chain(recovery(log), logging(log), adminAuth(cfg.AdminToken))

	s.grpc = grpc.NewServer(grpc.UnaryInterceptor(ic))
	pb.RegisterSearchServiceServer(s.grpc, search)
	pb.RegisterAdminServiceServer(s.grpc, s.admin)
	s.health = health.NewServer()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)

	gw, err := newGateway(ctx, search, s.admin, ic)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("rest gateway: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", gw)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if !s.live.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "loading", "detail": "the index is not open yet"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// Run serves gRPC on grpcLis and REST on httpLis, loads the index, and blocks
// until ctx is cancelled; it then stops accepting, lets in-flight requests
// finish within the shutdown timeout, and returns nil. Listeners open before
// the index is loaded, so /healthz answers and /readyz says when it is ready.
func (s *Server) Run(ctx context.Context, grpcLis, httpLis net.Listener) error {
	errc := make(chan error, 3)
	go func() { errc <- s.grpc.Serve(grpcLis) }()
	go func() {
		if err := s.http.Serve(httpLis); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	go func() {
		if err := s.indexer.Load(ctx, s.cfg.Rebuild); err != nil {
			errc <- fmt.Errorf("load index: %w", err)
			return
		}
		s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		s.log.Info("ready")
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.shutdown()
	return runErr
}

// shutdown stops accepting, drains in-flight requests within the shutdown
// timeout, stops background operations and closes the index.
func (s *Server) shutdown() {
	timeout := s.cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	s.log.Info("shutting down", slog.Duration("timeout", timeout))
	s.health.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	if err := s.http.Shutdown(ctx); err != nil {
		s.log.Warn("http shutdown", slog.Any("error", err))
	}
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
	}
	s.cancel()
	s.admin.Wait()
	if err := s.live.Close(); err != nil {
		s.log.Warn("close index", slog.Any("error", err))
	}
}
