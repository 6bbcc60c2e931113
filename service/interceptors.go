package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
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

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// chain composes unary interceptors, the first outermost. The same chain runs
// for gRPC calls and for REST calls through the gateway, so both see the same
// recovery, logging and authentication.
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
// one), sends it back in the response header, and logs the call's outcome.
func logging(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		id := firstMD(ctx, "x-request-id")
		if id == "" || len(id) > 128 {
			id = newRequestID()
		}
		ctx = context.WithValue(ctx, requestIDKey{}, id)
		_ = grpc.SetHeader(ctx, metadata.Pairs("x-request-id", id)) // fails only outside a call
		resp, err := handler(ctx, req)
		code := status.Code(err)
		level := slog.LevelDebug
		if code == codes.Internal || code == codes.Unknown {
			level = slog.LevelError
		}
		log.Log(ctx, level, "call", slog.String("method", info.FullMethod), slog.String("code", code.String()),
			slog.String("request_id", id), slog.Duration("took", time.Since(start)))
		return resp, err
	}
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recovery turns a panic in a handler into an Internal error, logged with the
// method and request id, so one bad request cannot take the server down.
func recovery(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "panic in handler", slog.String("method", info.FullMethod),
					slog.String("request_id", requestID(ctx)), slog.String("panic", fmt.Sprint(p)),
					slog.String("stack", string(debug.Stack())))
				resp, err = nil, status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}

// adminAuth requires the admin token on every AdminService call. With no token
// configured the admin API is disabled and says how to enable it.
func adminAuth(token string) grpc.UnaryServerInterceptor {
	want := sha256.Sum256([]byte(token))
	prefix := "/" + pb.AdminService_ServiceDesc.ServiceName + "/"
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, prefix) {
			return handler(ctx, req)
		}
		if token == "" {
			return nil, status.Error(codes.PermissionDenied,
				"the admin API is disabled: start searchd with STACKSEARCH_ADMIN_TOKEN set to a secret to enable it")
		}
		got, ok := bearer(ctx)
		if !ok {
			return nil, status.Error(codes.Unauthenticated, "admin calls need the header Authorization: Bearer <admin token>")
		}
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			return nil, status.Error(codes.Unauthenticated, "the admin token is not valid")
		}
		return handler(ctx, req)
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
