package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stacksearch/stacksearch/cmd/stackbench/load"
	"github.com/stacksearch/stacksearch/corpus"
)

// pgCluster is a throwaway PostgreSQL cluster in a temporary directory,
// reached only over its Unix socket.
type pgCluster struct {
	bin    string // the directory of initdb, pg_ctl, postgres
	dir    string // data directory, socket and log
	port   int
	asUser string // run the server as this user ("" for the current one)
}

// findPostgres returns the bin directory of the newest PostgreSQL installed
// from Debian's packages (/usr/lib/postgresql/N/bin).
func findPostgres() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(dirs) == 0 {
		return "", errors.New("PostgreSQL is not installed (make bench installs Debian's postgresql)")
	}
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return va - vb
	})
	return filepath.Dir(dirs[len(dirs)-1]), nil
}

// startPostgres creates and starts a cluster under work. PostgreSQL refuses to
// run as root: as root, the cluster belongs to the postgres user and its
// commands run through runuser.
func startPostgres(ctx context.Context, work string) (*pgCluster, error) {
	bin, err := findPostgres()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(work, "postgres-")
	if err != nil {
		return nil, err
	}
	c := &pgCluster{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		// the temporary directory's parents must let the postgres user through
		for d := filepath.Dir(dir); d != "/" && d != "."; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				return nil, fmt.Errorf("the postgres user cannot enter %s: use -work with a directory it can reach", d)
			}
		}
		c.asUser = "postgres"
	}
	if c.port, err = freePort(); err != nil {
		return nil, err
	}
	if out, err := c.run(ctx, "initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// No TCP listener: the socket in dir only. shared_buffers holds the whole
	// table and index, as Stacksearch's index is held in memory (mmap).
	opts := fmt.Sprintf("-c listen_addresses='' -k %s -p %d -c shared_buffers=1GB -c max_connections=64", c.dir, c.port)
	if out, err := c.run(ctx, "pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		c.remove()
		return nil, fmt.Errorf("pg_ctl start: %w\n%s", err, out)
	}
	return c, nil
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

func (c *pgCluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	if c.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", filepath.Join(c.bin, name)}, args...)...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

// stop stops the cluster and removes it.
func (c *pgCluster) stop() {
	if out, err := c.run(context.Background(), "pg_ctl", "-D", c.data(), "-m", "fast", "-w", "stop"); err != nil {
		fmt.Fprintf(os.Stderr, "pg_ctl stop: %v\n%s", err, out)
	}
	c.remove()
}

func (c *pgCluster) remove() { os.RemoveAll(c.dir) }

// connect opens a connection over the cluster's Unix socket.
func (c *pgCluster) connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres", c.dir, c.port))
}

// pids returns the postmaster's process id and its children's (the backends).
func (c *pgCluster) pids() []int {
	raw, err := os.ReadFile(filepath.Join(c.data(), "postmaster.pid"))
	if err != nil {
		return nil
	}
	main, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0]))
	if err != nil {
		return nil
	}
	pids := []int{main}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(main) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// freePort returns a TCP port free now; PostgreSQL only names its socket with it.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// benchPostgres indexes the corpus into a table with a tsvector column and a
// GIN index and measures ranked searches over the socket from this process,
// a separate client as searchctl bench is for searchd: the words ORed, ranked
// by ts_rank (title weight A, body B, page C), the line's filters, the top 10
// with a ts_headline snippet of the body.
func benchPostgres(ctx context.Context, corpusPath, work string, qs []load.Query, lf loadFlags) (*peerResult, error) {
	counts, err := lf.clientCounts()
	if err != nil {
		return nil, err
	}
	c, err := startPostgres(ctx, work)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	// one connection per client, as searchctl bench has for searchd
	conns := make([]*pgx.Conn, slices.Max(counts))
	defer func() {
		for _, conn := range conns {
			if conn != nil {
				conn.Close(context.Background())
			}
		}
	}()
	for i := range conns {
		if conns[i], err = c.connect(ctx); err != nil {
			return nil, err
		}
	}
	db := conns[0]
	res := &peerResult{Engine: "PostgreSQL"}
	if err := db.QueryRow(ctx, "SHOW server_version").Scan(&res.Version); err != nil {
		return nil, err
	}
	res.Version, _, _ = strings.Cut(res.Version, " ")
	start := time.Now()
	if res.Documents, err = pgBuild(ctx, db, corpusPath); err != nil {
		return nil, err
	}
	res.BuildSecs = time.Since(start).Seconds()
	if err := db.QueryRow(ctx, "SELECT pg_total_relation_size('docs')").Scan(&res.SizeBytes); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "postgres: %d documents in %.1fs, %.1f MB\n", res.Documents, res.BuildSecs, float64(res.SizeBytes)/1e6)
	pids := c.pids() // the postmaster, its helpers and a backend for each connection
	for _, n := range counts {
		cfg := lf.config(n)
		cfg.ServerPIDs = pids
		r := load.Run(ctx, cfg, func(ctx context.Context, client, i int) error {
			return pgSearch(ctx, conns[client], load.Pick(qs, client, i))
		})
		r.Name = "postgresql search"
		fmt.Fprintln(os.Stderr, r.Summary())
		res.Runs = append(res.Runs, r)
	}
	res.Memory = load.MemoryOf(c.pids()...)
	return res, nil
}

