package index

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/stacksearch/stacksearch/corpus"
)

// ChangeLog keeps the document changes made through the documents API, so that
// they outlive a restart and a reindex. It is a compacted log: for each document
// id it holds the last change made to it (the document, or its deletion) with the
// sequence number of the batch that made it. Sequences grow by one per batch.
//
// Every index records the sequence of the last batch it has applied (Index.Apply),
// so CatchUp can bring any index up to date with the log: an index reopened after
// a crash, or one just built from the corpus, which gets every change of the log
// on top of the corpus documents. On disk the log is a bbolt database whose every
// Record is fsynced before it returns; without a data directory it is kept in
// memory and lost at exit.
type ChangeLog struct {
	mu   sync.Mutex
	db   *bolt.DB // nil: in memory
	mem  map[string]logEntry
	last uint64
	n    int
}

// logEntry is the last change to one document.
type logEntry struct {
	Seq uint64           `json:"seq"`
	Doc *corpus.Document `json:"doc,omitempty"` // nil: deleted
}

const changeLogFile = "changes.db"

// Buckets of the change log database: docs maps an id to its logEntry, bySeq
// orders them (8-byte big-endian sequence + id → nothing), meta holds the last
// sequence and the number of entries.
var (
	bucketDocs  = []byte("docs")
	bucketBySeq = []byte("by_seq")
	bucketMeta  = []byte("meta")
	keyLast     = []byte("last_seq")
	keyCount    = []byte("count")
)

// OpenChangeLog opens the change log of the data directory dir, creating it if
// need be, or an empty in-memory log when dir is "".
func OpenChangeLog(dir string) (*ChangeLog, error) {
	l := &ChangeLog{}
	if dir == "" {
		l.mem = map[string]logEntry{}
		return l, nil
	}
	path := filepath.Join(dir, changeLogFile)
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open change log %s: another searchd is using this data directory", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open change log %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDocs, bucketBySeq, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		l.last = getUint(meta.Get(keyLast))
		l.n = int(getUint(meta.Get(keyCount)))
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open change log %s: %w", path, err)
	}
	l.db = db
	return l, nil
}

// Close closes the log.
func (l *ChangeLog) Close() error {
	if l.db == nil {
		return nil
	}
	return l.db.Close()
}

// LastSeq returns the sequence of the last batch recorded, 0 for none.
func (l *ChangeLog) LastSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Len returns the number of documents the log changes: upserted or deleted.
func (l *ChangeLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// Record durably records a batch of changes under sequence seq, which must be
// greater than LastSeq; within the batch the last change to an id wins. When
// Record returns nil the batch survives a crash.
func (l *ChangeLog) Record(seq uint64, changes []Change) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq <= l.last {
		return fmt.Errorf("record changes: sequence %d is not after the last recorded, %d", seq, l.last)
	}
	if l.db == nil {
		for _, c := range changes {
			if _, ok := l.mem[c.ID]; !ok {
				l.n++
			}
			l.mem[c.ID] = logEntry{Seq: seq, Doc: cloneDoc(c.Doc)}
		}
		l.last = seq
		return nil
	}
	n := l.n
	err := l.db.Update(func(tx *bolt.Tx) error {
		docs, bySeq := tx.Bucket(bucketDocs), tx.Bucket(bucketBySeq)
		for _, c := range changes {
			if old := docs.Get([]byte(c.ID)); old != nil {
				var e logEntry
				if err := json.Unmarshal(old, &e); err != nil {
					return fmt.Errorf("entry %q: %w", c.ID, err)
				}
				if err := bySeq.Delete(seqKey(e.Seq, c.ID)); err != nil {
					return err
				}
			} else {
				n++
			}
			raw, err := json.Marshal(logEntry{Seq: seq, Doc: c.Doc})
			if err != nil {
				return err
			}
			if err := docs.Put([]byte(c.ID), raw); err != nil {
				return err
			}
			if err := bySeq.Put(seqKey(seq, c.ID), nil); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyLast, putUint(seq)); err != nil {
			return err
		}
		return meta.Put(keyCount, putUint(uint64(n)))
	})
	if err != nil {
		return fmt.Errorf("record changes: %w", err)
	}
	l.last, l.n = seq, n
	return nil
}

