package httpclient

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopmesh/shopmesh/pkg/platform/overload"
)

// Defaults for zero Options fields. DESIGN.md's payment provider client
// (total ≤ 3 s, pools ≥ 100) gets them without setting anything.
const (
	DefaultTimeout               = 3 * time.Second
	DefaultDialTimeout           = 1 * time.Second
	DefaultTLSHandshakeTimeout   = 1 * time.Second
	DefaultResponseHeaderTimeout = 2 * time.Second
	DefaultIdleConnTimeout       = 90 * time.Second
	DefaultMaxIdleConns          = 100
	DefaultMaxIdleConnsPerHost   = 100
)

// tcpKeepAlive is the TCP keep-alive probe interval, as in Go's default
// dialer; it detects peers that vanished without closing the connection.
const tcpKeepAlive = 30 * time.Second

// maxDrain bounds how much of an unread body DrainAndClose reads. Reading more
// would cost more than the new connection it saves.
const maxDrain = 64 << 10

// Options configures New. The zero value, plus a Name, is a valid client with
// the defaults above.
type Options struct {
	// Timeout bounds the whole request, from dial to the last byte of the
	// body. Zero means DefaultTimeout.
	Timeout time.Duration
	// DialTimeout bounds establishing the TCP connection. Zero means
	// DefaultDialTimeout, capped at Timeout.
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake. Zero means
	// DefaultTLSHandshakeTimeout, capped at Timeout.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers after the
	// request is written. Zero means DefaultResponseHeaderTimeout, capped at
	// Timeout.
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout is how long an idle pooled connection is kept. Zero
	// means DefaultIdleConnTimeout.
	IdleConnTimeout time.Duration

	// MaxIdleConns limits idle connections across all hosts. Zero means
	// DefaultMaxIdleConns.
	MaxIdleConns int
	// MaxIdleConnsPerHost limits idle connections per host. Zero means
	// DefaultMaxIdleConnsPerHost (Go's own default of 2 would make most
	// requests to a busy peer open a new connection).
	MaxIdleConnsPerHost int
	// MaxConnsPerHost limits all connections per host. Zero means no limit.
	MaxConnsPerHost int

	// TLSConfig is used for https URLs; nil means Go's defaults (system
	// roots). It is cloned, so the caller may keep using it.
	TLSConfig *tls.Config

	// Name names the peer this client talks to (for example "psp"). It
	// prefixes span names and is recorded as service.peer.name on spans and
	// metrics. Required.
	Name string

	// Retry, if set, repeats requests that cannot do harm twice (GET, HEAD,
	// or carrying an Idempotency-Key) after transient failures, within
	// Timeout. Nil means every request is sent once.
	Retry *RetryOptions
	// Breaker, if set, puts a circuit breaker in front of the peer: once
	// most recent attempts failed it refuses requests with ErrCircuitOpen
	// for a while instead of sending them. Nil means no breaker.
	Breaker *BreakerOptions
}

