package service

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// The service tests run a whole Server in memory: gRPC and REST on bufconn
// listeners, the embedded corpus, no data directory unless a test gives one.

const bufToken = "unit-admin-token"

// syncBuffer collects log output, safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type bufServer struct {
	t      *testing.T
	srv    *Server
	conn   *grpc.ClientConn
	search pb.SearchServiceClient
	admin  pb.AdminServiceClient
	client *http.Client
	logs   *syncBuffer
}

// startBufServer runs a Server with cfg (the admin token and a logger filled
// in) until the test ends.
func startBufServer(t *testing.T, cfg Config) *bufServer {
	t.Helper()
	logs := &syncBuffer{}
	if cfg.AdminToken == "" {
		cfg.AdminToken = bufToken
	}
	cfg.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// gRPC on bufconn; REST on a real loopback port, since net/http's
	// background read on a bufconn pipe can cancel a request spuriously
	grpcLis := bufconn.Listen(1 << 20)
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, grpcLis, httpLis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return grpcLis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	b := &bufServer{t: t, srv: srv, conn: conn, search: pb.NewSearchServiceClient(conn), admin: pb.NewAdminServiceClient(conn),
		client: &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", httpLis.Addr().String())
		}}}, logs: logs}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if t.Failed() {
			t.Logf("server logs:\n%s", logs)
		}
	})
	deadline := time.Now().Add(time.Minute)
	for !srv.live.Ready() {
		if time.Now().After(deadline) {
			t.Fatalf("server not ready:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return b
}

// rest makes a REST call with an optional bearer token, returning the response
// (body read into raw) for the caller to inspect.
func (b *bufServer) rest(method, path, token, body string) (*http.Response, []byte) {
	b.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://bufnet"+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// restError decodes the gateway's error shape.
type restError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		FieldViolations []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
		} `json:"field_violations"`
	} `json:"details"`
}

func decodeError(t *testing.T, raw []byte) restError {
	t.Helper()
	var e restError
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("error body is not JSON: %v\n%s", err, raw)
	}
	return e
}

func TestMetricsEndpointServesEveryFamily(t *testing.T) {
	b := startBufServer(t, Config{})
	if _, err := b.search.Search(context.Background(), &pb.SearchRequest{Query: "django"}); err != nil {
		t.Fatal(err)
	}
	b.rest("GET", "/v1/search?query=salary", "", "")
	resp, raw := b.rest("GET", "/metrics", "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	text := string(raw)
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Search",grpc_service="stacksearch.v1.SearchService",grpc_type="unary"} 1`,
		`grpc_server_handling_seconds_bucket{grpc_code="OK",grpc_method="Search"`,
		`http_requests_total{code="200",handler="/stacksearch.v1.SearchService/Search",method="GET"} 1`,
		`http_request_duration_seconds_bucket{code="200",handler="/stacksearch.v1.SearchService/Search"`,
		"stacksearch_index_documents 3", // the embedded article has 30-odd records
		`stacksearch_reindex_total{outcome="ok"} 0`,
		`stacksearch_rate_limited_total{by="address"} 0`,
		"stacksearch_shed_total 0",
		`stacksearch_panics_recovered_total{transport="http"} 0`,
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// a finished reindex is counted with its outcome and duration
	op, err := b.admin.Reindex(withToken(context.Background(), bufToken), &pb.ReindexRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for !op.Done {
		time.Sleep(10 * time.Millisecond)
		if op, err = b.admin.GetOperation(withToken(context.Background(), bufToken), &pb.GetOperationRequest{Name: op.Name}); err != nil {
			t.Fatal(err)
		}
	}
	_, raw = b.rest("GET", "/metrics", "", "")
	for _, want := range []string{`stacksearch_reindex_total{outcome="ok"} 1`, `stacksearch_reindex_duration_seconds_count{outcome="ok"} 1`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics after a reindex lacks %q", want)
		}
	}
	if n := counterValue(t, b.srv.edge.metrics.panics.WithLabelValues("grpc")); n != 0 {
		t.Errorf("panics = %v", n)
	}
}

func TestRequestIDPropagatesToLogs(t *testing.T) {
	b := startBufServer(t, Config{})
	req, _ := http.NewRequest("GET", "http://bufnet/v1/search?query=django", nil)
	req.Header.Set("X-Request-Id", "req-from-client-42")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Values("X-Request-Id"); len(got) != 1 || got[0] != "req-from-client-42" {
		t.Errorf("X-Request-Id answered %q, want the caller's once", got)
	}
	// an id that could forge a log line or header is replaced
	req.Header.Set("X-Request-Id", strings.Repeat("x", 200))
	resp, err = b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); len(got) != 16 {
		t.Errorf("overlong X-Request-Id answered %q, want a new id", got)
	}
	var hdr metadata.MD
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-request-id", "grpc-req-7")
	if _, err := b.search.Search(ctx, &pb.SearchRequest{Query: "salary"}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get("x-request-id"); len(got) != 1 || got[0] != "grpc-req-7" {
		t.Errorf("gRPC x-request-id header = %q", got)
	}
	for _, id := range []string{"req-from-client-42", "grpc-req-7"} {
		found := false
		for _, line := range strings.Split(b.logs.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "call" && rec["request_id"] == id {
				found = true
			}
		}
		if !found {
			t.Errorf("no call log line with request_id %q:\n%s", id, b.logs)
		}
	}
}

// counterValue reads a counter or gauge.
func counterValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
