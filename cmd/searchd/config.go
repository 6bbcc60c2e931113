package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/stacksearch/stacksearch/service"
)

// config is searchd's configuration from flags and environment.
type config struct {
	httpAddr string
	grpcAddr string
	logLevel slog.Level
	logJSON  bool
	service  service.Config
}

// parseConfig reads flags from args and secrets from the environment.
func parseConfig(args []string, getenv func(string) string) (config, error) {
	var c config
	fs := flag.NewFlagSet("searchd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.httpAddr, "http-addr", ":8080", "address of the REST (JSON) listener")
	fs.StringVar(&c.grpcAddr, "grpc-addr", ":9090", "address of the gRPC listener")
	fs.StringVar(&c.service.Corpus, "corpus", "", "corpus to index: a directory of Markdown/HTML/JSONL files, a .md/.html file or a .jsonl file such as a BEIR corpus.jsonl (default: the embedded article)")
	fs.StringVar(&c.service.Taxonomy, "taxonomy", "", "taxonomy YAML file of languages, frameworks, databases and topics (default: embedded)")
	host, _ := os.Hostname()
	fs.StringVar(&c.service.NodeID, "node-id", host, "this replica's name in a cluster (default: the host name)")
	fs.StringVar(&c.service.Synonyms, "synonyms", "", "synonyms file (Solr format) added to the defaults and the taxonomy's aliases")
	fs.IntVar(&c.service.TypoOneFrom, "typo-one-from", 4, "shortest word (in characters) in which one typo is tolerated")
	fs.IntVar(&c.service.TypoTwoFrom, "typo-two-from", 8, "shortest word in which two typos are tolerated")
	fs.StringVar(&c.service.DataDir, "data-dir", "", "directory to keep the index in, reopened at the next start (default: build in memory)")
	fs.BoolVar(&c.service.Rebuild, "rebuild", false, "build a new index from the corpus even when -data-dir holds one (e.g. after corruption)")
	fs.BoolVar(&c.service.SkipBad, "skip-bad", false, "skip malformed corpus records instead of failing the build")
	fs.BoolVar(&c.service.DiscardAPIChanges, "discard-api-changes", false, "forget the changes made through the documents API and rebuild from the corpus alone")
	fs.StringVar(&c.service.NATSURL, "nats-url", getenv("STACKSEARCH_NATS_URL"), "cluster mode: the NATS JetStream server URL(s), comma-separated, that keep the replicas in step; needs -data-dir (default $STACKSEARCH_NATS_URL; empty: a single searchd)")
	fs.IntVar(&c.service.NATSReplicas, "nats-replicas", 0, "cluster mode: NATS servers keeping each stream and bucket when this replica creates them (0: 3 on a clustered NATS, else 1)")
	fs.IntVar(&c.service.SnapshotsKeep, "snapshots-keep", 3, "cluster mode: index snapshots kept in NATS, the current one included")
	corsOrigins := fs.String("cors-origins", "*", "origins whose pages may call the REST API from a browser (CORS), comma-separated: https://docs.example.com, https://*.example.com, or * for any; empty for none")
	fs.DurationVar(&c.service.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long in-flight requests may take to finish at shutdown")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	fs.BoolVar(&c.logJSON, "log-json", !isTerminal(os.Stderr), "log JSON lines (default when stderr is not a terminal)")
	checkHardening := hardeningFlags(fs, &c.service)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fs.Usage()
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	// Any origin by default: the search box is meant to be embedded on other sites,
	// and CORS opens nothing a script outside a browser could not reach already,
	// since no endpoint authenticates with cookies (keys go in Authorization).
	origins, err := service.ParseCORSOrigins(*corsOrigins)
	if err != nil {
		return c, fmt.Errorf("-cors-origins: %w", err)
	}
	c.service.CORSOrigins = origins
	if err := checkHardening(); err != nil {
		return c, err
	}
	if c.service.SnapshotsKeep < 1 || c.service.NATSReplicas < 0 {
		return c, errors.New("-snapshots-keep must be at least 1 and -nats-replicas not negative")
	}
	c.service.AdminToken = getenv("STACKSEARCH_ADMIN_TOKEN")
	return c, nil
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// run starts the server and serves until ctx is cancelled.
func run(ctx context.Context, c config) error {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if c.logJSON {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	log := slog.New(h)
	slog.SetDefault(log) // packages that log on their own (corpus) log the same way
	c.service.Log = log
	if c.service.AdminToken == "" {
		log.Warn("admin API disabled: set STACKSEARCH_ADMIN_TOKEN to enable it")
	}
	srv, err := service.New(c.service)
	if err != nil {
		return err
	}
	grpcLis, err := net.Listen("tcp", c.grpcAddr)
	if err != nil {
		return fmt.Errorf("listen grpc: %w", err)
	}
	httpLis, err := net.Listen("tcp", c.httpAddr)
	if err != nil {
		grpcLis.Close()
		return fmt.Errorf("listen http: %w", err)
	}
	log.Info("listening", slog.String("http_addr", httpLis.Addr().String()), slog.String("grpc_addr", grpcLis.Addr().String()))
	return srv.Run(ctx, grpcLis, httpLis)
}

// hardeningFlags defines the flags of access, limits, overload, TLS and
// analytics on fs, writing into sc; the returned function checks them once parsed.
func hardeningFlags(fs *flag.FlagSet, sc *service.Config) func() error {
	public := fs.Bool("public-search", true, "let anyone search; when false, SearchService calls need a search key or the admin token (a key presented is always checked and its scope and rate limit applied)")
	fs.StringVar(&sc.TLSCert, "tls-cert", "", "PEM certificate (chain) file: serve TLS on both listeners (with -tls-key)")
	fs.StringVar(&sc.TLSKey, "tls-key", "", "PEM private key file of -tls-cert")
	l := &sc.Limits
	*l = service.DefaultLimits()
	ints := []struct {
		p         *int
		name, use string
	}{
		{&l.MaxQueryBytes, "max-query-bytes", "longest query text, in bytes"},
		{&l.MaxQueryWords, "max-query-words", "most words in a query"},
		{&l.MaxFilterValues, "max-filter-values", "most values of one filter field (languages, frameworks, ...) in a search"},
		{&l.MaxFacets, "max-facets", "most entries in a search's facets list"},
		{&l.MaxPageSize, "max-page-size", "largest page_size (at most 100)"},
		{&l.MaxBodyBytes, "max-body-bytes", "largest REST request body, in bytes (413 beyond), except an UpsertDocuments batch"},
		{&l.MaxMessageBytes, "max-msg-bytes", "largest gRPC request message, and REST UpsertDocuments body, in bytes"},
		{&l.MaxConcurrentStreams, "max-concurrent-streams", "most concurrent calls on one HTTP/2 connection (gRPC, and REST over TLS)"},
		{&l.MaxClauses, "max-clauses", "most terms a wildcard, regexp or fuzzy word may expand to (Bleve's DisjunctionMaxClauseCount)"},
	}
	for _, f := range ints {
		fs.IntVar(f.p, f.name, *f.p, f.use)
	}
	o := &sc.Overload
	fs.Float64Var(&o.RateLimit, "rate-limit", 50, "searches a second each client may make, by key, else by address; 0 for no per-client limit (a key's own rate_limit replaces it)")
	fs.IntVar(&o.RateBurst, "rate-burst", 100, "searches a client may make at once above -rate-limit")
	exempt := fs.String("rate-limit-exempt", "127.0.0.0/8,::1/128", "comma-separated CIDRs not rate-limited by address (a reverse proxy on the same host stands for many visitors; keys are limited all the same); empty for none")
	fs.IntVar(&o.MaxInFlight, "max-inflight", 256, "most searches admitted at once, running or waiting to run; more are refused 503 at once instead of queueing; 0 for no bound")
	fs.IntVar(&o.MaxConcurrent, "max-concurrent-searches", service.DefaultMaxConcurrent(), "most searches running at once; the other admitted ones wait their turn within their deadline")
	fs.DurationVar(&o.SearchTimeout, "search-timeout", service.DefaultSearchTimeout, "longest a search may take (a caller's sooner deadline applies)")
	fs.DurationVar(&sc.AnalyticsRetention, "analytics-retention", service.DefaultAnalyticsRetention, "how long search analytics are kept (hourly buckets, at least 1h)")
	return func() error {
		sc.RequireSearchKey = !*public
		for _, f := range ints {
			if *f.p < 1 {
				return fmt.Errorf("-%s must be at least 1, not %d", f.name, *f.p)
			}
		}
		if l.MaxPageSize > 100 {
			return fmt.Errorf("-max-page-size must be at most 100, not %d", l.MaxPageSize)
		}
		if o.RateLimit < 0 || o.RateBurst < 1 || o.MaxInFlight < 0 || o.MaxConcurrent < 1 {
			return errors.New("-rate-limit and -max-inflight must not be negative, -rate-burst and -max-concurrent-searches must be at least 1")
		}
		if o.SearchTimeout <= 0 {
			return errors.New("-search-timeout must be positive")
		}
		if sc.AnalyticsRetention < time.Hour {
			return fmt.Errorf("-analytics-retention must be at least 1h, not %s", sc.AnalyticsRetention)
		}
		if (sc.TLSCert == "") != (sc.TLSKey == "") {
			return errors.New("-tls-cert and -tls-key go together")
		}
		for _, c := range strings.Split(*exempt, ",") {
			if c = strings.TrimSpace(c); c == "" {
				continue
			}
			p, err := netip.ParsePrefix(c)
			if err != nil {
				return fmt.Errorf("-rate-limit-exempt: %w", err)
			}
			o.RateLimitExempt = append(o.RateLimitExempt, p)
		}
		return nil
	}
}
