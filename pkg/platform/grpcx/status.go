package grpcx

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// errorDomain names shopmesh in google.rpc.ErrorInfo details.
const errorDomain = "shopmesh"

// grpcCodes is the one table from domain codes (apperr) to gRPC codes.
var grpcCodes = map[apperr.Code]codes.Code{
	apperr.Invalid:            codes.InvalidArgument,
	apperr.NotFound:           codes.NotFound,
	apperr.Conflict:           codes.AlreadyExists,
	apperr.FailedPrecondition: codes.FailedPrecondition,
	apperr.Aborted:            codes.Aborted,
	apperr.Unavailable:        codes.Unavailable,
	apperr.Timeout:            codes.DeadlineExceeded,
	apperr.PermissionDenied:   codes.PermissionDenied,
	apperr.Internal:           codes.Internal,
}

// ToStatus converts err into the gRPC status a server returns. A status error
// passes through unchanged (a callee's status relayed by a handler); context
// errors become Canceled/DeadlineExceeded; an *apperr.Error uses the table, with its
// reason and metadata as an ErrorInfo detail; anything else is Internal with a
// generic message so no internal detail leaks to callers.
func ToStatus(err error) *status.Status {
	if err == nil {
		return nil
	}
	var e *apperr.Error
	if errors.As(err, &e) {
		c, ok := grpcCodes[e.Code]
		if !ok {
			c = codes.Internal
		}
		st := status.New(c, e.Message)
		if e.Reason != "" {
			if withInfo, derr := st.WithDetails(&errdetails.ErrorInfo{
				Reason: e.Reason, Domain: errorDomain, Metadata: e.Metadata,
			}); derr == nil {
				st = withInfo
			}
		}
		return st
	}
	if st, ok := status.FromError(err); ok {
		return st
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "canceled")
	}
	return status.New(codes.Internal, "internal error")
}

// FromStatus converts an error returned by a gRPC call back into an *apperr.Error,
// keeping the reason and metadata of an ErrorInfo detail. Errors that carry no
// gRPC status (nil, or a local failure) are returned as they are.
func FromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok || st == nil || err == nil {
		return err
	}
	e := &apperr.Error{Code: codeFromGRPC(st.Code()), Message: st.Message()}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == errorDomain {
			e.Reason = info.GetReason()
			e.Metadata = info.GetMetadata()
		}
	}
	return e
}

func codeFromGRPC(c codes.Code) apperr.Code {
	for k, v := range grpcCodes {
		if v == c {
			return k
		}
	}
	switch c {
	case codes.Canceled, codes.ResourceExhausted:
		return apperr.Unavailable
	case codes.Unauthenticated:
		return apperr.PermissionDenied
	}
	return apperr.Internal
}
