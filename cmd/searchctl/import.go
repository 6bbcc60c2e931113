package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
	"google.golang.org/protobuf/proto"

	"github.com/stacksearch/stacksearch/corpus"
	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// maxBatchBytes keeps an UpsertDocuments request under gRPC's default 4 MiB
// message limit, whatever the documents' sizes.
const maxBatchBytes = 3 << 20

// importCmd sends the records of a file or directory (anything searchd's
// -corpus reads) through UpsertDocuments. It reads the source twice: once to
// count the records and find malformed ones, so that a bad file stops the import
// before anything is sent, then to send them.
func (c *client) importCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	batchSize := fs.Int("batch", 500, "documents per UpsertDocuments call (at most 1000)")
	skipBad := fs.Bool("skip-bad", false, "skip malformed records instead of refusing to import")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: searchctl import [-batch N] [-skip-bad] PATH")
	}
	if *batchSize < 1 || *batchSize > 1000 {
		return fmt.Errorf("-batch %d: must be between 1 and 1000", *batchSize)
	}
	// corpus logs a summary of each pass; a command-line tool says it its own way.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	// Records are sent as read: searchd fills the facets they do not declare from its own taxonomy.
	src, err := corpus.Open(fs.Arg(0), nil)
	if err != nil {
		return err
	}

	total, bad := 0, 0
	for _, err := range src.Documents(ctx) {
		if err == nil {
			total++
			continue
		}
		var re *corpus.RecordError
		if !errors.As(err, &re) {
			return err
		}
		bad++
		fmt.Fprintln(os.Stderr, err)
	}
	if bad > 0 && !*skipBad {
		return fmt.Errorf("%d malformed records in %s; nothing imported (use -skip-bad to import the others)", bad, src.Name())
	}

	bar := newProgressBar(os.Stderr, total)
	done := 0
	var batch []*pb.Document
	size := 0
	inBatch := map[string]bool{}
	send := func() error {
		if len(batch) == 0 {
			return nil
		}
		cctx, cancel := c.call(ctx, true)
		defer cancel()
		if _, err := c.admin.UpsertDocuments(cctx, &pb.UpsertDocumentsRequest{Documents: batch}); err != nil {
			bar.finish()
			return fmt.Errorf("import stopped after %d of %d documents: %w", done, total, err)
		}
		done += len(batch)
		bar.update(done)
		batch, size = batch[:0], 0
		clear(inBatch)
		return nil
	}
	for doc, err := range src.Documents(ctx) {
		if err != nil {
			continue // reported above
		}
		d := documentToProto(&doc)
		n := proto.Size(d)
		// A batch changes a document once: a repeated id goes in the next batch, so the last one wins.
		if len(batch) >= *batchSize || size+n > maxBatchBytes || inBatch[d.Id] {
			if err := send(); err != nil {
				return err
			}
		}
		batch = append(batch, d)
		size += n
		inBatch[d.Id] = true
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := send(); err != nil {
		return err
	}
	bar.finish()
	fmt.Fprintf(c.out, "imported %d documents from %s", done, src.Name())
	if bad > 0 {
		fmt.Fprintf(c.out, " (%d malformed records skipped)", bad)
	}
	fmt.Fprintln(c.out)
	return nil
}

func documentToProto(d *corpus.Document) *pb.Document {
	return &pb.Document{
		Id: d.ID, Title: d.Title, Url: d.URL, Page: d.Page, Type: d.Type, Body: d.Body,
		Languages: d.Languages, Frameworks: d.Frameworks, Databases: d.Databases, Topics: d.Topics,
		Fields: d.Fields,
	}
}

// progressBar shows how far an import has got: a bar redrawn in place on a
// terminal, otherwise a plain line at most every two seconds.
type progressBar struct {
	w        io.Writer
	terminal bool
	total    int
	start    time.Time
	last     time.Time
	drawn    bool
}

func newProgressBar(f *os.File, total int) *progressBar {
	return &progressBar{w: f, terminal: term.IsTerminal(int(f.Fd())), total: total, start: time.Now()}
}

func (p *progressBar) update(done int) {
	now := time.Now()
	rate := float64(done) / max(now.Sub(p.start).Seconds(), 1e-3)
	if p.terminal {
		const width = 30
		filled := width
		pct := 100.0
		if p.total > 0 {
			filled = min(width, width*done/p.total)
			pct = 100 * float64(done) / float64(p.total)
		}
		fmt.Fprintf(p.w, "\r[%s%s] %3.0f%%  %d/%d documents  %.0f/s ",
			strings.Repeat("=", filled), strings.Repeat(" ", width-filled), pct, done, p.total, rate)
		p.drawn = true
		return
	}
	if now.Sub(p.last) >= 2*time.Second || done == p.total {
		fmt.Fprintf(p.w, "imported %d/%d documents (%.0f/s)\n", done, p.total, rate)
		p.last = now
	}
}

// finish ends the bar's line on a terminal.
func (p *progressBar) finish() {
	if p.terminal && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
