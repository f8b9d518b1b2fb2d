package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// Classify turns a database failure that a retry may overcome (the server
// restarting, a lost or refused connection, the pool closing, too many
// connections, a serialization failure or deadlock) into an apperr
// Unavailable that keeps err as its cause, so callers see UNAVAILABLE
// (HTTP 503 with Retry-After) and retry, never INTERNAL. It is the one place
// such errors are recognised (DESIGN.md, Overload); grpcx applies it to
// every error a handler returns. Other errors, apperr errors and context
// errors are returned unchanged.
func Classify(err error) error {
	if err == nil || !Transient(err) {
		return err
	}
	return apperr.New(apperr.Unavailable, "the database is unavailable for now; retry").WithCause(err)
}

// transientStates are the SQLSTATEs of failures a retry may overcome.
var transientStates = map[string]bool{
	"57P01": true, // admin_shutdown: the server is stopping (a restart)
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now: the server is starting
	"53300": true, // too_many_connections
	"40001": true, // serialization_failure
	"40P01": true, // deadlock_detected
}

// Transient reports whether err is a database failure a retry may
// overcome. Context errors are not: the caller's deadline passed or it gave
// up, and that is what it should hear.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return false // already classified by the code that made it
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception.
		return strings.HasPrefix(pgErr.Code, "08") || transientStates[pgErr.Code]
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return true
	case pgconn.SafeToRetry(err):
		// pgx knows nothing reached the server.
		return true
	}
	// pgxpool has no typed error for a pool closed by a stopping process;
	// another replica can serve the retry.
	return strings.Contains(err.Error(), "closed pool")
}
