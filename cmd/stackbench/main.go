// Command stackbench runs Stacksearch's performance comparison and writes
// BENCHMARKS.md: searchd over gRPC and REST against Bleve in-process (the same
// index and requests through index.Live), SQLite FTS5 and PostgreSQL full-text
// search, on the documentation corpus of `make bench-data` and the queries of
// testdata/bench-queries.tsv, all measured in one run on one machine. `make
// bench` builds the binaries and runs it.
//
//	go run ./cmd/stackbench -bin bin            # the whole comparison
//	go run ./cmd/stackbench -h                  # its settings
//
// The run, in order: searchd builds the corpus into a data directory (build
// rate, peak memory), reindexes it through the admin API (reindex rate), and
// is restarted on it (reopen time); the restarted searchd serves every load
// run of `searchctl bench` (gRPC and REST, three request shapes, 4 and 16
// clients, Suggest, and the load tool against a no-op endpoint for its own
// cost); a searchd built with a pprof listener is profiled under REST load;
// then, with searchd stopped, child processes of stackbench measure the same
// index in-process, SQLite FTS5 and the cost growth (10% and 10× the corpus),
// and PostgreSQL runs in a throwaway cluster. Each engine runs alone: nothing
// else of the benchmark competes for the two CPUs while it is measured.
//
// The child processes are stackbench's own subcommands (inproc, sqlite, grow);
// they write their results as JSON for the parent.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.SetDefault(quietLog()) // the corpus package logs each pass over the corpus
	var err error
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "inproc":
			err = inprocCmd(ctx, os.Args[2:])
		case "grow":
			err = growCmd(ctx, os.Args[2:])
		case "sqlite":
			err = sqliteCmd(ctx, os.Args[2:])
		default:
			err = compareCmd(ctx, os.Args[1:])
		}
	} else {
		err = compareCmd(ctx, nil)
	}
	if err != nil && err != flag.ErrHelp {
		fmt.Fprintln(os.Stderr, "stackbench:", err)
		os.Exit(1)
	}
}
