package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stacksearch/stacksearch/index"
)

// One replica builds at a time: the one that creates the key reindex in the
// locks bucket, whose entries expire after lockTTL unless renewed. The holder
// renews it while it builds; a holder that dies lets it expire, and one that
// cannot renew it in time gives its build up.

// lockValue is the value of the reindex lock.
type lockValue struct {
	Operation string    `json:"operation"`
	NodeID    string    `json:"node_id"`
	Since     time.Time `json:"since"`
}

// heldLock is the reindex lock while this replica holds it.
type heldLock struct {
	r     *Replica
	value []byte
	rev   uint64
	lost  chan struct{} // closed when the lock could not be renewed
	stop  chan struct{}
	done  chan struct{}
}

// acquire takes the reindex lock for the operation op, or returns the
// operation holding it.
func (r *Replica) acquire(ctx context.Context, op string) (*heldLock, string, error) {
	res := r.res.Load()
	if res == nil || !r.nc.IsConnected() {
		return nil, "", fmt.Errorf("%w: a reindex needs NATS, which this replica cannot reach now; retry shortly", ErrUnavailable)
	}
	value, err := json.Marshal(lockValue{Operation: op, NodeID: r.cfg.NodeID, Since: time.Now().UTC()})
	if err != nil {
		return nil, "", err
	}
	for attempt := 0; ; attempt++ {
		rev, err := res.locks.Create(ctx, keyReindex, value)
		if err == nil {
			l := &heldLock{r: r, value: value, rev: rev, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
			go l.keep()
			return l, op, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, "", fmt.Errorf("%w: could not take the reindex lock (%v); retry shortly", ErrUnavailable, err)
		}
		e, err := res.locks.Get(ctx, keyReindex)
		if errors.Is(err, jetstream.ErrKeyNotFound) && attempt < 3 {
			continue // released meanwhile
		}
		if err != nil {
			return nil, "", fmt.Errorf("%w: could not read the reindex lock (%v); retry shortly", ErrUnavailable, err)
		}
		var v lockValue
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			return nil, "", fmt.Errorf("read the reindex lock: %w", err)
		}
		return nil, v.Operation, nil
	}
}

// keep renews the lock every third of its time to live until released, and
// gives it up when a renewal fails for longer than that.
func (l *heldLock) keep() {
	defer close(l.done)
	t := time.NewTicker(lockTTL / 3)
	defer t.Stop()
	renewed := time.Now()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), lockTTL/3)
		rev, err := l.r.res.Load().locks.Update(ctx, keyReindex, l.value, l.rev)
		cancel()
		if err == nil {
			l.rev, renewed = rev, time.Now()
			continue
		}
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || time.Since(renewed) > lockTTL*2/3 {
			l.r.log.Error("lost the reindex lock: giving the build up", slog.Any("error", err))
			close(l.lost)
			return
		}
	}
}

