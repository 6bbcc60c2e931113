package service

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Overload configures what protects searching from too much traffic: a
// per-client rate limit, a bound on the searches in flight, and a deadline on
// each. It applies to SearchService calls; admin calls are authenticated and
// cheap, so an operator can act while the server sheds load.
type Overload struct {
	// RateLimit is the searches a second each client may make (by key, else by
	// address), 0 for no per-client limit. A key's own rate limit replaces it.
	RateLimit float64
	// RateBurst is how many searches a client may make at once above its rate;
	// 0 means twice the rate.
	RateBurst int
	// RateLimitExempt lists client addresses not limited by address: a reverse
	// proxy on the same host stands for many visitors. Keys are limited all the same.
	RateLimitExempt []netip.Prefix
	// MaxInFlight bounds the searches admitted, running or waiting to run; past
	// it a search is refused Unavailable at once instead of queueing. 0 means no
	// bound (and no MaxConcurrent either).
	MaxInFlight int
	// MaxConcurrent bounds the searches running at once; the other admitted ones
	// wait, in order, within their deadline. 0 means DefaultMaxConcurrent.
	MaxConcurrent int
	// SearchTimeout caps every search's deadline (the caller's, when sooner,
	// applies); 0 means DefaultSearchTimeout.
	SearchTimeout time.Duration
}

// DefaultSearchTimeout caps a search's deadline when Overload.SearchTimeout is 0.
const DefaultSearchTimeout = 5 * time.Second

// retryAfter sets the retry-after header (REST: Retry-After) and trailer of a
// refused call.
func retryAfter(ctx context.Context, d time.Duration) string {
	secs := strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
	md := metadata.Pairs("retry-after", secs)
	_ = grpc.SetHeader(ctx, md) // fails only outside a call
	_ = grpc.SetTrailer(ctx, md)
	return secs
}

// rateLimiter keeps a token bucket per client. Buckets idle long enough to be
// full again are forgotten, so the map holds only recently active clients.
type rateLimiter struct {
	rate    rate.Limit
	burst   int
	exempt  []netip.Prefix
	metrics *metrics

	mu        sync.Mutex
	clients   map[string]*bucket
	nextSweep int
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newRateLimiter(o Overload, m *metrics) *rateLimiter {
	return &rateLimiter{rate: rate.Limit(o.RateLimit), burst: burstFor(o.RateLimit, o.RateBurst), exempt: o.RateLimitExempt,
		metrics: m, clients: map[string]*bucket{}, nextSweep: minSweep}
}

const minSweep = 1024

func burstFor(r float64, burst int) int {
	if burst > 0 {
		return burst
	}
	return max(1, int(math.Ceil(2*r)))
}

// interceptor refuses a search over its client's rate with ResourceExhausted and
// a retry-after.
func (rl *rateLimiter) interceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, searchPrefix) {
			return handler(ctx, req)
		}
		c := callerFrom(ctx)
		var id, who string
		r, burst := rl.rate, rl.burst
		switch {
		case c.admin:
			return handler(ctx, req)
		case c.key != nil:
			id, who = "key:"+c.key.ID, "this key"
			if c.key.RateLimit > 0 {
				r, burst = rate.Limit(c.key.RateLimit), burstFor(c.key.RateLimit, 0)
			}
		default:
			addr, ok := clientAddr(ctx)
			if ok && rl.isExempt(addr) {
				return handler(ctx, req)
			}
			id, who = "addr:"+addr.String(), "this client address"
		}
		if r <= 0 {
			return handler(ctx, req)
		}
		if wait, ok := rl.allow(id, r, burst, time.Now()); !ok {
			by := "address"
			if c.key != nil {
				by = "key"
			}
			rl.metrics.rateLimited(by)
			secs := retryAfter(ctx, wait)
			return nil, status.Errorf(codes.ResourceExhausted,
				"rate limit exceeded: %s may make %g searches a second (bursts of %d); retry after %s s", who, float64(r), burst, secs)
		}
		return handler(ctx, req)
	}
}

