package service

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// Search analytics: what visitors search for, what finds nothing, and what
// finds results nobody opens. Searches are counted in hourly buckets of
// normalised query text, with no address, key or time finer than the hour, and
// kept for a retention period: in memory, and in the data directory as one
// JSON file per hour, written every flushInterval and at shutdown.
const (
	// DefaultAnalyticsRetention is how long analytics are kept by default.
	DefaultAnalyticsRetention = 30 * 24 * time.Hour
	// maxQueriesPerHour bounds the distinct queries an hour keeps, so random
	// queries cannot grow memory without end; beyond it searches are only counted.
	maxQueriesPerHour = 1000
	// maxQueryRunes bounds a normalised query.
	maxQueryRunes = 100
	flushInterval = 30 * time.Second
	analyticsDir  = "analytics"
	hourFormat    = "2006010215"
)

// queryCounts counts one query in one hour.
type queryCounts struct {
	Searches    int `json:"searches"`
	ZeroResults int `json:"zero_results,omitempty"`
	Clicks      int `json:"clicks,omitempty"`
}

// hourBucket is one hour of analytics.
type hourBucket struct {
	Searches int                     `json:"searches"`
	Queries  map[string]*queryCounts `json:"queries"`
	// Dropped counts the searches of queries past maxQueriesPerHour.
	Dropped int `json:"dropped,omitempty"`
}

// Analytics aggregates searches and clicks in memory; the hot path is one map
// update under a mutex.
type Analytics struct {
	dir       string
	retention time.Duration
	log       *slog.Logger
	now       func() time.Time

	mu      sync.Mutex
	buckets map[time.Time]*hourBucket
	dirty   map[time.Time]bool

	stop chan struct{}
	done chan struct{}
}

// OpenAnalytics loads the analytics kept in the data directory dataDir ("" keeps
// them in memory only) and starts flushing them.
func OpenAnalytics(dataDir string, retention time.Duration, log *slog.Logger) (*Analytics, error) {
	if retention <= 0 {
		retention = DefaultAnalyticsRetention
	}
	a := &Analytics{retention: retention, log: log, now: time.Now,
		buckets: map[time.Time]*hourBucket{}, dirty: map[time.Time]bool{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if dataDir != "" {
		a.dir = filepath.Join(dataDir, analyticsDir)
		if err := os.MkdirAll(a.dir, 0o755); err != nil {
			return nil, fmt.Errorf("analytics: %w", err)
		}
		if err := a.load(); err != nil {
			return nil, err
		}
	}
	go a.run()
	return a, nil
}

// load reads the hourly files within the retention and removes older ones.
func (a *Analytics) load() error {
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	oldest := a.oldest()
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		hour, err := time.Parse(hourFormat, name)
		if !ok || err != nil {
			continue
		}
		path := filepath.Join(a.dir, e.Name())
		if hour.Before(oldest) {
			os.Remove(path)
			continue
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("analytics: %w", err)
		}
		b := &hourBucket{}
		if err := json.Unmarshal(raw, b); err != nil || b.Queries == nil {
			// One unreadable hour should not stop the server: say so and start it afresh.
			a.log.Warn("analytics: ignoring an unreadable file", slog.String("path", path), slog.Any("error", err))
			continue
		}
		a.buckets[hour] = b
	}
	return nil
}

func (a *Analytics) oldest() time.Time {
	return a.now().UTC().Add(-a.retention).Truncate(time.Hour)
}

// run flushes every flushInterval until Close.
func (a *Analytics) run() {
	defer close(a.done)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.flush()
		case <-a.stop:
			a.flush()
			return
		}
	}
}

// Close writes what is not yet written and stops flushing.
func (a *Analytics) Close() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.done
}

// flush drops the hours past the retention and writes the changed ones.
func (a *Analytics) flush() {
	a.mu.Lock()
	oldest := a.oldest()
	for h := range a.buckets {
		if h.Before(oldest) {
			delete(a.buckets, h)
			delete(a.dirty, h)
			if a.dir != "" {
				os.Remove(filepath.Join(a.dir, h.Format(hourFormat)+".json"))
			}
		}
	}
	if a.dir == "" {
		clear(a.dirty)
		a.mu.Unlock()
		return
	}
	pending := map[time.Time][]byte{}
	for h := range a.dirty {
		raw, err := json.Marshal(a.buckets[h])
		if err == nil {
			pending[h] = raw
		}
	}
	clear(a.dirty)
	a.mu.Unlock()
	for h, raw := range pending {
		if err := replaceFile(filepath.Join(a.dir, h.Format(hourFormat)+".json"), raw, 0o644); err != nil {
			a.log.Warn("analytics: could not save an hour; it is kept in memory and retried", slog.Any("error", err))
			a.mu.Lock()
			a.dirty[h] = true
			a.mu.Unlock()
		}
	}
}

// normaliseQuery is the form a query is counted under: Unicode NFC, lower
// case, single spaces, at most maxQueryRunes, with e-mail addresses and long
// numbers (phone, card, account numbers) replaced, so no personal data is kept.
func normaliseQuery(q string) string {
	q = norm.NFC.String(strings.ToValidUTF8(q, ""))
	words := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
	for i, w := range words {
		switch {
		case strings.Contains(w, "@"):
			words[i] = "<email>"
		case digits(w) >= 6:
			words[i] = "<number>"
		}
	}
	q = strings.Join(words, " ")
	if utf8.RuneCountInString(q) > maxQueryRunes {
		q = strings.TrimSpace(string([]rune(q)[:maxQueryRunes]))
	}
	return q
}

