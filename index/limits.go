package index

import (
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2/search/searcher"
)

// DefaultMaxClauses is the clause bound SetMaxClauseCount is usually given: the
// classic Lucene and Elasticsearch default.
const DefaultMaxClauses = 1024

var clauseMu sync.Mutex

// SetMaxClauseCount bounds how many terms a wildcard, prefix, regexp or fuzzy
// term may expand to, and how many clauses one disjunction may hold, for every
// index in the process; n <= 0 removes the bound. A query past it fails with an
// error for which IsTooManyClauses is true, before it reads any postings, so no
// query can take unbounded time or memory by expansion.
//
// Bleve reads the bound from a package variable without synchronisation, so set
// it before serving; setting the value it already has writes nothing.
func SetMaxClauseCount(n int) {
	n = max(n, 0)
	clauseMu.Lock()
	defer clauseMu.Unlock()
	if searcher.DisjunctionMaxClauseCount != n {
		searcher.DisjunctionMaxClauseCount = n
	}
}

// MaxClauseCount returns the bound SetMaxClauseCount set, 0 for none.
func MaxClauseCount() int {
	clauseMu.Lock()
	defer clauseMu.Unlock()
	return searcher.DisjunctionMaxClauseCount
}

// IsTooManyClauses reports whether err is a search refused for expanding past
// the bound of SetMaxClauseCount. Bleve returns it as a plain formatted error, so
// this matches its text.
func IsTooManyClauses(err error) bool {
	return err != nil && strings.Contains(err.Error(), "TooManyClauses")
}
