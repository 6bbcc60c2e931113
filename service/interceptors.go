package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// chain composes unary interceptors, the first outermost. The same chain runs
// for gRPC calls and for REST calls through the gateway, so both see the same
// logging, recovery, authentication, limits and overload protection.
func chain(ics ...grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		next := handler
		for i := len(ics) - 1; i >= 0; i-- {
			ic, h := ics[i], next
			next = func(ctx context.Context, req any) (any, error) { return ic(ctx, req, info, h) }
		}
		return next(ctx, req)
	}
}

type requestIDKey struct{}

// requestID returns the id of the request being served, for logs.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// logging gives each call a request id (the caller's x-request-id, or a new
// one), sends it back in the response header, and logs the call's outcome. The
// id rides in the context, so every log line written with it carries the id
// (see withRequestIDs).
func logging(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		id := firstMD(ctx, "x-request-id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		ctx = context.WithValue(ctx, requestIDKey{}, id)
		_ = grpc.SetHeader(ctx, metadata.Pairs("x-request-id", id)) // fails only outside a call
		nameRoute(ctx, info.FullMethod)
		resp, err := handler(ctx, req)
		code := status.Code(err)
		level := slog.LevelDebug
		if code == codes.Internal || code == codes.Unknown {
			level = slog.LevelError
		}
		log.Log(ctx, level, "call", slog.String("method", info.FullMethod), slog.String("code", code.String()),
			slog.Duration("took", time.Since(start)))
		return resp, err
	}
}

// withRequestIDs adds the request id of the context to every record logged with
// one, so that any log line written while serving a call names it.
func withRequestIDs(h slog.Handler) slog.Handler { return requestIDHandler{h} }

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recovery turns a panic in a handler into an Internal error, logged with the
// method, request id and request, and counted, so one bad request cannot take
// the server down.
func recovery(log *slog.Logger, m *metrics) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				m.panicked("grpc")
				log.ErrorContext(ctx, "panic in handler", slog.String("method", info.FullMethod),
					slog.String("request", truncate(fmt.Sprint(req), 1024)), slog.String("panic", fmt.Sprint(p)),
					slog.String("stack", string(debug.Stack())))
				resp, err = nil, status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}

// streamRecovery is recovery for streaming calls (reflection, health watches).
func streamRecovery(log *slog.Logger, m *metrics) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				m.panicked("grpc")
				log.ErrorContext(ss.Context(), "panic in handler", slog.String("method", info.FullMethod),
					slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(srv, ss)
	}
}

// bearer returns the token of an "authorization: Bearer <token>" header.
func bearer(ctx context.Context) (string, bool) {
	v := firstMD(ctx, "authorization")
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

func firstMD(ctx context.Context, key string) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
