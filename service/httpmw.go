package service

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// The HTTP middleware, outermost first: request ids, then metrics and panic
// recovery, then the body size limit. REST calls then go through the same
// interceptor chain as gRPC calls; this is what only the HTTP side needs.

// withRequestID gives every HTTP request an id: the caller's X-Request-Id when
// it is a sensible one, else a new one. It is sent back, passed on to the
// gateway (which hands it to the interceptors as x-request-id metadata) and put
// in the context for the logs.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
			r.Header.Set("X-Request-Id", id)
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// validRequestID accepts 1 to 128 printable ASCII characters, so that an id
// cannot forge log lines or headers.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// route is where the interceptor chain writes the RPC a REST request called,
// so HTTP metrics can be labelled by it rather than by raw paths (which hold
// document ids: unbounded label values).
type route struct{ name string }

type routeKey struct{}

// nameRoute records the RPC a REST request calls; it does nothing for gRPC calls.
func nameRoute(ctx context.Context, method string) {
	if r, ok := ctx.Value(routeKey{}).(*route); ok {
		r.name = method
	}
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// fixedRoutes are the handlers outside the REST API, labelled by their path.
var fixedRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// instrument counts and times every HTTP request, and recovers a panic in any
// handler: logged with the request, counted, answered 500 Internal.
func instrument(m *metrics, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rt := &route{}
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, rt))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				m.panicked("http")
				log.ErrorContext(r.Context(), "panic in HTTP handler", slog.String("method", r.Method),
					slog.String("path", r.URL.Path), slog.String("query", truncate(r.URL.RawQuery, 512)),
					slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
				if sw.code == 0 {
					writeStatus(sw, http.StatusInternalServerError, status.New(codes.Internal, "internal error"))
				}
			}
			handler := rt.name
			switch {
			case handler != "":
			case fixedRoutes[r.URL.Path]:
				handler = r.URL.Path
			default:
				handler = "other"
			}
			method := r.Method
			switch method {
			case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions:
			default:
				method = "OTHER"
			}
			code := strconv.Itoa(max(sw.code, http.StatusOK))
			m.httpRequests.WithLabelValues(handler, method, code).Inc()
			m.httpDuration.WithLabelValues(handler, method, code).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// batchUpsertPath is the REST path of UpsertDocuments, whose bodies may be as
// large as a gRPC message.
const batchUpsertPath = "/v1/documents:batchUpsert"

// limitBody refuses a REST body over its limit with 413 before reading it when
// its length is declared, and after reading at most the limit when it is not.
func limitBody(l Limits, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		limit, flag := int64(l.MaxBodyBytes), "-max-body-bytes"
		if r.URL.Path == batchUpsertPath {
			limit, flag = int64(l.MaxMessageBytes), "-max-msg-bytes"
		}
		if r.ContentLength > limit {
			bodyTooLarge(w, fmt.Sprintf("is %d bytes, more than the limit of %d (%s)", r.ContentLength, limit, flag))
			return
		}
		if r.ContentLength < 0 {
			buf, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
			if err != nil {
				writeStatus(w, http.StatusBadRequest, status.New(codes.InvalidArgument, "body: could not be read"))
				return
			}
			if int64(len(buf)) > limit {
				bodyTooLarge(w, fmt.Sprintf("is more than the limit of %d bytes (%s)", limit, flag))
				return
			}
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(buf)), int64(len(buf))
		} else {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

func bodyTooLarge(w http.ResponseWriter, reason string) {
	st := status.New(codes.InvalidArgument, "body: "+reason)
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
		{Field: "body", Description: reason},
	}}); err == nil {
		st = d
	}
	w.Header().Set("Connection", "close")
	writeStatus(w, http.StatusRequestEntityTooLarge, st)
}

// writeStatus writes an error in the gateway's JSON shape {code, message, details}.
func writeStatus(w http.ResponseWriter, httpCode int, st *status.Status) {
	raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(st.Proto())
	if err != nil {
		raw = []byte(`{"code": 13, "message": "internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpCode)
	w.Write(raw)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
