package replica

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/stacksearch/stacksearch/corpus"
	"github.com/stacksearch/stacksearch/index"
)

// The stream holds one message per document change, on the subject
// stacksearch.changes.<base64url of the id>, and keeps only the last message of
// each subject: the last change to each document, as the local change log does.
// A batch of changes is published as one JetStream atomic batch, so that it is
// stored whole or not at all, under consecutive sequences.

// record is the body of a change message.
type record struct {
	ID      string           `json:"id"`
	Doc     *corpus.Document `json:"doc,omitempty"`
	Deleted bool             `json:"deleted,omitempty"`
}

// Message headers: the atomic batch headers of JetStream, and ours.
const (
	hdrBatchID     = "Nats-Batch-Id"
	hdrBatchSeq    = "Nats-Batch-Sequence"
	hdrBatchCommit = "Nats-Batch-Commit"
	hdrEncoding    = "Content-Encoding"
)

// gzipFrom is the body size from which a change is compressed: documents of
// text shrink to a third, so a large one still fits NATS's max_payload.
const gzipFrom = 16 << 10

// publishTimeout bounds a write's wait for the stream's acknowledgement.
const publishTimeout = 10 * time.Second

func subjectOf(id string) string {
	return subjectPrefix + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// encodeChange makes the message of one change.
func encodeChange(c index.Change) (*nats.Msg, error) {
	rec := record{ID: c.ID, Doc: c.Doc, Deleted: c.Doc == nil}
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(subjectOf(c.ID))
	if len(body) >= gzipFrom {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zw.Write(body)
		if err := zw.Close(); err != nil {
			return nil, err
		}
		body = buf.Bytes()
		m.Header.Set(hdrEncoding, "gzip")
	}
	m.Data = body
	return m, nil
}

// decodeChange reads the change a stream message carries.
func decodeChange(m jetstream.Msg) (index.Change, error) {
	body := m.Data()
	if m.Headers().Get(hdrEncoding) == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return index.Change{}, err
		}
		if body, err = io.ReadAll(zr); err != nil {
			return index.Change{}, err
		}
	}
	var rec record
	if err := json.Unmarshal(body, &rec); err != nil {
		return index.Change{}, err
	}
	if rec.ID == "" || (rec.Doc == nil) != rec.Deleted || (rec.Doc != nil && rec.Doc.ID != rec.ID) {
		return index.Change{}, errors.New("not a document change")
	}
	return index.Change{ID: rec.ID, Doc: rec.Doc}, nil
}

// Publish stores a batch of changes in the stream, whole or not at all, and
// returns the stream sequence of its last change once the stream has stored
// it (on a majority of its replicas). Documents must be valid. A replica that
// cannot reach NATS, or a stream without a leader, is ErrUnavailable.
func (r *Replica) Publish(ctx context.Context, changes []index.Change) (uint64, error) {
	if len(changes) == 0 {
		return 0, errors.New("publish: no changes")
	}
	if !r.nc.IsConnected() {
		return 0, fmt.Errorf("%w: writes are refused while this replica cannot reach NATS (it keeps serving searches); retry shortly", ErrUnavailable)
	}
	if r.res.Load() == nil {
		return 0, fmt.Errorf("%w: this replica has not yet set up its NATS streams; retry shortly", ErrUnavailable)
	}
	msgs := make([]*nats.Msg, len(changes))
	limit := r.nc.MaxPayload()
	for i, c := range changes {
		m, err := encodeChange(c)
		if err != nil {
			return 0, fmt.Errorf("encode change %q: %w", c.ID, err)
		}
		if size := int64(len(m.Data) + len(m.Subject) + 200); size > limit {
			return 0, &index.FieldError{Field: fmt.Sprintf("documents[%d]", i),
				Reason: fmt.Sprintf("is %d bytes encoded, more than the %d bytes a NATS message may carry (the server's max_payload)", size, limit)}
		}
		msgs[i] = m
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	start := time.Now()
	seq, err := r.publish(ctx, msgs)
	if err != nil {
		r.metrics.writes.WithLabelValues("unavailable").Inc()
		r.log.Warn("write not stored", slog.Int("changes", len(changes)), slog.Any("error", err))
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			return 0, fmt.Errorf("%w: the stream did not acknowledge the write in time, so it may or may not be stored; retrying it is safe", ErrUnavailable)
		}
		return 0, fmt.Errorf("%w: the stream could not store the write (NATS unreachable or electing a leader); nothing was written, retry shortly", ErrUnavailable)
	}
	r.metrics.writes.WithLabelValues("ok").Inc()
	r.metrics.publishSeconds.Observe(time.Since(start).Seconds())
	return seq, nil
}