// withDefaults returns o with zero fields filled in, or an error if o makes no
// sense. Defaulted sub-timeouts are capped at Timeout; one set explicitly
// above Timeout is an error, because it could never fire and is most likely
// a mistake in units.
func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		return o, errors.New("missing Name")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"Timeout", o.Timeout},
		{"DialTimeout", o.DialTimeout},
		{"TLSHandshakeTimeout", o.TLSHandshakeTimeout},
		{"ResponseHeaderTimeout", o.ResponseHeaderTimeout},
		{"IdleConnTimeout", o.IdleConnTimeout},
	} {
		if d.v < 0 {
			return o, fmt.Errorf("%s is negative (%v)", d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{
		{"MaxIdleConns", o.MaxIdleConns},
		{"MaxIdleConnsPerHost", o.MaxIdleConnsPerHost},
		{"MaxConnsPerHost", o.MaxConnsPerHost},
	} {
		if n.v < 0 {
			return o, fmt.Errorf("%s is negative (%d)", n.name, n.v)
		}
	}

	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"DialTimeout", &o.DialTimeout, DefaultDialTimeout},
		{"TLSHandshakeTimeout", &o.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout},
		{"ResponseHeaderTimeout", &o.ResponseHeaderTimeout, DefaultResponseHeaderTimeout},
	} {
		switch {
		case *d.v == 0:
			*d.v = min(d.def, o.Timeout)
		case *d.v > o.Timeout:
			return o, fmt.Errorf("%s %v exceeds Timeout %v", d.name, *d.v, o.Timeout)
		}
	}
	if o.IdleConnTimeout == 0 {
		o.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if o.MaxIdleConns == 0 {
		o.MaxIdleConns = DefaultMaxIdleConns
	}
	if o.MaxIdleConnsPerHost == 0 {
		o.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if o.Retry != nil {
		r, err := o.Retry.withDefaults()
		if err != nil {
			return o, err
		}
		o.Retry = &r
	}
	if o.Breaker != nil {
		b, err := o.Breaker.withDefaults()
		if err != nil {
			return o, err
		}
		o.Breaker = &b
	}
	return o, nil
}

// New returns an *http.Client configured by opts (DESIGN.md seed rule 3), or
// an error if opts are invalid. Each call builds its own connection pool:
// create one client per peer at start-up and share it, never one per request.
//
// Requests must be built with http.NewRequestWithContext so that the
// caller's deadline and trace reach the wire.
func New(opts Options) (*http.Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("httpclient: invalid options: %w", err)
	}

	var tlsConfig *tls.Config
	if o.TLSConfig != nil {
		// The transport adds "h2" to NextProtos; don't do that to the caller's.
		tlsConfig = o.TLSConfig.Clone()
	}
	dialer := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: tcpKeepAlive}
	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   o.TLSHandshakeTimeout,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		IdleConnTimeout:       o.IdleConnTimeout,
		MaxIdleConns:          o.MaxIdleConns,
		MaxIdleConnsPerHost:   o.MaxIdleConnsPerHost,
		MaxConnsPerHost:       o.MaxConnsPerHost,
		// Setting DialContext or TLSClientConfig turns HTTP/2 off unless
		// this is set.
		ForceAttemptHTTP2: true,
		// As in http.DefaultTransport: a server that ignores
		// "Expect: 100-continue" costs at most a second.
		ExpectContinueTimeout: time.Second,
		DisableKeepAlives:     false, // the whole point of the pool
	}

	peer := semconv.ServicePeerName(o.Name)
	traced := otelhttp.NewTransport(base,
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			return o.Name + " " + r.Method
		}),
		otelhttp.WithSpanOptions(trace.WithAttributes(peer)),
		//nolint:staticcheck // SA1019: its replacement, a Labeler, must ride in every request's context; the transport has none of its own
		otelhttp.WithMetricAttributesFn(func(*http.Request) []attribute.KeyValue {
			return []attribute.KeyValue{peer}
		}),
	)

	// Outermost first: retries, each attempt through the breaker, each
	// attempt it lets through traced. So an open breaker ends the retries at
	// once, every attempt counts towards the breaker, and every attempt on
	// the wire has its own span.
	var rt http.RoundTripper = traced
	if o.Breaker != nil {
		rt = newBreaker(*o.Breaker, rt)
	}
	if o.Retry != nil {
		rt = &retryTransport{next: rt, opts: *o.Retry}
	}

	return &http.Client{
		Transport: &transport{RoundTripper: rt, base: base},
		Timeout:   o.Timeout,
	}, nil
}

// transport is the client's round tripper chain plus the pool under it.
// otelhttp.Transport does not implement CloseIdleConnections, so without this
// http.Client.CloseIdleConnections would silently do nothing and a stopping
// service could not release its pooled connections.
type transport struct {
	http.RoundTripper
	base *http.Transport
}

// RoundTrip implements http.RoundTripper. From here the caller waits on a
// system outside shopmesh, so the server it runs in stops counting the
// call's time against its concurrency limit (platform/overload).
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	defer overload.Yield(req.Context(), "")()
	return t.RoundTripper.RoundTrip(req)
}

// CloseIdleConnections closes the pool's idle connections.
func (t *transport) CloseIdleConnections() {
	t.base.CloseIdleConnections()
}

// DrainAndClose reads what is left of body, up to 64 KiB, and closes it. A
// response body read to EOF lets the transport return the connection to the
// pool; a larger remainder is abandoned (the connection is closed) because
// reading it would cost more than a new connection. Use it in a defer right
// after checking the error from Do. A nil body is ignored.
func DrainAndClose(body io.ReadCloser) {
	if body == nil {
		return
	}
	// Errors are irrelevant here: the caller has what it needed, and a
	// failed read only means the connection will not be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrain))
	_ = body.Close()
}
