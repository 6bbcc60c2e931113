package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

const usage = `usage: searchctl [global flags] <command> [flags] [args]

commands:
  search [flags] WORDS...   search and print the ranked hits
  get ID                    print one whole document
  status                    describe the live index and the server's health
  reindex [flags]           rebuild the index from the corpus and wait, showing progress
  eval [flags] BEIR_DIR     rank a BEIR collection's queries; print nDCG@10, Recall@100, MRR@10
  bench [flags]             load the server with search-box queries; print throughput and latency
  import [flags] PATH       upsert the records of a file or directory (Markdown, HTML, JSONL)

global flags:
  -addr HOST:PORT   searchd's gRPC address (env STACKSEARCH_ADDR, default localhost:9090)
  -token TOKEN      admin token for reindex, status and import (env STACKSEARCH_ADMIN_TOKEN)
  -timeout D        deadline for each call (default 30s)
  -json             print responses as JSON
`

// client holds a connection and the global options.
type client struct {
	conn    *grpc.ClientConn
	search  pb.SearchServiceClient
	admin   pb.AdminServiceClient
	token   string
	timeout time.Duration
	json    bool
	out     io.Writer
}

func run(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("searchctl", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	addr := fs.String("addr", envOr(getenv, "STACKSEARCH_ADDR", "localhost:9090"), "")
	token := fs.String("token", getenv("STACKSEARCH_ADMIN_TOKEN"), "")
	timeout := fs.Duration("timeout", 30*time.Second, "")
	asJSON := fs.Bool("json", false, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no command given")
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connect %s: %w", *addr, err)
	}
	defer conn.Close()
	c := &client{conn: conn, search: pb.NewSearchServiceClient(conn), admin: pb.NewAdminServiceClient(conn),
		token: *token, timeout: *timeout, json: *asJSON, out: out}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "search":
		return c.searchCmd(ctx, rest)
	case "get":
		return c.getCmd(ctx, rest)
	case "status":
		return c.statusCmd(ctx, rest)
	case "eval":
		return c.evalCmd(ctx, rest)
	case "reindex":
		return c.reindexCmd(ctx, rest)
	case "import":
		return c.importCmd(ctx, rest)
	case "bench":
		return c.benchCmd(ctx, rest)
	}
	fs.Usage()
	return fmt.Errorf("unknown command %q", cmd)
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// call returns a context with the call deadline and, for admin calls, the token.
func (c *client) call(ctx context.Context, admin bool) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	if admin && c.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
	}
	return ctx, cancel
}

func (c *client) printJSON(m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.out, string(b))
	return err
}

// list collects a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, strings.Split(v, ",")...); return nil }

func (c *client) searchCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	var langs, fws, dbs, topics, types, facets list
	fs.Var(&langs, "languages", "filter by language (repeatable, comma-separated)")
	fs.Var(&fws, "frameworks", "filter by framework")
	fs.Var(&dbs, "databases", "filter by database")
	fs.Var(&topics, "topics", "filter by topic")
	fs.Var(&types, "types", "filter by type: section, faq")
	fs.Var(&facets, "facets", "facet fields to count")
	n := fs.Int("n", 10, "hits per page")
	page := fs.String("page-token", "", "continue from a previous page")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := c.call(ctx, false)
	defer cancel()
	res, err := c.search.Search(ctx, &pb.SearchRequest{
		Query: strings.Join(fs.Args(), " "), Languages: langs, Frameworks: fws, Databases: dbs, Topics: topics,
		Types: types, Facets: facets, PageSize: int32(*n), PageToken: *page,
	})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(res)
	}
	fmt.Fprintf(c.out, "%d hits (%.1f ms)\n", res.GetTotalHits(), res.GetTookMs())
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	for i, h := range res.GetHits() {
		fmt.Fprintf(tw, "%d.\t%.2f\t%s\t%s\n", i+1, h.GetScore(), h.GetTitle(), h.GetUrl())
	}
	tw.Flush()
	for name, fc := range res.GetFacets() {
		var parts []string
		for _, v := range fc.GetValues() {
			parts = append(parts, fmt.Sprintf("%s (%d)", v.GetValue(), v.GetCount()))
		}
		fmt.Fprintf(c.out, "%s: %s\n", name, strings.Join(parts, ", "))
	}
	if t := res.GetNextPageToken(); t != "" {
		fmt.Fprintf(c.out, "next page: -page-token %s\n", t)
	}
	return nil
}

