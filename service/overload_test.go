package service

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

func TestRateLimiterBuckets(t *testing.T) {
	rl := newRateLimiter(Overload{RateLimit: 2, RateBurst: 3}, newMetrics())
	now := time.Unix(1_000_000, 0)
	for i := 0; i < 3; i++ {
		if _, ok := rl.allow("a", rl.rate, rl.burst, now); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	wait, ok := rl.allow("a", rl.rate, rl.burst, now)
	if ok || wait <= 0 || wait > time.Second {
		t.Errorf("over the burst: ok=%v wait=%v, want refused with a wait of at most 1/rate", ok, wait)
	}
	if _, ok := rl.allow("b", rl.rate, rl.burst, now); !ok {
		t.Error("another client shares the first one's bucket")
	}
	if _, ok := rl.allow("a", rl.rate, rl.burst, now.Add(600*time.Millisecond)); !ok {
		t.Error("a token did not come back after 1/rate")
	}
	// idle buckets are forgotten once full again
	rl.nextSweep = 0
	rl.allow("c", rl.rate, rl.burst, now.Add(time.Hour))
	rl.mu.Lock()
	n := len(rl.clients)
	rl.mu.Unlock()
	if n != 1 {
		t.Errorf("%d buckets after a sweep an hour later, want 1", n)
	}
}

func TestClientAddr(t *testing.T) {
	grpcCtx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP("203.0.113.9"), Port: 5555}})
	// a gRPC client's own x-forwarded-for is ignored: the peer is the client
	grpcCtx = metadata.NewIncomingContext(grpcCtx, metadata.Pairs("x-forwarded-for", "198.51.100.1"))
	if a, ok := clientAddr(grpcCtx); !ok || a != netip.MustParseAddr("203.0.113.9") {
		t.Errorf("gRPC client = %v", a)
	}
	// REST: the gateway appends the connection's address after what the client sent
	restCtx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("x-forwarded-for", "198.51.100.1, 10.0.0.1, 192.0.2.7"))
	if a, ok := clientAddr(restCtx); !ok || a != netip.MustParseAddr("192.0.2.7") {
		t.Errorf("REST client = %v, want the rightmost entry", a)
	}
	v4in6 := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 1}})
	if a, _ := clientAddr(v4in6); !a.Is4() || !a.IsLoopback() {
		t.Errorf("v4-in-v6 = %v", a)
	}
}

// TestRateLimitOverBothTransports runs a server whose clients may make 2
// searches a second (burst 2) and checks the refusals and their Retry-After.
func TestRateLimitOverBothTransports(t *testing.T) {
	b := startBufServer(t, Config{Overload: Overload{RateLimit: 2, RateBurst: 2}})
	ctx := context.Background()
	var refused error
	var hdr metadata.MD
	for i := 0; i < 5 && refused == nil; i++ {
		_, refused = b.search.Search(ctx, &pb.SearchRequest{Query: "django"}, grpc.Header(&hdr))
	}
	st := status.Convert(refused)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("5 quick searches at 2/s: %v, want ResourceExhausted", refused)
	}
	if ra := hdr.Get("retry-after"); len(ra) != 1 || ra[0] != "1" {
		t.Errorf("gRPC retry-after = %q", ra)
	}
	// admin calls and the admin token are not rate limited
	for i := 0; i < 5; i++ {
		if _, err := b.search.Search(withToken(ctx, bufToken), &pb.SearchRequest{Query: "django"}); err != nil {
			t.Fatalf("admin token search %d: %v", i, err)
		}
	}
	var got429 *http.Response
	for i := 0; i < 5 && got429 == nil; i++ {
		if resp, _ := b.rest("GET", "/v1/search?query=django", "", ""); resp.StatusCode == http.StatusTooManyRequests {
			got429 = resp
		}
	}
	if got429 == nil {
		t.Fatal("5 quick REST searches at 2/s: no 429")
	}
	if s, err := strconv.Atoi(got429.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("REST Retry-After = %q", got429.Header.Get("Retry-After"))
	}
	// a key with its own limit has its own bucket
	created, err := b.admin.CreateKey(withToken(ctx, bufToken), &pb.CreateKeyRequest{Key: &pb.Key{RateLimit: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	kctx := withToken(ctx, created.Secret)
	if _, err := b.search.Search(kctx, &pb.SearchRequest{Query: "django"}); err != nil {
		t.Fatalf("first search with the key: %v", err)
	}
	_, err = b.search.Search(kctx, &pb.SearchRequest{Query: "django"}, grpc.Header(&hdr))
	if status.Code(err) != codes.ResourceExhausted || hdr.Get("retry-after")[0] != "2" {
		t.Errorf("second search with a 0.5/s key: %v, retry-after %q; want ResourceExhausted after 2 s", err, hdr.Get("retry-after"))
	}
	if n := counterValue(t, b.srv.edge.metrics.limited.WithLabelValues("key")); n < 1 {
		t.Errorf("rate-limited by key counted %v", n)
	}
}

func TestRateLimitExemptAddresses(t *testing.T) {
	rl := newRateLimiter(Overload{RateLimit: 1, RateBurst: 1, RateLimitExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, newMetrics())
	ic := rl.interceptor()
	info := &grpc.UnaryServerInfo{FullMethod: pb.SearchService_Search_FullMethodName}
	ok := func(context.Context, any) (any, error) { return "ok", nil }
	from := func(ip string) context.Context {
		return peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 1}})
	}
	for i := 0; i < 3; i++ {
		if _, err := ic(from("127.0.0.1"), nil, info, ok); err != nil {
			t.Fatalf("exempt address refused: %v", err)
		}
	}
	ic(from("192.0.2.1"), nil, info, ok)
	if _, err := ic(from("192.0.2.1"), nil, info, ok); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("second search from a limited address: %v", err)
	}
	// a key is limited even from an exempt address
	kctx := context.WithValue(from("127.0.0.1"), callerKey{}, caller{key: &storedKey{ID: "k"}})
	ic(kctx, nil, info, ok)
	if _, err := ic(kctx, nil, info, ok); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("second search with a key from an exempt address: %v", err)
	}
}