func pgBuild(ctx context.Context, db *pgx.Conn, corpusPath string) (int, error) {
	_, err := db.Exec(ctx, `CREATE TABLE docs (
		id text PRIMARY KEY, title text NOT NULL, url text, page text, body text, type text,
		languages text[], frameworks text[], databases text[], topics text[],
		tsv tsvector GENERATED ALWAYS AS (
			setweight(to_tsvector('english', title), 'A') ||
			setweight(to_tsvector('english', coalesce(body, '')), 'B') ||
			setweight(to_tsvector('english', coalesce(page, '')), 'C')) STORED)`)
	if err != nil {
		return 0, err
	}
	cols := []string{"id", "title", "url", "page", "body", "type", "languages", "frameworks", "databases", "topics"}
	var batch [][]any
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := db.CopyFrom(ctx, pgx.Identifier{"docs"}, cols, pgx.CopyFromRows(batch))
		batch = batch[:0]
		return err
	}
	err = peerDocuments(ctx, corpusPath, func(d *corpus.Document) error {
		// PostgreSQL text holds no NUL byte
		clean := func(s string) string { return strings.ReplaceAll(s, "\x00", "") }
		batch = append(batch, []any{d.ID, clean(d.Title), d.URL, clean(d.Page), clean(d.Body), d.Type,
			nonNil(d.Languages), nonNil(d.Frameworks), nonNil(d.Databases), nonNil(d.Topics)})
		n++
		if len(batch) >= peerBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return 0, err
	}
	for _, stmt := range []string{`CREATE INDEX docs_tsv ON docs USING gin (tsv)`, `VACUUM ANALYZE docs`} {
		if _, err := db.Exec(ctx, stmt); err != nil {
			return 0, fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return n, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// pgFacets maps a filter name to its column.
var pgFacets = map[string]string{"languages": "languages", "frameworks": "frameworks", "databases": "databases", "topics": "topics"}

func pgSearch(ctx context.Context, db *pgx.Conn, q load.Query) error {
	// plainto_tsquery stems and drops stop words as the tsvector did; its ANDs become ORs
	where := "tsv @@ q"
	args := []any{q.Text}
	for _, name := range []string{"languages", "frameworks", "databases", "topics"} {
		if vals := q.Filters[name]; len(vals) > 0 {
			args = append(args, vals)
			where += fmt.Sprintf(" AND %s && $%d", pgFacets[name], len(args))
		}
	}
	if vals := q.Filters["types"]; len(vals) > 0 {
		args = append(args, vals)
		where += fmt.Sprintf(" AND type = ANY($%d)", len(args))
	}
	sql := `WITH query AS (SELECT replace(plainto_tsquery('english', $1)::text, ' & ', ' | ')::tsquery AS q)
		SELECT d.id, ts_headline('english', d.title, query.q, 'StartSel=<mark>, StopSel=</mark>, HighlightAll=true'), d.url,
			ts_headline('english', d.body, query.q, 'StartSel=<mark>, StopSel=</mark>, MaxWords=35, MinWords=15, MaxFragments=1')
		FROM (SELECT id, title, url, body, ts_rank(tsv, q) AS rank FROM docs, query WHERE ` + where + `
			ORDER BY rank DESC LIMIT 10) d, query
		ORDER BY d.rank DESC`
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, title, url, headline string
		if err := rows.Scan(&id, &title, &url, &headline); err != nil {
			return err
		}
	}
	return rows.Err()
}
