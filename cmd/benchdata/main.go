// Command benchdata builds Stacksearch's benchmark corpus from Debian's HTML
// documentation packages: it reads the pages of each package listed in
// packages.yaml with the corpus readers, gives every record the package's
// languages, frameworks and databases, and writes them as one JSONL file for
// `searchd -corpus`. `make bench-data` installs the packages and runs it.
//
//	go run ./cmd/benchdata -packages        # the package names, for apt-get install
//	go run ./cmd/benchdata -o data/debian-docs.jsonl
package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stacksearch/stacksearch/corpus"
)

//go:embed packages.yaml
var packagesYAML []byte

// pkg is one documentation package and the facets of its records.
type pkg struct {
	Package    string   `yaml:"package"`
	Dirs       []string `yaml:"dirs"`
	Languages  []string `yaml:"languages"`
	Frameworks []string `yaml:"frameworks"`
	Databases  []string `yaml:"databases"`
	Exclude    []string `yaml:"exclude"`
}

// alwaysExcluded are the generated pages of Sphinx and other tools that hold no documentation.
var alwaysExcluded = []string{"_sources", "_modules", "_static", "_images", "_downloads", "genindex*.html",
	"search.html", "py-modindex.html", "np-modindex.html", "index-files", "404.html"}

func main() {
	out := flag.String("o", "data/debian-docs.jsonl", "JSONL file to write")
	list := flag.Bool("packages", false, "print the package names, one a line, and exit")
	flag.Parse()
	var pkgs []pkg
	if err := yaml.Unmarshal(packagesYAML, &pkgs); err != nil {
		fail(fmt.Errorf("packages.yaml: %w", err))
	}
	if *list {
		for _, p := range pkgs {
			fmt.Println(p.Package)
		}
		return
	}
	if err := build(pkgs, *out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchdata:", err)
	os.Exit(1)
}

// build writes the records of every package to out.
func build(pkgs []pkg, out string) error {
	start := time.Now()
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var pages, records, bad int
	for _, p := range pkgs {
		n, r, b, err := p.write(enc)
		if err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", p.Package, err)
		}
		fmt.Fprintf(os.Stderr, "%-24s %5d pages %6d records\n", p.Package, n, r)
		pages, records, bad = pages+n, records+r, bad+b
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %d packages, %d pages, %d records (%d unreadable pages skipped) in %s\n",
		out, len(pkgs), pages, records, bad, time.Since(start).Round(time.Millisecond))
	return nil
}

// write reads the package's pages and writes their records.
func (p pkg) write(enc *json.Encoder) (pages, records, bad int, err error) {
	var dirs []string
	for _, pattern := range p.Dirs {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return 0, 0, 0, err
		}
		dirs = append(dirs, matches...)
	}
	if len(dirs) == 0 {
		return 0, 0, 0, fmt.Errorf("none of %q exists: is the package installed (make bench-data installs it)?", p.Dirs)
	}
	// Pages are named by their path from the directories' common root, so that
	// java.base/module-summary.html and java.sql/module-summary.html differ.
	root := dirs[0]
	if len(dirs) > 1 {
		root = commonRoot(dirs)
	}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			if rel != "." && p.excluded(rel) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			name, _ := filepath.Rel(root, path)
			docs, err := p.parse(path, name)
			if err != nil {
				var re *corpus.RecordError
				if !errors.As(err, &re) {
					return err
				}
				fmt.Fprintln(os.Stderr, "skipped:", err)
				bad++
				return nil
			}
			if docs == nil {
				return nil
			}
			pages++
			for _, d := range docs {
				if err := enc.Encode(p.record(d)); err != nil {
					return err
				}
				records++
			}
			return nil
		})
		if err != nil {
			return 0, 0, 0, err
		}
	}
	return pages, records, bad, nil
}

// commonRoot returns the longest directory that holds all of dirs.
func commonRoot(dirs []string) string {
	root := filepath.Dir(dirs[0])
	for _, d := range dirs[1:] {
		for root != "/" && !strings.HasPrefix(d, root+string(filepath.Separator)) {
			root = filepath.Dir(root)
		}
	}
	return root
}

// excluded reports whether a path relative to a documentation directory is left out.
func (p pkg) excluded(rel string) bool {
	for _, pattern := range append(alwaysExcluded, p.Exclude...) {
		if ok, _ := filepath.Match(pattern, rel); ok {
			return true
		}
		if ok, _ := filepath.Match(pattern, filepath.Base(rel)); ok && !strings.Contains(pattern, "/") {
			return true
		}
	}
	return false
}

// parse reads the page at path, named rel, into records; nil for a file that is not a page.
func (p pkg) parse(path, rel string) ([]corpus.Document, error) {
	var docs []corpus.Document
	switch strings.ToLower(filepath.Ext(rel)) {
	case ".html", ".htm":
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		docs, err = corpus.ParseHTML(rel, bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
	case ".md":
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		docs, err = corpus.ParseMarkdown(rel, data)
		if err != nil {
			return nil, err
		}
	default:
		return nil, nil
	}
	for i := range docs {
		// Pages open where they are installed; ids are unique across packages.
		anchor := ""
		if j := strings.IndexByte(docs[i].URL, '#'); j >= 0 {
			anchor = docs[i].URL[j:]
		}
		docs[i].URL = "file://" + filepath.ToSlash(path) + anchor
		docs[i].ID = p.Package + "--" + docs[i].ID
	}
	return docs, nil
}

// record gives a document the package's facets; topics are left to the
// taxonomy at index time. corpus.Document's JSON is the JSONL format.
func (p pkg) record(d corpus.Document) corpus.Document {
	d.Languages, d.Frameworks, d.Databases, d.Topics, d.Fields = p.Languages, p.Frameworks, p.Databases, nil, nil
	return d
}