func TestShedding(t *testing.T) {
	m := newMetrics()
	sh := newShedder(Overload{MaxInFlight: 2, MaxConcurrent: 2}, m)
	ic := sh.interceptor()
	info := &grpc.UnaryServerInfo{FullMethod: pb.SearchService_Search_FullMethodName}
	release := make(chan struct{})
	var started, wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		started.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ic(context.Background(), nil, info, func(context.Context, any) (any, error) {
				started.Done()
				<-release
				return nil, nil
			})
		}()
	}
	started.Wait()
	_, err := ic(context.Background(), nil, info, func(context.Context, any) (any, error) { return nil, nil })
	if status.Code(err) != codes.Unavailable {
		t.Errorf("third search with 2 in flight: %v, want Unavailable", err)
	}
	if n := counterValue(t, m.inflightNow); n != 2 {
		t.Errorf("in flight gauge = %v", n)
	}
	// admin calls are never shed
	if _, err := ic(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: pb.AdminService_GetIndex_FullMethodName},
		func(context.Context, any) (any, error) { return nil, nil }); err != nil {
		t.Errorf("admin call shed: %v", err)
	}
	close(release)
	wg.Wait()
	if _, err := ic(context.Background(), nil, info, func(context.Context, any) (any, error) { return nil, nil }); err != nil {
		t.Errorf("search after the others finished: %v", err)
	}
	if n := counterValue(t, m.shedTotal); n != 1 {
		t.Errorf("shed counted %v, want 1", n)
	}
}

// TestSheddingQueue runs one search at a time of three admitted: the others
// wait their turn, in order, or until their deadline.
func TestSheddingQueue(t *testing.T) {
	sh := newShedder(Overload{MaxInFlight: 3, MaxConcurrent: 1}, newMetrics())
	ic := sh.interceptor()
	info := &grpc.UnaryServerInfo{FullMethod: pb.SearchService_Search_FullMethodName}
	release := make(chan struct{})
	running := make(chan struct{})
	go ic(context.Background(), nil, info, func(context.Context, any) (any, error) {
		close(running)
		<-release
		return nil, nil
	})
	<-running
	// a queued search whose deadline passes while it waits
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	ran := false
	_, err := ic(ctx, nil, info, func(context.Context, any) (any, error) { ran = true; return nil, nil })
	if status.Code(err) != codes.DeadlineExceeded || ran {
		t.Errorf("queued past its deadline: %v (ran %v), want DeadlineExceeded without running", err, ran)
	}
	// a queued search runs once the running one is done
	done := make(chan error, 1)
	go func() {
		_, err := ic(context.Background(), nil, info, func(context.Context, any) (any, error) { return nil, nil })
		done <- err
	}()
	select {
	case <-done:
		t.Fatal("a second search ran beside the first")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("queued search: %v", err)
	}
}

func TestSearchDeadline(t *testing.T) {
	ic := searchDeadline(50 * time.Millisecond)
	info := &grpc.UnaryServerInfo{FullMethod: pb.SearchService_Search_FullMethodName}
	var got time.Duration
	slow := func(ctx context.Context, _ any) (any, error) {
		dl, _ := ctx.Deadline()
		got = time.Until(dl)
		<-ctx.Done()
		return nil, toStatus(ctx, nil, ctx.Err())
	}
	_, err := ic(context.Background(), nil, info, slow)
	if status.Code(err) != codes.DeadlineExceeded || got > 50*time.Millisecond {
		t.Errorf("capped search: %v after a deadline of %v", err, got)
	}
	if msg := status.Convert(err).Message(); msg == "" || !strings.Contains(msg, "-search-timeout") {
		t.Errorf("message %q does not name the limit", msg)
	}
	// a caller's sooner deadline wins
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	ic(ctx, nil, info, slow)
	if got > 10*time.Millisecond {
		t.Errorf("caller's 10ms deadline became %v", got)
	}
}
