package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// panickingHealth is a gRPC handler with a bug.
type panickingHealth struct {
	healthpb.UnimplementedHealthServer
}

func (panickingHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	panic("a bug in Check")
}

func TestGRPCPanicRecovered(t *testing.T) {
	logs := &syncBuffer{}
	log := slog.New(withRequestIDs(slog.NewJSONHandler(logs, nil)))
	m := newMetrics()
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(m.grpcInterceptor(), chain(logging(log), recovery(log, m))))
	healthpb.RegisterHealthServer(srv, panickingHealth{})
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-request-id", "panic-req-1")
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "the-request-text"})
	if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Errorf("panicking handler answered %v, want Internal without detail", err)
	}
	// the server is still serving
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Internal {
		t.Errorf("second call: %v", err)
	}
	if n := counterValue(t, m.panics.WithLabelValues("grpc")); n != 2 {
		t.Errorf("panics counted %v, want 2", n)
	}
	if n := counterValue(t, m.grpcHandled.WithLabelValues("unary", "grpc.health.v1.Health", "Check", "Internal")); n != 2 {
		t.Errorf("grpc_server_handled_total Internal = %v", n)
	}
	rec := findLog(t, logs.String(), "panic in handler")
	if rec == nil || rec["request_id"] != "panic-req-1" || !strings.Contains(rec["request"].(string), "the-request-text") ||
		!strings.Contains(rec["stack"].(string), "panickingHealth") {
		t.Errorf("panic log = %v", rec)
	}
}

func TestHTTPPanicRecovered(t *testing.T) {
	logs := &syncBuffer{}
	log := slog.New(withRequestIDs(slog.NewJSONHandler(logs, nil)))
	m := newMetrics()
	h := withRequestID(instrument(m, log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("handler bug")
	})))
	req := httptest.NewRequest("GET", "/readyz?x=1", nil)
	req.Header.Set("X-Request-Id", "http-panic-1")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 500 || body.Code != int(codes.Internal) {
		t.Errorf("answered %d %s, want 500 with code 13", w.Code, w.Body)
	}
	if n := counterValue(t, m.panics.WithLabelValues("http")); n != 1 {
		t.Errorf("HTTP panics counted %v", n)
	}
	if n := counterValue(t, m.httpRequests.WithLabelValues("/readyz", "GET", "500")); n != 1 {
		t.Errorf("http_requests_total 500 = %v", n)
	}
	rec := findLog(t, logs.String(), "panic in HTTP handler")
	if rec == nil || rec["request_id"] != "http-panic-1" || rec["path"] != "/readyz" || rec["panic"] != "handler bug" {
		t.Errorf("panic log = %v", rec)
	}
	// http.ErrAbortHandler is net/http's way to abort a response, not a bug
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Errorf("ErrAbortHandler recovered as %v", p)
		}
	}()
	instrument(m, log, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

func findLog(t *testing.T, logs, msg string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			return rec
		}
	}
	t.Logf("no log %q in:\n%s", msg, logs)
	return nil
}