// publish sends msgs as one atomic batch (one message needs none) and returns
// the sequence the stream stored the last one under.
func (r *Replica) publish(ctx context.Context, msgs []*nats.Msg) (uint64, error) {
	if len(msgs) == 1 {
		ack, err := r.js.PublishMsg(ctx, msgs[0], jetstream.WithExpectStream(streamName))
		if err != nil {
			return 0, err
		}
		return ack.Sequence, nil
	}
	id := nuid.Next()
	for i, m := range msgs {
		m.Header.Set(hdrBatchID, id)
		m.Header.Set(hdrBatchSeq, strconv.Itoa(i+1))
		if i < len(msgs)-1 {
			if err := r.nc.PublishMsg(m); err != nil {
				return 0, err
			}
			continue
		}
		m.Header.Set(hdrBatchCommit, "1")
		resp, err := r.nc.RequestMsgWithContext(ctx, m)
		if err != nil {
			return 0, err
		}
		var ack struct {
			Stream string `json:"stream"`
			Seq    uint64 `json:"seq"`
			Error  *struct {
				Code        int    `json:"code"`
				ErrCode     int    `json:"err_code"`
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(resp.Data, &ack); err != nil {
			return 0, fmt.Errorf("batch acknowledgement: %w", err)
		}
		if ack.Error != nil {
			return 0, fmt.Errorf("batch refused: %s (code %d)", ack.Error.Description, ack.Error.ErrCode)
		}
		if ack.Stream != streamName || ack.Seq == 0 {
			return 0, fmt.Errorf("batch acknowledgement from %q with sequence %d", ack.Stream, ack.Seq)
		}
		return ack.Seq, nil
	}
	panic("unreachable")
}

// decodeGroup turns stream messages into one batch of changes, leaving out the
// messages at or below applied (already in the index) and keeping only the last
// change to each document. It returns the sequence of the last message.
func (r *Replica) decodeGroup(msgs []jetstream.Msg, applied uint64) (uint64, []index.Change, time.Time) {
	var last uint64
	var stored time.Time
	changes := make([]index.Change, 0, len(msgs))
	at := make(map[string]int, len(msgs))
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			r.log.Error("a stream message without metadata; skipped", slog.String("subject", m.Subject()), slog.Any("error", err))
			continue
		}
		seq := md.Sequence.Stream
		last, stored = max(last, seq), md.Timestamp
		if seq <= applied {
			continue
		}
		c, err := decodeChange(m)
		if err == nil && c.Doc != nil {
			err = index.ValidateDocument(c.Doc) // written by a searchd of other limits
		}
		if err != nil {
			// a message no searchd wrote: skipping it is all a replica can do
			r.metrics.badMessages.Inc()
			r.log.Error("a stream message is not a valid document change; skipped", slog.Uint64("seq", seq),
				slog.String("subject", m.Subject()), slog.Any("error", err))
			continue
		}
		if i, ok := at[c.ID]; ok {
			changes[i] = c
			continue
		}
		at[c.ID] = len(changes)
		changes = append(changes, c)
	}
	return last, changes, stored
}

// openBatch reports whether m is part of an atomic batch and not its last message.
func openBatch(m jetstream.Msg) bool {
	h := m.Headers()
	return h.Get(hdrBatchID) != "" && h.Get(hdrBatchCommit) == ""
}

// Applying groups: at most this many messages, or bytes, in one index batch.
const (
	maxGroup      = 1000
	maxGroupBytes = 32 << 20
)

// A pull request lasts pullExpiry, with a heartbeat every pullHeartbeat: the
// consumer notices a lost consumer (its NATS server stopped) after two missed
// heartbeats, and recreates it on another, instead of after the client's
// default 30 s.
const (
	pullExpiry    = 3 * time.Second
	pullHeartbeat = time.Second
)

