package httpclient

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/backoff"
)

// Retry defaults, used for zero RetryOptions fields.
const (
	DefaultRetryAttempts   = 3
	DefaultRetryBackoff    = 50 * time.Millisecond
	DefaultRetryMaxBackoff = 500 * time.Millisecond
)

// IdempotencyKeyHeader names the header that makes a non-GET request safe
// to repeat: the peer answers a repeat with the first request's result.
const IdempotencyKeyHeader = "Idempotency-Key"

// RetryOptions configures retries (Options.Retry). Only requests that cannot
// do harm twice are retried (DESIGN.md, seed rule 3): GET and HEAD, and
// requests carrying an Idempotency-Key header. They are retried after a
// transport error or a 429, 500, 502, 503 or 504 answer, never after the
// circuit breaker refused them, and never past the request's deadline: all
// attempts together stay within Options.Timeout and the caller's context.
type RetryOptions struct {
	// MaxAttempts bounds the attempts of one request, the first included.
	// Zero means DefaultRetryAttempts; 1 turns retries off.
	MaxAttempts int
	// Backoff is the wait before the first retry; it doubles with each
	// further retry, and each wait is jittered down by up to half. Zero means
	// DefaultRetryBackoff.
	Backoff time.Duration
	// MaxBackoff caps a single wait. Zero means DefaultRetryMaxBackoff.
	MaxBackoff time.Duration
}

func (o RetryOptions) withDefaults() (RetryOptions, error) {
	switch {
	case o.MaxAttempts < 0:
		return o, fmt.Errorf("Retry.MaxAttempts is negative (%d)", o.MaxAttempts)
	case o.Backoff < 0:
		return o, fmt.Errorf("Retry.Backoff is negative (%v)", o.Backoff)
	case o.MaxBackoff < 0:
		return o, fmt.Errorf("Retry.MaxBackoff is negative (%v)", o.MaxBackoff)
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultRetryAttempts
	}
	if o.Backoff == 0 {
		o.Backoff = DefaultRetryBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = max(DefaultRetryMaxBackoff, o.Backoff)
	}
	if o.MaxBackoff < o.Backoff {
		return o, fmt.Errorf("Retry.MaxBackoff %v is below Retry.Backoff %v", o.MaxBackoff, o.Backoff)
	}
	return o, nil
}

// retryTransport repeats idempotent requests that failed in a way a repeat
// may cure.
type retryTransport struct {
	next http.RoundTripper
	opts RetryOptions
}

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !repeatable(req) {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	attemptReq := req
	for attempt := 1; ; attempt++ {
		resp, err := t.next.RoundTrip(attemptReq)
		if attempt >= t.opts.MaxAttempts || !worthRetrying(resp, err) || ctx.Err() != nil {
			return resp, err
		}
		wait := backoff.Delay(t.opts.Backoff, t.opts.MaxBackoff, attempt)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
			// No time left for another attempt: the last answer is the
			// best the caller will get.
			return resp, err
		}
		next := req.Clone(ctx)
		if req.Body != nil && req.Body != http.NoBody {
			body, gerr := req.GetBody()
			if gerr != nil {
				return resp, err
			}
			next.Body = body
		}
		if resp != nil {
			DrainAndClose(resp.Body)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("%s %s: waiting to retry: %w", req.Method, req.URL.Redacted(), ctx.Err())
		case <-timer.C:
		}
		attemptReq = next
	}
}

// repeatable reports whether sending req twice cannot do harm twice, and
// whether its body can be sent again.
func repeatable(req *http.Request) bool {
	safe := req.Method == http.MethodGet || req.Method == http.MethodHead || req.Header.Get(IdempotencyKeyHeader) != ""
	rewindable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	return safe && rewindable
}

// worthRetrying reports whether an attempt failed in a way another attempt
// may not: a lost connection, a timeout of the attempt, or an answer saying
// the peer is overloaded or broken for now.
func worthRetrying(resp *http.Response, err error) bool {
	if err != nil {
		return !errors.Is(err, ErrCircuitOpen)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
