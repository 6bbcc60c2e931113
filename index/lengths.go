package index

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/blevesearch/bleve/v2/document"
)

// BM25 needs each field's average length in tokens. Bleve offers only the size
// of a field's term dictionary summed over segments (FieldCardinality), which
// is not a length at all and changes as segments are merged, so rankings would
// drift with batch sizes, merges and replicas. The index counts lengths itself
// instead: every document applied adds its analysed field lengths, kept inside
// the index. Replacing or deleting a document does not subtract its old
// lengths; on a corpus those are few, and every rebuild counts afresh.

// lengthsKey is the Bleve internal key under which an index keeps its lengths.
var lengthsKey = []byte("stacksearch.lengths")

// lengthFields are the fields whose lengths BM25 normalises by.
var lengthFields = []string{fieldTitle, fieldBody, fieldTags, fieldPage}

// lengths counts documents and tokens per field.
type lengths struct {
	mu     sync.RWMutex
	Docs   uint64            `json:"docs"`
	Tokens map[string]uint64 `json:"tokens"`
}

// add counts the analysed lengths of documents that were just indexed.
func (l *lengths) add(docs []*document.Document) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Tokens == nil {
		l.Tokens = map[string]uint64{}
	}
	for _, d := range docs {
		l.Docs++
		for _, f := range d.Fields {
			switch f.Name() {
			case fieldTitle, fieldBody, fieldTags, fieldPage:
				l.Tokens[f.Name()] += uint64(f.AnalyzedLength())
			}
		}
	}
}

// averages returns each length field's average length (0 when unknown).
func (l *lengths) averages() map[string]float64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make(map[string]float64, len(lengthFields))
	for _, f := range lengthFields {
		if l.Docs > 0 {
			out[f] = float64(l.Tokens[f]) / float64(l.Docs)
		}
	}
	return out
}

func (l *lengths) marshal() ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return json.Marshal(l)
}

func (l *lengths) unmarshal(raw []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := json.Unmarshal(raw, l); err != nil {
		return fmt.Errorf("read field lengths: %w", err)
	}
	return nil
}
