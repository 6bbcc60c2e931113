package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	_ "modernc.org/sqlite" // the pure-Go SQLite, with FTS5

	"github.com/stacksearch/stacksearch/cmd/stackbench/load"
	"github.com/stacksearch/stacksearch/corpus"
	"github.com/stacksearch/stacksearch/index"
)

// peerResult is what a peer engine measured.
type peerResult struct {
	Engine    string        `json:"engine"`
	Version   string        `json:"version"`
	Documents int           `json:"documents"`
	BuildSecs float64       `json:"build_seconds"`
	SizeBytes int64         `json:"size_bytes"`
	Memory    load.Memory   `json:"memory"`
	Runs      []load.Report `json:"runs"`
}

// peerBatch is the number of documents a peer writes per transaction, as
// Stacksearch writes per Bleve batch (index.DefaultBatchSize).
const peerBatch = index.DefaultBatchSize

// peerDocuments yields the documents Stacksearch indexes from the corpus: read
// and tagged by the corpus package, malformed and invalid records left out.
func peerDocuments(ctx context.Context, path string, yield func(*corpus.Document) error) error {
	src, err := corpus.Open(path, corpus.DefaultTaxonomy())
	if err != nil {
		return err
	}
	for d, err := range src.Documents(ctx) {
		if err != nil || index.ValidateDocument(&d) != nil {
			continue
		}
		if err := yield(&d); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// sqliteCmd indexes the corpus into an SQLite FTS5 table and measures ranked
// searches on it in this process: the words ORed and ranked by bm25 (title 2,
// body 1, page 0.5, as Stacksearch weighs them), the line's filters, the top
// 10 with the title highlighted and a body snippet.
func sqliteCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sqlite", flag.ContinueOnError)
	var lf loadFlags
	lf.define(fs)
	corpusPath := fs.String("corpus", "data/debian-docs.jsonl", "corpus file")
	work := fs.String("work", os.TempDir(), "directory for the database (removed afterwards)")
	out := fs.String("json", "", "write the result here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	qs, err := load.ReadQueries(lf.queries)
	if err != nil {
		return err
	}
	counts, err := lf.clientCounts()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(*work, "sqlite-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "fts.db")
	// WAL and synchronous=NORMAL: durable at each checkpoint, as a service would
	// run it; mmap so that reads come from the mapped file, as Bleve's do.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=mmap_size(4294967296)")
	if err != nil {
		return err
	}
	defer db.Close()
	res := peerResult{Engine: "SQLite FTS5"}
	if err := db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&res.Version); err != nil {
		return err
	}
	start := time.Now()
	if res.Documents, err = sqliteBuild(ctx, db, *corpusPath); err != nil {
		return err
	}
	res.BuildSecs = time.Since(start).Seconds()
	res.SizeBytes = dirSize(dir)
	fmt.Fprintf(os.Stderr, "sqlite: %d documents in %.1fs, %.1f MB\n", res.Documents, res.BuildSecs, float64(res.SizeBytes)/1e6)

	db.SetMaxOpenConns(counts[len(counts)-1])
	db.SetMaxIdleConns(counts[len(counts)-1])
	for _, n := range counts {
		r := load.Run(ctx, lf.config(n), func(ctx context.Context, client, i int) error {
			return sqliteSearch(ctx, db, load.Pick(qs, client, i))
		})
		r.Name = "sqlite fts5 search"
		fmt.Fprintln(os.Stderr, r.Summary())
		res.Runs = append(res.Runs, r)
	}
	res.Memory = load.MemoryOf(os.Getpid())
	return load.WriteJSON(*out, res)
}

// sqliteFacets are the facet columns, stored as "|a|b|" so a filter is a LIKE.
var sqliteFacets = []string{"languages", "frameworks", "databases", "topics", "types"}

func sqliteBuild(ctx context.Context, db *sql.DB, corpusPath string) (int, error) {
	_, err := db.ExecContext(ctx, `CREATE VIRTUAL TABLE docs USING fts5(
		id UNINDEXED, title, body, page, url UNINDEXED,
		languages UNINDEXED, frameworks UNINDEXED, databases UNINDEXED, topics UNINDEXED, types UNINDEXED,
		tokenize = 'porter unicode61')`)
	if err != nil {
		return 0, err
	}
	var (
		tx   *sql.Tx
		stmt *sql.Stmt
		n    int
	)
	commit := func() error {
		if tx == nil {
			return nil
		}
		err := tx.Commit()
		tx = nil
		return err
	}
	err = peerDocuments(ctx, corpusPath, func(d *corpus.Document) error {
		if tx == nil {
			var err error
			if tx, err = db.BeginTx(ctx, nil); err != nil {
				return err
			}
			if stmt, err = tx.PrepareContext(ctx, `INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
				return err
			}
		}
		bar := func(vals []string) string {
			if len(vals) == 0 {
				return ""
			}
			return "|" + strings.Join(vals, "|") + "|"
		}
		if _, err := stmt.ExecContext(ctx, d.ID, d.Title, d.Body, d.Page, d.URL,
			bar(d.Languages), bar(d.Frameworks), bar(d.Databases), bar(d.Topics), bar([]string{d.Type})); err != nil {
			return err
		}
		n++
		if n%peerBatch == 0 {
			return commit()
		}
		return nil
	})
	if err == nil {
		err = commit()
	}
	if err != nil {
		if tx != nil {
			tx.Rollback()
		}
		return 0, err
	}
	// merge the b-trees into one, as an index built in one go would be
	if _, err := db.ExecContext(ctx, `INSERT INTO docs(docs) VALUES ('optimize')`); err != nil {
		return 0, err
	}
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return 0, err
	}
	return n, nil
}

func sqliteSearch(ctx context.Context, db *sql.DB, q load.Query) error {
	var terms []string
	for _, w := range words(q.Text) {
		terms = append(terms, `"`+w+`"`)
	}
	if len(terms) == 0 {
		return nil
	}
	query := `SELECT id, highlight(docs, 1, '<mark>', '</mark>'), url, snippet(docs, 2, '<mark>', '</mark>', '…', 24)
		FROM docs WHERE docs MATCH ?`
	args := []any{strings.Join(terms, " OR ")}
	for _, f := range sqliteFacets {
		vals := q.Filters[f]
		if len(vals) == 0 {
			continue
		}
		var or []string
		for _, v := range vals {
			or = append(or, f+" LIKE ?")
			args = append(args, "%|"+v+"|%")
		}
		query += " AND (" + strings.Join(or, " OR ") + ")"
	}
	query += ` ORDER BY bm25(docs, 0, 2.0, 1.0, 0.5) LIMIT 10`
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, title, url, snippet string
		if err := rows.Scan(&id, &title, &url, &snippet); err != nil {
			return err
		}
	}
	return rows.Err()
}

// words splits a query into the words a peer searches for: runs of letters
// and digits, lower-cased.
func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}
