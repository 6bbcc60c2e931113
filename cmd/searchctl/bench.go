package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/stacksearch/stacksearch/cmd/stackbench/load"
	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

const benchUsage = `usage: searchctl [-addr HOST:PORT] bench [flags]

Sends the queries of a query file to a running searchd from concurrent clients,
each sending its next request when the previous one is answered, for a warm-up
and then a measured duration; prints throughput, p50/p95/p99 latency and errors.

flags:
  -queries FILE     query file (default testdata/bench-queries.tsv)
  -protocol P       grpc (to -addr) or rest (to -rest) (default grpc)
  -rest URL         searchd's REST address (default http://localhost:8080)
  -clients N        concurrent clients, each with its own connection (default 4)
  -duration D       measured time (default 10s)
  -warmup D         unmeasured time first (default 2s)
  -shape S          plain (words only, no highlights), box (the file's filters and
                    facets, highlights) or full (every facet field counted) (default box)
  -page-size N      hits per search (default 10)
  -suggest          call Suggest with each query half typed instead of Search
  -noop             call the health check instead (gRPC Check, REST /healthz): the
                    load tool's own cost, since it shares the machine's CPUs
  -server-pid PID   also report that process's CPU over the measured time
  -name NAME        label of the run in the report
  -json FILE        write the report as JSON
`

func (c *client) benchCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), benchUsage) }
	queries := fs.String("queries", "testdata/bench-queries.tsv", "")
	protocol := fs.String("protocol", "grpc", "")
	rest := fs.String("rest", "http://localhost:8080", "")
	clients := fs.Int("clients", 4, "")
	duration := fs.Duration("duration", 10*time.Second, "")
	warmup := fs.Duration("warmup", 2*time.Second, "")
	shape := fs.String("shape", load.ShapeBox, "")
	pageSize := fs.Int("page-size", 10, "")
	suggest := fs.Bool("suggest", false, "")
	noop := fs.Bool("noop", false, "")
	serverPID := fs.Int("server-pid", 0, "")
	name := fs.String("name", "", "")
	jsonOut := fs.String("json", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *clients < 1 || *duration <= 0 || *warmup < 0 {
		fs.Usage()
		return errors.New("bench: bad arguments")
	}
	qs, err := load.ReadQueries(*queries)
	if err != nil {
		return err
	}
	reqs, err := load.Shapes(qs, *shape)
	if err != nil {
		return err
	}
	what := "search"
	switch {
	case *noop:
		what = "noop"
	case *suggest:
		what = "suggest"
	}
	var do load.Do
	switch *protocol {
	case "grpc":
		var closeAll func()
		do, closeAll, err = c.grpcLoad(what, reqs, *pageSize, *clients)
		if err != nil {
			return err
		}
		defer closeAll()
	case "rest":
		do = restLoad(strings.TrimSuffix(*rest, "/"), what, reqs, *pageSize, *clients)
	default:
		return fmt.Errorf("bench: unknown protocol %q: use grpc or rest", *protocol)
	}
	if *name == "" {
		*name = *protocol + " " + what
		if what == "search" {
			*name += " " + *shape
		}
	}
	fmt.Fprintf(c.out, "%s: %d clients, %s warm-up, %s measured, %d queries from %s\n",
		*name, *clients, *warmup, *duration, len(qs), *queries)
	cfg := load.Config{Clients: *clients, Warmup: *warmup, Duration: *duration}
	if *serverPID > 0 {
		cfg.ServerPIDs = []int{*serverPID}
	}
	rep := load.Run(ctx, cfg, do)
	rep.Name = *name
	fmt.Fprintln(c.out, rep.Summary())
	for _, e := range rep.FirstErrors {
		fmt.Fprintln(c.out, "error:", e)
	}
	if *jsonOut != "" {
		if err := load.WriteJSON(*jsonOut, rep); err != nil {
			return err
		}
	}
	if rep.Requests == 0 {
		return errors.New("bench: no request succeeded")
	}
	return nil
}

// grpcLoad returns the call each client makes over gRPC, each client on its
// own connection to the -addr target, as separate visitors' servers would be.
func (c *client) grpcLoad(what string, reqs []load.Request, pageSize, clients int) (load.Do, func(), error) {
	conns := make([]*grpc.ClientConn, clients)
	closeAll := func() {
		for _, cc := range conns {
			if cc != nil {
				cc.Close()
			}
		}
	}
	for i := range conns {
		cc, err := grpc.NewClient(c.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("connect %s: %w", c.conn.Target(), err)
		}
		conns[i] = cc
	}
	searches := make([]*pb.SearchRequest, len(reqs))
	suggests := make([]*pb.SuggestRequest, len(reqs))
	for i, r := range reqs {
		f := r.Filters
		searches[i] = &pb.SearchRequest{
			Query: r.Text, Languages: f["languages"], Frameworks: f["frameworks"], Databases: f["databases"],
			Topics: f["topics"], Types: f["types"], Facets: r.Facets, PageSize: int32(pageSize), Highlight: &r.Highlight,
		}
		suggests[i] = &pb.SuggestRequest{Query: load.Prefix(r.Text)}
	}
	search := make([]pb.SearchServiceClient, clients)
	health := make([]healthpb.HealthClient, clients)
	for i, cc := range conns {
		search[i], health[i] = pb.NewSearchServiceClient(cc), healthpb.NewHealthClient(cc)
	}
	var do load.Do
	switch what {
	case "noop":
		do = func(ctx context.Context, client, i int) error {
			_, err := health[client].Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		}
	case "suggest":
		do = func(ctx context.Context, client, i int) error {
			_, err := search[client].Suggest(ctx, load.Pick(suggests, client, i))
			return err
		}
	default:
		do = func(ctx context.Context, client, i int) error {
			_, err := search[client].Search(ctx, load.Pick(searches, client, i))
			return err
		}
	}
	return do, closeAll, nil
}

// restLoad returns the call each client makes over REST: a GET of a URL made
// in advance, the body read to its end, on a keep-alive connection per client.
func restLoad(base, what string, reqs []load.Request, pageSize, clients int) load.Do {
	urls := make([]string, len(reqs))
	for i, r := range reqs {
		v := url.Values{}
		switch what {
		case "noop":
			urls[i] = base + "/healthz"
			continue
		case "suggest":
			v.Set("query", load.Prefix(r.Text))
			urls[i] = base + "/v1/suggest?" + v.Encode()
			continue
		}
		v.Set("query", r.Text)
		for name, vals := range r.Filters {
			v[name] = vals
		}
		v["facets"] = r.Facets
		v.Set("page_size", strconv.Itoa(pageSize))
		v.Set("highlight", strconv.FormatBool(r.Highlight))
		urls[i] = base + "/v1/search?" + v.Encode()
	}
	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true,
	}}
	return func(ctx context.Context, client, i int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, load.Pick(urls, client, i), nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
			return fmt.Errorf("%s: %s", resp.Status, msg)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
}