// Clear forgets every recorded change. The sequence goes on from LastSeq, so
// that indexes which applied earlier batches stay comparable with the log.
func (l *ChangeLog) Clear() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.db == nil {
		clear(l.mem)
		l.n = 0
		return nil
	}
	err := l.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDocs, bucketBySeq} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyCount, putUint(0))
	})
	if err != nil {
		return fmt.Errorf("clear change log: %w", err)
	}
	l.n = 0
	return nil
}

// replayBatch is how many log entries replay hands over at a time (more when
// one batch of the log is larger: a batch is never split).
const replayBatch = 1000

// replay calls fn, in sequence order, with the changes recorded after sequence
// after, a chunk at a time; seq is the sequence of the last change in the chunk,
// and every change up to it has been handed over once fn is called. Only the last
// change to each id is handed over. On disk each chunk is read in its own
// transaction, so fn may take its time without holding up Record; a change
// recorded meanwhile comes in a later chunk.
func (l *ChangeLog) replay(after uint64, fn func(seq uint64, changes []Change) error) error {
	if l.db == nil {
		return l.replayMemory(after, fn)
	}
	start := seqKey(after+1, "")
	for {
		var chunk []Change
		var last uint64
		err := l.db.View(func(tx *bolt.Tx) error {
			docs := tx.Bucket(bucketDocs)
			c := tx.Bucket(bucketBySeq).Cursor()
			for k, _ := c.Seek(start); k != nil; k, _ = c.Next() {
				seq, id := splitSeqKey(k)
				if len(chunk) >= replayBatch && seq != last {
					break
				}
				raw := docs.Get([]byte(id))
				if raw == nil {
					return fmt.Errorf("change log entry %q is missing", id)
				}
				var e logEntry
				if err := json.Unmarshal(raw, &e); err != nil {
					return fmt.Errorf("change log entry %q: %w", id, err)
				}
				chunk = append(chunk, Change{ID: id, Doc: e.Doc})
				last = seq
				start = append(bytes.Clone(k), 0) // the next key after k
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("read change log: %w", err)
		}
		if len(chunk) == 0 {
			return nil
		}
		if err := fn(last, chunk); err != nil {
			return err
		}
	}
}

func (l *ChangeLog) replayMemory(after uint64, fn func(seq uint64, changes []Change) error) error {
	type item struct {
		id string
		e  logEntry
	}
	l.mu.Lock()
	var items []item
	for id, e := range l.mem {
		if e.Seq > after {
			items = append(items, item{id, e})
		}
	}
	l.mu.Unlock()
	slices.SortFunc(items, func(a, b item) int {
		return cmp.Or(cmp.Compare(a.e.Seq, b.e.Seq), cmp.Compare(a.id, b.id))
	})
	for len(items) > 0 {
		n := min(replayBatch, len(items))
		for n < len(items) && items[n].e.Seq == items[n-1].e.Seq {
			n++
		}
		chunk := make([]Change, n)
		for i, it := range items[:n] {
			chunk[i] = Change{ID: it.id, Doc: cloneDoc(it.e.Doc)}
		}
		if err := fn(items[n-1].e.Seq, chunk); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

// CatchUp applies to ix every change the log recorded after the last batch ix
// applied, and returns how many documents it changed.
func (ix *Index) CatchUp(l *ChangeLog) (int, error) {
	n := 0
	err := l.replay(ix.AppliedSeq(), func(seq uint64, changes []Change) error {
		n += len(changes)
		return ix.Apply(seq, changes)
	})
	return n, err
}

// cloneDoc copies a document so that the in-memory log shares nothing with its callers.
func cloneDoc(d *corpus.Document) *corpus.Document {
	if d == nil {
		return nil
	}
	c := *d
	c.Languages, c.Frameworks = slices.Clone(d.Languages), slices.Clone(d.Frameworks)
	c.Databases, c.Topics = slices.Clone(d.Databases), slices.Clone(d.Topics)
	c.Fields = maps.Clone(d.Fields)
	return &c
}

func seqKey(seq uint64, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, seq)
	return append(k, id...)
}

func splitSeqKey(k []byte) (uint64, string) {
	return binary.BigEndian.Uint64(k[:8]), string(k[8:])
}

func putUint(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func getUint(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