func digits(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsDigit(r) {
			n++
		}
	}
	return n
}

// counts returns the counts of q in the current hour, nil past the hour's bound.
// The caller holds mu.
func (a *Analytics) counts(q string) (*hourBucket, *queryCounts) {
	hour := a.now().UTC().Truncate(time.Hour)
	b := a.buckets[hour]
	if b == nil {
		b = &hourBucket{Queries: map[string]*queryCounts{}}
		a.buckets[hour] = b
	}
	a.dirty[hour] = true
	c := b.Queries[q]
	if c == nil && len(b.Queries) < maxQueriesPerHour {
		c = &queryCounts{}
		b.Queries[q] = c
	}
	return b, c
}

// recordSearch counts a search of q that found hits records.
func (a *Analytics) recordSearch(q string, hits int) {
	q = normaliseQuery(q)
	if q == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	b, c := a.counts(q)
	b.Searches++
	if c == nil {
		b.Dropped++
		return
	}
	c.Searches++
	if hits == 0 {
		c.ZeroResults++
	}
}

// recordClick counts a click on a result of q.
func (a *Analytics) recordClick(q string) {
	q = normaliseQuery(q)
	if q == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, c := a.counts(q); c != nil {
		c.Clicks++
	}
}

// interceptor counts each first page of a successful search with a query.
func (a *Analytics) interceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if in, ok := req.(*pb.SearchRequest); ok && err == nil && in.GetPageToken() == "" {
			if out, ok := resp.(*pb.SearchResponse); ok {
				a.recordSearch(in.GetQuery(), int(out.GetTotalHits()))
			}
		}
		return resp, err
	}
}

// report summarises the last window, limit entries per list.
func (a *Analytics) report(window time.Duration, limit int) *pb.Analytics {
	end := a.now().UTC()
	start := end.Add(-window)
	from := start.Truncate(time.Hour)
	total := map[string]*queryCounts{}
	out := &pb.Analytics{StartTime: timestamppb.New(start), EndTime: timestamppb.New(end),
		TopQueries: []*pb.QueryStat{}, ZeroResultQueries: []*pb.QueryStat{}, NoClickQueries: []*pb.QueryStat{}}
	a.mu.Lock()
	for h, b := range a.buckets {
		if h.Before(from) {
			continue
		}
		out.Searches += int32(b.Searches)
		for q, c := range b.Queries {
			t := total[q]
			if t == nil {
				t = &queryCounts{}
				total[q] = t
			}
			t.Searches += c.Searches
			t.ZeroResults += c.ZeroResults
			t.Clicks += c.Clicks
		}
	}
	a.mu.Unlock()
	type entry struct {
		q string
		n int
		c *queryCounts
	}
	top := func(count func(*queryCounts) int) []*pb.QueryStat {
		var es []entry
		for q, c := range total {
			if n := count(c); n > 0 {
				es = append(es, entry{q, n, c})
			}
		}
		slices.SortFunc(es, func(x, y entry) int {
			return cmp.Or(cmp.Compare(y.n, x.n), strings.Compare(x.q, y.q))
		})
		stats := []*pb.QueryStat{}
		for _, e := range es[:min(limit, len(es))] {
			stats = append(stats, &pb.QueryStat{Query: e.q, Count: int32(e.n), Clicks: int32(e.c.Clicks)})
		}
		return stats
	}
	out.TopQueries = top(func(c *queryCounts) int { return c.Searches })
	out.ZeroResultQueries = top(func(c *queryCounts) int { return c.ZeroResults })
	out.NoClickQueries = top(func(c *queryCounts) int {
		if c.Clicks > 0 {
			return 0
		}
		return c.Searches - c.ZeroResults
	})
	return out
}

// GetAnalytics reports top queries, zero-result queries and queries nobody
// clicked over the last window_hours.
func (a adminAPI) GetAnalytics(ctx context.Context, in *pb.GetAnalyticsRequest) (*pb.Analytics, error) {
	maxHours := int32(a.analytics.retention / time.Hour)
	window := in.GetWindowHours()
	switch {
	case window == 0:
		window = min(24, maxHours)
	case window < 0 || window > maxHours:
		return nil, invalid("window_hours", fmt.Sprintf("is %d; must be between 1 and %d, the retention (-analytics-retention)", window, maxHours))
	}
	limit := in.GetLimit()
	switch {
	case limit == 0:
		limit = 20
	case limit < 0 || limit > 100:
		return nil, invalid("limit", fmt.Sprintf("is %d; must be between 1 and 100 (default 20)", limit))
	}
	return a.analytics.report(time.Duration(window)*time.Hour, int(limit)), nil
}

// ReportClick records that a visitor opened a result of a query.
func (s searchAPI) ReportClick(ctx context.Context, in *pb.ReportClickRequest) (*pb.ReportClickResponse, error) {
	switch {
	case normaliseQuery(in.GetQuery()) == "":
		return nil, invalid("query", "must not be empty")
	case in.GetId() == "":
		return nil, invalid("id", "must not be empty")
	case in.GetPosition() < 1 || in.GetPosition() > maxClickPosition:
		return nil, invalid("position", fmt.Sprintf("is %d; must be between 1 and %d", in.GetPosition(), maxClickPosition))
	}
	s.analytics.recordClick(in.GetQuery())
	return &pb.ReportClickResponse{}, nil
}
