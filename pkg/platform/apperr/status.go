package apperr

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errorDomain names shopmesh in google.rpc.ErrorInfo details.
const errorDomain = "shopmesh"

// grpcCodes is the one table from domain codes to gRPC codes.
var grpcCodes = map[Code]codes.Code{
	Invalid:            codes.InvalidArgument,
	NotFound:           codes.NotFound,
	Conflict:           codes.AlreadyExists,
	FailedPrecondition: codes.FailedPrecondition,
	Aborted:            codes.Aborted,
	Unavailable:        codes.Unavailable,
	Timeout:            codes.DeadlineExceeded,
	PermissionDenied:   codes.PermissionDenied,
	Internal:           codes.Internal,
}

// ToStatus converts err into the gRPC status a server returns. A status error
// passes through unchanged (a callee's status relayed by a handler); context
// errors become Canceled/DeadlineExceeded; an *Error uses the table, with its
// reason and metadata as an ErrorInfo detail; anything else is Internal with a
// generic message so no internal detail leaks to callers.
func ToStatus(err error) *status.Status {
	if err == nil {
		return nil
	}
	var e *Error
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

// FromStatus converts an error returned by a gRPC call back into an *Error,
// keeping the reason and metadata of an ErrorInfo detail. Errors that carry no
// gRPC status (nil, or a local failure) are returned as they are.
func FromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok || st == nil || err == nil {
		return err
	}
	e := &Error{Code: codeFromGRPC(st.Code()), Message: st.Message()}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == errorDomain {
			e.Reason = info.GetReason()
			e.Metadata = info.GetMetadata()
		}
	}
	return e
}

func codeFromGRPC(c codes.Code) Code {
	for k, v := range grpcCodes {
		if v == c {
			return k
		}
	}
	switch c {
	case codes.Canceled, codes.ResourceExhausted:
		return Unavailable
	case codes.Unauthenticated:
		return PermissionDenied
	}
	return Internal
}