// allow takes a token from the client's bucket, or says how long until one is there.
func (rl *rateLimiter) allow(id string, r rate.Limit, burst int, now time.Time) (time.Duration, bool) {
	rl.mu.Lock()
	b := rl.clients[id]
	if b == nil {
		if len(rl.clients) >= rl.nextSweep {
			rl.sweep(now)
		}
		b = &bucket{lim: rate.NewLimiter(r, burst)}
		rl.clients[id] = b
	}
	b.seen = now
	rl.mu.Unlock()
	res := b.lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Second, false
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

// sweep forgets the buckets that have refilled completely: a new bucket is the
// same. It runs when the map has doubled since the last sweep, so its cost is
// spread over the insertions.
func (rl *rateLimiter) sweep(now time.Time) {
	for id, b := range rl.clients {
		full := time.Duration(float64(b.lim.Burst()) / float64(b.lim.Limit()) * float64(time.Second))
		if now.Sub(b.seen) > full {
			delete(rl.clients, id)
		}
	}
	rl.nextSweep = max(minSweep, 2*len(rl.clients))
}

func (rl *rateLimiter) isExempt(a netip.Addr) bool {
	for _, p := range rl.exempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address of the client making a call: the connection's
// peer for gRPC; for REST, which the gateway calls in-process, the last entry
// of x-forwarded-for, which the gateway sets to the connection's remote address
// after any the client sent (those can be forged, so they are never used).
func clientAddr(ctx context.Context) (netip.Addr, bool) {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		host := p.Addr.String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if a, err := netip.ParseAddr(host); err == nil {
			return a.Unmap(), true
		}
		return netip.Addr{}, false
	}
	md, _ := metadata.FromIncomingContext(ctx)
	xff := md.Get("x-forwarded-for")
	if len(xff) == 0 {
		return netip.Addr{}, false
	}
	last := xff[len(xff)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	a, err := netip.ParseAddr(strings.TrimSpace(last))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// shedder bounds the searches in flight. At most MaxConcurrent run at once
// (searches are CPU-bound: more at once only share the same cores, each
// slower, with more memory live); the others admitted wait their turn in
// order, within their deadline. Past MaxInFlight admitted, a search is refused
// Unavailable at once, so an overloaded server answers quickly instead of
// queueing without end.
type shedder struct {
	admitted chan struct{}
	running  chan struct{}
	metrics  *metrics
}

func newShedder(o Overload, m *metrics) *shedder {
	if o.MaxInFlight <= 0 {
		return nil
	}
	run := o.MaxConcurrent
	if run <= 0 {
		run = DefaultMaxConcurrent()
	}
	return &shedder{admitted: make(chan struct{}, o.MaxInFlight), running: make(chan struct{}, min(run, o.MaxInFlight)), metrics: m}
}

// DefaultMaxConcurrent is the searches run at once when Overload.MaxConcurrent
// is 0: four per core, enough to keep the cores busy while some wait on the disk.
func DefaultMaxConcurrent() int { return 4 * runtime.GOMAXPROCS(0) }

func (s *shedder) interceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if s == nil || !strings.HasPrefix(info.FullMethod, searchPrefix) {
			return handler(ctx, req)
		}
		select {
		case s.admitted <- struct{}{}:
		default:
			s.metrics.shed()
			secs := retryAfter(ctx, time.Second)
			return nil, status.Errorf(codes.Unavailable,
				"the server is overloaded: %d searches in flight, its limit (-max-inflight); retry after %s s", cap(s.admitted), secs)
		}
		s.metrics.inflight(1)
		defer func() {
			<-s.admitted
			s.metrics.inflight(-1)
		}()
		select {
		case s.running <- struct{}{}:
		case <-ctx.Done():
			return nil, toStatus(ctx, nil, ctx.Err())
		}
		defer func() { <-s.running }()
		return handler(ctx, req)
	}
}

// searchDeadline runs every SearchService call under a deadline: the caller's,
// capped at d.
func searchDeadline(d time.Duration) grpc.UnaryServerInterceptor {
	if d <= 0 {
		d = DefaultSearchTimeout
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, searchPrefix) {
			return handler(ctx, req)
		}
		parent := ctx
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		resp, err := handler(ctx, req)
		if status.Code(err) == codes.DeadlineExceeded && parent.Err() == nil {
			return nil, status.Error(codes.DeadlineExceeded, fmt.Sprintf("the search took longer than the server allows (%s, -search-timeout)", d))
		}
		return resp, err
	}
}
