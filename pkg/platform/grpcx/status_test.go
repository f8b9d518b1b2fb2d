package grpcx_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
)

// errorInfo returns st's ErrorInfo detail, or nil.
func errorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

func TestToStatus_RoundTrip(t *testing.T) {
	t.Parallel()
	// Every row of the table: the gRPC code on the wire, and the same domain
	// code, reason and metadata back on the client.
	tests := []struct {
		code apperr.Code
		want codes.Code
	}{
		{apperr.Invalid, codes.InvalidArgument},
		{apperr.NotFound, codes.NotFound},
		{apperr.Conflict, codes.AlreadyExists},
		{apperr.FailedPrecondition, codes.FailedPrecondition},
		{apperr.Aborted, codes.Aborted},
		{apperr.Unavailable, codes.Unavailable},
		{apperr.Timeout, codes.DeadlineExceeded},
		{apperr.PermissionDenied, codes.PermissionDenied},
		{apperr.Internal, codes.Internal},
	}
	for _, tt := range tests {
		t.Run(string(tt.code), func(t *testing.T) {
			t.Parallel()
			for _, withReason := range []bool{false, true} {
				sent := apperr.New(tt.code, "order %s: something", "o1")
				if withReason {
					sent = sent.WithReason("SOME_REASON", "order_id", "o1", "sku", "p1")
				}
				// Handlers wrap; the table must see through it.
				st := grpcx.ToStatus(fmt.Errorf("reserve: %w", sent))
				if st.Code() != tt.want {
					t.Fatalf("ToStatus(%v) code = %v, want %v", sent, st.Code(), tt.want)
				}
				if st.Message() != "order o1: something" {
					t.Errorf("ToStatus(%v) message = %q, want the domain message", sent, st.Message())
				}
				info := errorInfo(st)
				switch {
				case !withReason && info != nil:
					t.Errorf("ToStatus(%v) has ErrorInfo %v, want none for an error without a reason", sent, info)
				case withReason && info == nil:
					t.Fatalf("ToStatus(%v) has no ErrorInfo, want reason SOME_REASON", sent)
				case withReason && (info.GetReason() != "SOME_REASON" || info.GetDomain() != "shopmesh"):
					t.Errorf("ErrorInfo = %v, want reason SOME_REASON in domain shopmesh", info)
				}

				got := grpcx.FromStatus(st.Err())
				var e *apperr.Error
				if !errors.As(got, &e) {
					t.Fatalf("FromStatus(%v) = %#v, want an *apperr.Error", st.Err(), got)
				}
				if e.Code != tt.code || e.Message != sent.Message || e.Reason != sent.Reason || !maps.Equal(e.Metadata, sent.Metadata) {
					t.Errorf("round trip of %#v came back as %#v", sent, e)
				}
			}
		})
	}
}

func TestToStatus(t *testing.T) {
	t.Parallel()
	relayed := status.Error(codes.NotFound, "product p9 not found")
	tests := []struct {
		name     string
		err      error
		wantCode codes.Code
		wantMsg  string
	}{
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, "deadline exceeded"},
		{"wrapped deadline", fmt.Errorf("query stock: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "deadline exceeded"},
		{"canceled", context.Canceled, codes.Canceled, "canceled"},
		{"wrapped canceled", fmt.Errorf("query stock: %w", context.Canceled), codes.Canceled, "canceled"},
		{"relayed status", relayed, codes.NotFound, "product p9 not found"},
		{"relayed status, wrapped", fmt.Errorf("get product: %w", relayed), codes.NotFound, "get product: rpc error: code = NotFound desc = product p9 not found"},
		{"unknown error", errors.New("secret db password"), codes.Internal, "internal error"},
		{"unknown error, wrapped", fmt.Errorf("reserve: %w", errors.New("secret db password")), codes.Internal, "internal error"},
		{"unknown code", apperr.New("bogus", "strange"), codes.Internal, "strange"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := grpcx.ToStatus(tt.err)
			if st.Code() != tt.wantCode || st.Message() != tt.wantMsg {
				t.Errorf("ToStatus(%v) = %v %q, want %v %q", tt.err, st.Code(), st.Message(), tt.wantCode, tt.wantMsg)
			}
			if strings.Contains(st.Message(), "secret") {
				t.Errorf("ToStatus(%v) leaks the cause: %q", tt.err, st.Message())
			}
		})
	}

	t.Run("nil", func(t *testing.T) {
		t.Parallel()
		if st := grpcx.ToStatus(nil); st != nil {
			t.Errorf("ToStatus(nil) = %v, want nil", st)
		}
	})
}

func TestFromStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want apperr.Code
	}{
		{"deadline", status.Error(codes.DeadlineExceeded, "x"), apperr.Timeout},
		{"canceled", status.Error(codes.Canceled, "x"), apperr.Unavailable},
		{"resource exhausted", status.Error(codes.ResourceExhausted, "x"), apperr.Unavailable},
		{"aborted", status.Error(codes.Aborted, "x"), apperr.Aborted},
		{"unauthenticated", status.Error(codes.Unauthenticated, "x"), apperr.PermissionDenied},
		{"unimplemented", status.Error(codes.Unimplemented, "x"), apperr.Internal},
		{"unknown", status.Error(codes.Unknown, "x"), apperr.Internal},
		{"data loss", status.Error(codes.DataLoss, "x"), apperr.Internal},
		{"out of range", status.Error(codes.OutOfRange, "x"), apperr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := grpcx.FromStatus(tt.err)
			if c := apperr.CodeOf(got); c != tt.want {
				t.Errorf("CodeOf(FromStatus(%v)) = %q, want %q", tt.err, c, tt.want)
			}
			if got.Error() == "" || !strings.Contains(got.Error(), "x") {
				t.Errorf("FromStatus(%v) = %q, want the status message kept", tt.err, got)
			}
		})
	}

	t.Run("context errors through the wire", func(t *testing.T) {
		t.Parallel()
		if c := apperr.CodeOf(grpcx.FromStatus(grpcx.ToStatus(context.DeadlineExceeded).Err())); c != apperr.Timeout {
			t.Errorf("deadline came back as %q, want %q", c, apperr.Timeout)
		}
		if c := apperr.CodeOf(grpcx.FromStatus(grpcx.ToStatus(context.Canceled).Err())); c != apperr.Unavailable {
			t.Errorf("cancellation came back as %q, want %q", c, apperr.Unavailable)
		}
	})

	t.Run("nil", func(t *testing.T) {
		t.Parallel()
		if err := grpcx.FromStatus(nil); err != nil {
			t.Errorf("FromStatus(nil) = %v, want nil", err)
		}
	})

	t.Run("error without a status is returned as is", func(t *testing.T) {
		t.Parallel()
		local := errors.New("no connection")
		if got := grpcx.FromStatus(local); got != local { //nolint:errorlint // the same error, not one that wraps it
			t.Errorf("FromStatus(%v) = %v, want the same error", local, got)
		}
		domain := apperr.New(apperr.NotFound, "p1")
		if got := grpcx.FromStatus(domain); got != error(domain) { //nolint:errorlint // the same error, not one that wraps it
			t.Errorf("FromStatus(%v) = %v, want the same error", domain, got)
		}
	})

	t.Run("ErrorInfo from another domain is not ours", func(t *testing.T) {
		t.Parallel()
		st, err := status.New(codes.FailedPrecondition, "quota").WithDetails(&errdetails.ErrorInfo{Reason: "QUOTA", Domain: "googleapis.com"})
		if err != nil {
			t.Fatal(err)
		}
		got := grpcx.FromStatus(st.Err())
		if r := apperr.ReasonOf(got); r != "" {
			t.Errorf("ReasonOf(FromStatus(foreign ErrorInfo)) = %q, want empty", r)
		}
		if c := apperr.CodeOf(got); c != apperr.FailedPrecondition {
			t.Errorf("CodeOf = %q, want %q", c, apperr.FailedPrecondition)
		}
	})
}
