package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/stacksearch/stacksearch/index"
	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// evalCmd runs a BEIR relevance collection's queries against the server and
// prints nDCG@10, Recall@100 and MRR@10. The server must be serving the
// collection's corpus.jsonl (searchd -corpus DIR/corpus.jsonl).
func (c *client) evalCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	queries := fs.String("queries", "queries.jsonl", "queries file, relative to the collection")
	qrels := fs.String("qrels", "qrels/test.tsv", "judgments file, relative to the collection")
	noTypos := fs.Bool("no-typos", false, "turn typo tolerance off")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: searchctl eval [flags] BEIR_DIR")
	}
	dir := fs.Arg(0)
	qs, err := index.ReadEvalQueries(filepath.Join(dir, *queries))
	if err != nil {
		return err
	}
	judged, err := index.ReadQrels(filepath.Join(dir, *qrels))
	if err != nil {
		return err
	}
	run := map[string][]string{}
	start := time.Now()
	for _, q := range qs {
		if _, ok := judged[q.ID]; !ok {
			continue
		}
		cctx, cancel := c.call(ctx, false)
		req := &pb.SearchRequest{Query: q.Text, PageSize: 100, Highlight: new(bool)} // highlights change nothing in the ranking
		if *noTypos {
			req.TypoTolerance = new(bool)
		}
		res, err := c.search.Search(cctx, req)
		cancel()
		if err != nil {
			return fmt.Errorf("query %s: %w", q.ID, err)
		}
		for _, h := range res.GetHits() {
			run[q.ID] = append(run[q.ID], h.GetId())
		}
	}
	m := index.Evaluate(run, judged)
	fmt.Fprintf(c.out, "%s: %d queries in %s\n", dir, m.Queries, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(c.out, "nDCG@10     %.4f\nRecall@100  %.4f\nMRR@10      %.4f\n", m.NDCG10, m.Recall100, m.MRR10)
	return nil
}
