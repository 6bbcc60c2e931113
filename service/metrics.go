package service

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stacksearch/stacksearch/index"
	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// metrics are the Prometheus metrics of one server, in a registry of its own so
// that several servers can run in one process (the tests do).
//
// gRPC calls are counted under the names of the standard gRPC server metrics
// (go-grpc-middleware's grpc_server_*), with grpc_code on the latency histogram
// too; REST calls, which reach the servers in-process, under http_requests_total
// and http_request_duration_seconds, labelled by the RPC they call.
type metrics struct {
	reg *prometheus.Registry

	grpcStarted  *prometheus.CounterVec
	grpcHandled  *prometheus.CounterVec
	grpcDuration *prometheus.HistogramVec
	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	limited     *prometheus.CounterVec
	shedTotal   prometheus.Counter
	inflightNow prometheus.Gauge
	panics      *prometheus.CounterVec
}

// latencyBuckets spans a fast search (1 ms) to the longest a search may take.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	grpcLabels := []string{"grpc_type", "grpc_service", "grpc_method"}
	m.grpcStarted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "grpc_server_started_total", Help: "gRPC calls started on the server.",
	}, grpcLabels)
	m.grpcHandled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "grpc_server_handled_total", Help: "gRPC calls completed on the server, by status code.",
	}, append(grpcLabels, "grpc_code"))
	m.grpcDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "grpc_server_handling_seconds", Help: "Time the server took to answer gRPC calls, by status code.",
		Buckets: latencyBuckets,
	}, append(grpcLabels, "grpc_code"))
	httpLabels := []string{"handler", "method", "code"}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total", Help: "HTTP requests answered, by handler (the RPC of a REST call), method and status code.",
	}, httpLabels)
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_request_duration_seconds", Help: "Time the server took to answer HTTP requests.",
		Buckets: latencyBuckets,
	}, httpLabels)
	m.limited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "stacksearch_rate_limited_total", Help: "Searches refused by a per-client rate limit, by what identified the client (key or address).",
	}, []string{"by"})
	m.shedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "stacksearch_shed_total", Help: "Searches refused because too many were in flight (-max-inflight).",
	})
	m.inflightNow = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "stacksearch_inflight_searches", Help: "Searches being served now.",
	})
	m.panics = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "stacksearch_panics_recovered_total", Help: "Panics in handlers recovered and answered Internal, by transport.",
	}, []string{"transport"})
	m.reg.MustRegister(m.grpcStarted, m.grpcHandled, m.grpcDuration, m.httpRequests, m.httpDuration,
		m.limited, m.shedTotal, m.inflightNow, m.panics,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, by := range []string{"key", "address"} {
		m.limited.WithLabelValues(by)
	}
	for _, t := range []string{"grpc", "http"} {
		m.panics.WithLabelValues(t)
	}
	return m
}

func (m *metrics) rateLimited(by string) { m.limited.WithLabelValues(by).Inc() }
func (m *metrics) shed()                 { m.shedTotal.Inc() }
func (m *metrics) inflight(d float64)    { m.inflightNow.Add(d) }
func (m *metrics) panicked(transport string) {
	m.panics.WithLabelValues(transport).Inc()
}

// handler serves the metrics in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// grpcInterceptor counts and times the calls that arrive over gRPC. It runs on
// the gRPC server only: REST calls are measured by the HTTP middleware.
func (m *metrics) grpcInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		service, method := splitMethod(info.FullMethod)
		m.grpcStarted.WithLabelValues("unary", service, method).Inc()
		start := time.Now()
		resp, err := handler(ctx, req)
		code := status.Code(err).String()
		m.grpcHandled.WithLabelValues("unary", service, method, code).Inc()
		m.grpcDuration.WithLabelValues("unary", service, method, code).Observe(time.Since(start).Seconds())
		return resp, err
	}
}

// grpcStreamInterceptor counts the streaming calls (reflection, health watches).
func (m *metrics) grpcStreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		service, method := splitMethod(info.FullMethod)
		typ := "bidi_stream"
		switch {
		case info.IsClientStream && !info.IsServerStream:
			typ = "client_stream"
		case !info.IsClientStream && info.IsServerStream:
			typ = "server_stream"
		}
		m.grpcStarted.WithLabelValues(typ, service, method).Inc()
		start := time.Now()
		err := handler(srv, ss)
		code := status.Code(err).String()
		m.grpcHandled.WithLabelValues(typ, service, method, code).Inc()
		m.grpcDuration.WithLabelValues(typ, service, method, code).Observe(time.Since(start).Seconds())
		return err
	}
}

// initialise creates the series of every method of the gRPC server with zero
// counts, so dashboards see them before the first call.
func (m *metrics) initialise(srv *grpc.Server) {
	for service, info := range srv.GetServiceInfo() {
		for _, mi := range info.Methods {
			typ := "unary"
			if mi.IsClientStream || mi.IsServerStream {
				continue
			}
			m.grpcStarted.WithLabelValues(typ, service, mi.Name)
			m.grpcHandled.WithLabelValues(typ, service, mi.Name, codes.OK.String())
		}
	}
}

func splitMethod(full string) (string, string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}

// watchIndex exports the live index's document count and size, read at each scrape.
func (m *metrics) watchIndex(live *index.Live) {
	m.reg.MustRegister(&indexCollector{live: live,
		docs: prometheus.NewDesc("stacksearch_index_documents", "Records in the live index.", nil, nil),
		size: prometheus.NewDesc("stacksearch_index_size_bytes", "Bytes of the live index on disk (0 in memory).", nil, nil),
	})
}

type indexCollector struct {
	live       *index.Live
	docs, size *prometheus.Desc
}

func (c *indexCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.docs; ch <- c.size }

func (c *indexCollector) Collect(ch chan<- prometheus.Metric) {
	info, err := c.live.Info()
	if err != nil {
		return // not loaded yet: no sample rather than a false zero
	}
	ch <- prometheus.MustNewConstMetric(c.docs, prometheus.GaugeValue, float64(info.Documents))
	ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(info.SizeBytes))
}

// watchReindexes counts the reindexes admin runs, by outcome, as each finishes.
func (m *metrics) watchReindexes(admin *AdminServer) {
	total := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "stacksearch_reindex_total", Help: "Finished reindexes, by outcome (ok, or the error code in lower case).",
	}, []string{"outcome"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "stacksearch_reindex_duration_seconds", Help: "How long finished reindexes took, by outcome.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 16),
	}, []string{"outcome"})
	total.WithLabelValues("ok")
	m.reg.MustRegister(total, duration)
	admin.finished = func(op *pb.Operation) {
		outcome := "ok"
		if op.GetError() != nil {
			outcome = strings.ToLower(op.GetError().GetCode())
		}
		total.WithLabelValues(outcome).Inc()
		if op.GetCreateTime() != nil && op.GetEndTime() != nil {
			duration.WithLabelValues(outcome).Observe(op.GetEndTime().AsTime().Sub(op.GetCreateTime().AsTime()).Seconds())
		}
	}
}
