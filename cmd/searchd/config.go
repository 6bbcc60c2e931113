package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
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
	fs.StringVar(&c.service.Corpus, "corpus", "", "corpus to index: a Markdown/HTML directory, a .md/.html file or a .jsonl file (default: the embedded article)")
	fs.StringVar(&c.service.Taxonomy, "taxonomy", "", "taxonomy YAML file of languages, frameworks, databases and topics (default: embedded)")
	fs.StringVar(&c.service.DataDir, "data-dir", "", "directory to keep the index in, reopened at the next start (default: build in memory)")
	fs.BoolVar(&c.service.Rebuild, "rebuild", false, "build a new index from the corpus even when -data-dir holds one (e.g. after corruption)")
	fs.BoolVar(&c.service.SkipBad, "skip-bad", false, "skip malformed corpus records instead of failing the build")
	fs.DurationVar(&c.service.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long in-flight requests may take to finish at shutdown")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	fs.BoolVar(&c.logJSON, "log-json", !isTerminal(os.Stderr), "log JSON lines (default when stderr is not a terminal)")
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
