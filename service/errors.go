package service

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stacksearch/stacksearch/index"
)

// toStatus maps an error from the layers below to a gRPC status: the one place
// where errors become codes. Anything unexpected is logged and answered
// Internal without its text, so no raw error from deep inside reaches a caller.
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var fe *index.FieldError
	switch {
	case errors.As(err, &fe):
		return invalid(fe.Field, fe.Reason)
	case errors.Is(err, index.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, index.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, index.ErrNotReady):
		return status.Error(codes.Unavailable, "the index is still loading; retry shortly")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "the request took longer than its deadline")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "the request was cancelled")
	}
	log.ErrorContext(ctx, "internal error", slog.Any("error", err))
	return status.Error(codes.Internal, "internal error")
}

// invalid is an InvalidArgument status naming the bad field, with a BadRequest
// detail that clients can read field by field.
func invalid(field, reason string) error {
	st := status.New(codes.InvalidArgument, field+": "+reason)
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
		{Field: field, Description: reason},
	}}); err == nil {
		st = d
	}
	return st.Err()
}
