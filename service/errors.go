package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stacksearch/stacksearch/index"
	"github.com/stacksearch/stacksearch/service/replica"
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
	case index.IsTooManyClauses(err):
		return invalid("query", fmt.Sprintf("expands to more terms than the limit of %d (-max-clauses): use fewer wildcards, fuzzy or very short words", index.MaxClauseCount()))
	case errors.As(err, &fe):
		return invalidFields(fieldErrors(err))
	case errors.Is(err, index.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, index.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, index.ErrNotReady):
		return status.Error(codes.Unavailable, "the index is still loading; retry shortly")
	case errors.Is(err, replica.ErrUnavailable):
		return status.Error(codes.Unavailable, err.Error())
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
	return invalidFields([]*index.FieldError{{Field: field, Reason: reason}})
}

// invalidFields is an InvalidArgument status naming every bad field, the first
// in its message, with a BadRequest detail listing them all.
func invalidFields(fes []*index.FieldError) error {
	msg := fes[0].Field + ": " + fes[0].Reason
	switch len(fes) {
	case 1:
	case 2:
		msg += " (and 1 more problem, listed in the details)"
	default:
		msg += fmt.Sprintf(" (and %d more problems, listed in the details)", len(fes)-1)
	}
	st := status.New(codes.InvalidArgument, msg)
	br := &errdetails.BadRequest{}
	for _, fe := range fes {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: fe.Field, Description: fe.Reason})
	}
	if d, err := st.WithDetails(br); err == nil {
		st = d
	}
	return st.Err()
}

// fieldErrors collects the *index.FieldError values in err's tree (errors.Join
// included), in order.
func fieldErrors(err error) []*index.FieldError {
	var out []*index.FieldError
	var walk func(error)
	walk = func(err error) {
		if fe, ok := err.(*index.FieldError); ok {
			out = append(out, fe)
			return
		}
		switch e := err.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range e.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}
