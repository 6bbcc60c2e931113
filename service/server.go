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
	"github.com/stacksearch/stacksearch/web"
)

// Config is everything a server is started with.
type Config struct {
	// Corpus is the path of the corpus source; empty means the embedded default.
	Corpus string
	// NodeID names this replica (default: the host name).
	NodeID string
	// Taxonomy is the path of a taxonomy file; empty means the embedded default.
	Taxonomy string
	// Synonyms is the path of a site's synonyms file (Solr format), added to the defaults.
	Synonyms string
	// TypoOneFrom and TypoTwoFrom are the word lengths from which one and two
	// typos are tolerated (0: the defaults, 4 and 8).
	TypoOneFrom, TypoTwoFrom int
	// DataDir keeps the index on disk; empty builds it in memory at start.
	DataDir string
	// Rebuild builds a new index from the corpus even when DataDir holds one.
	Rebuild bool
	// SkipBad skips malformed corpus records instead of failing a build.
	SkipBad bool
	// DiscardAPIChanges forgets the changes made through the documents API at
	// start and rebuilds from the corpus alone.
	DiscardAPIChanges bool
	// AdminToken is the secret admin calls must present; empty disables the admin API.
	AdminToken string
	// CORSOrigins are the origins whose pages may call the REST API from a browser
	// (see ParseCORSOrigins); nil allows none.
	CORSOrigins []string
	// ShutdownTimeout bounds how long in-flight requests may take to finish at shutdown.
	ShutdownTimeout time.Duration
	// RequireSearchKey makes SearchService calls need a search key or the admin
	// token (searchd -public-search=false).
	RequireSearchKey bool
	// Limits bound what one request may ask for; zero fields take DefaultLimits.
	Limits Limits
	// Overload configures rate limits, load shedding and the search deadline.
	Overload Overload
	// TLSCert and TLSKey, when set, are PEM files that both listeners serve TLS with.
	TLSCert, TLSKey string
	// AnalyticsRetention is how long search analytics are kept (0: DefaultAnalyticsRetention).
	AnalyticsRetention time.Duration
	// NATSURL, when set, runs the server as a replica of a cluster kept in step
	// by this NATS JetStream (comma-separated URLs); DataDir is then required.
	NATSURL string
	// NATSReplicas is how many NATS servers keep the stream and buckets a
	// replica creates (0: 3 on a clustered NATS, else 1).
	NATSReplicas int
	// SnapshotsKeep is how many index snapshots the cluster keeps (0: 3).
	SnapshotsKeep int
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
	edge    *edge
	cancel  context.CancelFunc
}

// New wires a server from cfg. It opens nothing yet: Run loads the index.
func New(cfg Config) (*Server, error) {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	log = slog.New(withRequestIDs(log.Handler()))
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
	tune, err := tuning(cfg, tax)
	if err != nil {
		return nil, err
	}
	live := index.NewLive(tax, tune)
	s := &Server{cfg: cfg, log: log, live: live}
	if s.indexer, err = newIndexer(cfg, store, live, tax, log); err != nil {
		return nil, err
	}
	if cfg.NATSURL != "" {
		if err := newReplica(cfg, s.indexer, log); err != nil {
			s.indexer.Close()
			return nil, err
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	search := NewSearchServer(live, log)
	s.admin = NewAdminServer(ctx, s.indexer, cfg.NodeID, log)
	if s.edge, err = newEdge(cfg, tax, log); err != nil {
		cancel()
		return nil, err
	}
	s.edge.waitApplied = s.indexer.WaitApplied
	ic := chain(logging(log), recovery(log, s.edge.metrics), s.edge.interceptor())
	searchAPI, adminAPI := s.edge.searchAPI(search), s.edge.adminAPI(s.admin)

	s.grpc = grpc.NewServer(s.edge.grpcOptions(ic)...)
	pb.RegisterSearchServiceServer(s.grpc, searchAPI)
	pb.RegisterAdminServiceServer(s.grpc, adminAPI)
	s.health = health.NewServer()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.edge.metrics.initialise(s.grpc)
	s.edge.watch(live, s.admin)
	if s.indexer.cluster != nil {
		s.edge.metrics.reg.MustRegister(s.indexer.cluster.Collectors()...)
	}

	gw, err := newGateway(ctx, searchAPI, adminAPI, ic)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("rest gateway: %w", err)
	}
	cors, err := newCORSPolicy(cfg.CORSOrigins)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("cors origins: %w", err)
	}
	site := web.Handler(pb.OpenAPI) // the demo page, the widget, the API reference
	mux := http.NewServeMux()
	mux.Handle("/v1/", cors.wrap(gw))
	mux.Handle("/openapi.json", cors.wrap(site))
	mux.Handle("/", site)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	s.http = s.edge.httpServer(mux)
	return s, nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if !s.live.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "loading", "detail": "the index is not open yet"})
		return
	}
	if s.indexer.cluster != nil {
		clusterReadyz(w, s.indexer.cluster)
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
		if err := serveHTTP(s.http, httpLis); !errors.Is(err, http.ErrServerClosed) {
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
	if s.indexer.cluster != nil {
		s.indexer.cluster.Close() // stops applying the stream before the index closes
	}
	s.edge.close()
	if err := s.live.Close(); err != nil {
		s.log.Warn("close index", slog.Any("error", err))
	}
	if err := s.indexer.Close(); err != nil {
		s.log.Warn("close change log", slog.Any("error", err))
	}
}

// tuning builds the matching settings from the configuration.
func tuning(cfg Config, tax *corpus.Taxonomy) (index.Tuning, error) {
	tune := index.DefaultTuning(tax)
	if cfg.Synonyms != "" {
		syn, err := index.NewSynonyms(tax, cfg.Synonyms)
		if err != nil {
			return tune, err
		}
		tune.Synonyms = syn
	}
	if cfg.TypoOneFrom > 0 {
		tune.TypoMin1 = cfg.TypoOneFrom
	}
	if cfg.TypoTwoFrom > 0 {
		tune.TypoMin2 = cfg.TypoTwoFrom
	}
	if tune.TypoMin2 < tune.TypoMin1 {
		return tune, fmt.Errorf("-typo-two-from (%d) must not be less than -typo-one-from (%d)", tune.TypoMin2, tune.TypoMin1)
	}
	return tune, nil
}