// context returns a context that ends when parent does or the lock is lost.
func (l *heldLock) context(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		select {
		case <-l.lost:
			cancel(fmt.Errorf("%w: lost the reindex lock (NATS out of reach for %s): the build was given up; retry the reindex", ErrUnavailable, lockTTL))
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

// release gives the lock back.
func (l *heldLock) release() {
	close(l.stop)
	<-l.done
	select {
	case <-l.lost:
		return
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.r.res.Load().locks.Delete(ctx, keyReindex, jetstream.LastRevision(l.rev)); err != nil {
		l.r.log.Warn("release the reindex lock (it expires by itself)", slog.Any("error", err))
	}
}

// AcquireReindex takes the cluster's reindex lock for the operation op and
// returns op; when another operation holds it, on this replica or another, it
// returns that one's name instead. After taking it, call Reindex.
func (r *Replica) AcquireReindex(ctx context.Context, op string) (string, error) {
	l, holder, err := r.acquire(ctx, op)
	if err != nil || l == nil {
		return holder, err
	}
	r.mu.Lock()
	r.held = l
	r.mu.Unlock()
	return op, nil
}

// Reindexed says what a reindex published.
type Reindexed struct {
	Manifest
	// APIChanges counts the documents the stream changed on top of the corpus.
	APIChanges int
}

// Reindex runs the reindex whose lock AcquireReindex took: build builds the
// new index from the corpus; Reindex applies the stream on top, publishes it
// as a snapshot, makes it current, and returns once this replica serves it
// (the others follow the pointer). It releases the lock. publishing is called
// when the build is done and the publishing begins.
func (r *Replica) Reindex(ctx context.Context, build func(context.Context) (*index.Index, error), publishing func()) (Reindexed, error) {
	r.mu.Lock()
	l := r.held
	r.held = nil
	r.mu.Unlock()
	if l == nil {
		return Reindexed{}, errors.New("reindex: the lock was not taken")
	}
	defer l.release()
	bctx, cancel := l.context(ctx)
	defer cancel()
	fail := func(err error) (Reindexed, error) {
		if cause := context.Cause(bctx); cause != nil && ctx.Err() == nil {
			err = cause // the lock was lost
		}
		return Reindexed{}, err
	}
	ix, err := build(bctx)
	if err != nil {
		return fail(err)
	}
	publishing()
	m, n, err := r.publishBuild(bctx, ix)
	if err != nil {
		r.store.Discard(ix)
		return fail(err)
	}
	// the reconciler serves it: wait for that, so that the caller's next
	// search here sees it, as on a single searchd
	for deadline := time.Now().Add(10 * time.Minute); r.live.Version() != m.Version; {
		if time.Now().After(deadline) {
			return Reindexed{}, fmt.Errorf("snapshot %s is current but this replica did not serve it in time", m.Version)
		}
		if !sleep(ctx, 5*time.Millisecond) {
			return Reindexed{}, ctx.Err()
		}
	}
	return Reindexed{Manifest: m, APIChanges: n}, nil
}

// Operations: the state of each reindex, as the service encodes it, in a
// bucket, so that every replica can answer for an operation any replica runs.
// Writes go through a writer that keeps only the latest state of each.

type operationWriter struct {
	r       *Replica
	mu      sync.Mutex
	pending map[string][]byte
	signal  chan struct{}
}

func newOperationWriter(r *Replica) *operationWriter {
	return &operationWriter{r: r, pending: map[string][]byte{}, signal: make(chan struct{}, 1)}
}

// PutOperation records the state of the operation name, in the background.
func (r *Replica) PutOperation(name string, state []byte) {
	w := r.ops
	w.mu.Lock()
	w.pending[name] = state
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

func (w *operationWriter) run(ctx context.Context) {
	defer w.r.wg.Done()
	for {
		select {
		case <-w.signal:
			w.flush(ctx)
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			w.flush(fctx)
			cancel()
			return
		}
	}
}

func (w *operationWriter) flush(ctx context.Context) {
	w.mu.Lock()
	batch := w.pending
	w.pending = map[string][]byte{}
	w.mu.Unlock()
	for name, state := range batch {
		if _, err := w.r.res.Load().operations.Put(ctx, safeKey(name), state); err != nil {
			w.r.log.Warn("record an operation's state", slog.String("operation", name), slog.Any("error", err))
			w.mu.Lock()
			if _, newer := w.pending[name]; !newer {
				w.pending[name] = state
			}
			w.mu.Unlock()
			sleep(ctx, time.Second)
			select {
			case w.signal <- struct{}{}:
			default:
			}
		}
	}
}

// RemoteOperation is an operation's state as recorded in the cluster.
type RemoteOperation struct {
	// State is what the service recorded.
	State []byte
	// Abandoned is set when the operation no longer holds the reindex lock and
	// its state has not changed for longer than the lock lives: if it is not
	// done, the replica running it stopped.
	Abandoned bool
}

// Operation returns the recorded state of the operation name, or index.ErrNotFound.
func (r *Replica) Operation(ctx context.Context, name string) (RemoteOperation, error) {
	res := r.res.Load()
	if res == nil || !r.nc.IsConnected() {
		return RemoteOperation{}, fmt.Errorf("%w: operation %q: NATS is out of reach", ErrUnavailable, name)
	}
	e, err := res.operations.Get(ctx, safeKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return RemoteOperation{}, fmt.Errorf("operation %q: %w", name, index.ErrNotFound)
	}
	if err != nil {
		return RemoteOperation{}, fmt.Errorf("%w: operation %q: %v", ErrUnavailable, name, err)
	}
	return RemoteOperation{State: e.Value(), Abandoned: r.abandoned(ctx, name, e.Created())}, nil
}

func (r *Replica) abandoned(ctx context.Context, name string, updated time.Time) bool {
	if time.Since(updated) < 2*lockTTL {
		return false
	}
	e, err := r.res.Load().locks.Get(ctx, keyReindex)
	if err != nil {
		return errors.Is(err, jetstream.ErrKeyNotFound)
	}
	var v lockValue
	return json.Unmarshal(e.Value(), &v) != nil || v.Operation != name
}

// Operations returns the recorded operations, newest first (by name, which
// starts with the time), at most limit.
func (r *Replica) Operations(ctx context.Context, limit int) ([]RemoteOperation, error) {
	res := r.res.Load()
	if res == nil || !r.nc.IsConnected() {
		return nil, fmt.Errorf("%w: NATS is out of reach", ErrUnavailable)
	}
	keys, err := res.operations.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: list operations: %v", ErrUnavailable, err)
	}
	slices.SortFunc(keys, func(a, b string) int { return strings.Compare(b, a) })
	var out []RemoteOperation
	for _, k := range keys[:min(limit, len(keys))] {
		e, err := res.operations.Get(ctx, k)
		if err != nil {
			continue
		}
		out = append(out, RemoteOperation{State: e.Value(), Abandoned: r.abandoned(ctx, k, e.Created())})
	}
	return out, nil
}