// consume applies the stream to the live index, in order, from the message
// after the last one the index applied, until ctx ends. An ordered consumer
// delivers the messages; it recreates itself after a lost connection or a
// NATS restart, from the last message delivered.
func (r *Replica) consume(ctx context.Context) {
	defer r.wg.Done()
	for ctx.Err() == nil {
		err := r.consumeOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("stream consumer stopped; restarting it", slog.Any("error", err))
		sleep(ctx, time.Second)
	}
}

func (r *Replica) consumeOnce(ctx context.Context) error {
	res := r.res.Load()
	cons, err := res.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: r.live.AppliedSeq() + 1,
	})
	if err != nil {
		return err
	}
	msgs := make(chan jetstream.Msg, 2*maxGroup)
	stopped := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-stopped:
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		r.log.Debug("stream consumer", slog.Any("error", err))
	}), jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(pullHeartbeat))
	if err != nil {
		return err
	}
	defer func() {
		close(stopped)
		cc.Stop()
	}()
	for {
		var m jetstream.Msg
		select {
		case m = <-msgs:
		case <-cc.Closed():
			return errors.New("the consumer closed")
		case <-ctx.Done():
			return ctx.Err()
		}
		group, size := []jetstream.Msg{m}, len(m.Data())
	more:
		for len(group) < maxGroup && size < maxGroupBytes {
			var wait <-chan time.Time // nil: take only what has arrived
			if openBatch(group[len(group)-1]) {
				// the rest of an atomic batch follows at once: apply it whole
				wait = time.After(200 * time.Millisecond)
			}
			select {
			case m = <-msgs:
				group, size = append(group, m), size+len(m.Data())
				continue
			default:
			}
			if wait == nil {
				break
			}
			select {
			case m = <-msgs:
				group, size = append(group, m), size+len(m.Data())
			case <-wait:
				break more
			}
		}
		if err := r.applyGroup(ctx, group); err != nil {
			return err
		}
	}
}

// applyGroup applies a group of stream messages to the live index, retrying
// while the index cannot write (a full disk): messages are never skipped.
func (r *Replica) applyGroup(ctx context.Context, group []jetstream.Msg) error {
	for {
		r.applyMu.Lock()
		seq, changes, stored := r.decodeGroup(group, r.live.AppliedSeq())
		var err error
		if seq > r.live.AppliedSeq() {
			err = r.local.Apply(seq, changes)
		}
		r.applyMu.Unlock()
		if err == nil {
			if seq > 0 && !stored.IsZero() {
				r.metrics.delay.Observe(max(time.Since(stored), 0).Seconds())
			}
			return nil
		}
		r.metrics.applyErrors.Inc()
		r.log.Error("could not apply stream changes to the index; retrying", slog.Uint64("seq", seq), slog.Any("error", err))
		if !sleep(ctx, time.Second) {
			return ctx.Err()
		}
	}
}

// replay applies to ix, an index not yet served, the stream from the message
// after the last one ix applied to the stream's end, and returns how many
// documents it changed.
func (r *Replica) replay(ctx context.Context, ix *index.Index) (int, error) {
	res := r.res.Load()
	info, err := res.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("read the stream's state: %w", err)
	}
	last := info.State.LastSeq
	if ix.AppliedSeq() >= last {
		return 0, nil
	}
	cons, err := res.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: ix.AppliedSeq() + 1,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return 0, fmt.Errorf("replay the stream: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(maxGroup), jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(pullHeartbeat))
	if err != nil {
		return 0, fmt.Errorf("replay the stream: %w", err)
	}
	defer it.Stop()
	n := 0
	var group []jetstream.Msg
	for ix.AppliedSeq() < last {
		m, err := it.Next(jetstream.NextMaxWait(10 * time.Second))
		if err != nil {
			return n, fmt.Errorf("replay the stream from %d to %d: %w", ix.AppliedSeq()+1, last, err)
		}
		group = append(group, m)
		md, err := m.Metadata()
		if err != nil {
			return n, err
		}
		if len(group) < maxGroup && md.NumPending > 0 && md.Sequence.Stream < last {
			continue
		}
		seq, changes, _ := r.decodeGroup(group, ix.AppliedSeq())
		if err := ix.Apply(seq, changes); err != nil {
			return n, fmt.Errorf("replay the stream: %w", err)
		}
		n += len(changes)
		group = group[:0]
	}
	return n, nil
}

// sleep waits d or until ctx ends, and reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