func (c *client) getCmd(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: searchctl get ID")
	}
	ctx, cancel := c.call(ctx, false)
	defer cancel()
	d, err := c.search.GetDocument(ctx, &pb.GetDocumentRequest{Id: args[0]})
	if err != nil {
		return err
	}
	return c.printJSON(d)
}

func (c *client) statusCmd(ctx context.Context, args []string) error {
	if len(args) != 0 {
		return errors.New("usage: searchctl status")
	}
	ctx, cancel := c.call(ctx, true)
	defer cancel()
	h, err := healthpb.NewHealthClient(c.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	info, err := c.admin.GetIndex(ctx, &pb.GetIndexRequest{})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(info)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "health:\t%s\n", h.GetStatus())
	fmt.Fprintf(tw, "documents:\t%d\n", info.GetDocumentCount())
	fmt.Fprintf(tw, "corpus:\t%s\n", info.GetCorpusSource())
	fmt.Fprintf(tw, "version:\t%s\n", info.GetVersion())
	fmt.Fprintf(tw, "built:\t%s in %.2fs\n", info.GetBuildTime().AsTime().Format(time.RFC3339), info.GetBuildSeconds())
	if info.GetDataDir() != "" {
		fmt.Fprintf(tw, "data dir:\t%s (%.1f MB)\n", info.GetDataDir(), float64(info.GetSizeBytes())/1e6)
	} else {
		fmt.Fprintf(tw, "data dir:\t(in memory)\n")
	}
	fmt.Fprintf(tw, "fields:\t%s\n", strings.Join(info.GetFields(), ", "))
	return tw.Flush()
}

func (c *client) reindexCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("reindex", flag.ContinueOnError)
	skipBad := fs.Bool("skip-bad", false, "skip malformed records instead of failing")
	noWait := fs.Bool("no-wait", false, "return once the reindex has started")
	if err := fs.Parse(args); err != nil {
		return err
	}
	req := &pb.ReindexRequest{}
	if *skipBad {
		req.SkipBad = skipBad
	}
	cctx, cancel := c.call(ctx, true)
	op, err := c.admin.Reindex(cctx, req)
	cancel()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "reindex started: operation %s\n", op.GetName())
	for !*noWait && !op.GetDone() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		cctx, cancel := c.call(ctx, true)
		op, err = c.admin.GetOperation(cctx, &pb.GetOperationRequest{Name: op.GetName()})
		cancel()
		if err != nil {
			return err
		}
		p := op.GetProgress()
		fmt.Fprintf(os.Stderr, "\r%-9s %d/%d documents", p.GetPhase(), p.GetDocumentsDone(), p.GetDocumentsTotal())
	}
	fmt.Fprintln(os.Stderr)
	if c.json || *noWait {
		if err := c.printJSON(op); err != nil {
			return err
		}
	}
	if e := op.GetError(); e != nil {
		return fmt.Errorf("reindex failed (%s): %s", e.GetCode(), e.GetMessage())
	}
	if r := op.GetResult(); r != nil && !c.json {
		fmt.Fprintf(c.out, "indexed %d documents from %s in %.2fs (%d skipped)\n",
			r.GetDocumentCount(), r.GetCorpusSource(), r.GetBuildSeconds(), r.GetSkipped())
		for _, b := range r.GetBadRecords() {
			fmt.Fprintf(c.out, "skipped: %s\n", b)
		}
		if ids := r.GetDuplicateIds(); len(ids) > 0 {
			fmt.Fprintf(c.out, "duplicate ids (the last record won): %s\n", strings.Join(ids, ", "))
		}
		fmt.Fprintln(c.out, r.GetApiChangesNote())
	}
	return nil
}
