package meshtest

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/stats"
)

// Attempt is one try of one call, as the client saw it. A call that gRPC
// retried has several.
type Attempt struct {
	// Method is the full method name.
	Method string
	// Addr is the address the attempt was sent to; empty when it never got
	// as far as a connection.
	Addr string
	// Start and End bound the attempt.
	Start, End time.Time
	// Err is how the attempt failed, nil if it succeeded.
	Err error
}

// Attempts is a client stats handler that records every attempt of every
// call: the only way to see retries and where they went, which the caller's
// single result hides.
type Attempts struct {
	mu   sync.Mutex
	list []Attempt
}

var _ stats.Handler = (*Attempts)(nil)

type attemptKey struct{}

// attempt is the record being filled in for one attempt in flight.
type attempt struct {
	mu sync.Mutex
	a  Attempt
}

// TagRPC implements stats.Handler; gRPC calls it once per attempt.
func (r *Attempts) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, attemptKey{}, &attempt{a: Attempt{Method: info.FullMethodName, Start: time.Now()}})
}

// HandleRPC implements stats.Handler.
func (r *Attempts) HandleRPC(ctx context.Context, s stats.RPCStats) {
	at, ok := ctx.Value(attemptKey{}).(*attempt)
	if !ok {
		return
	}
	switch s := s.(type) {
	case *stats.OutHeader:
		if s.RemoteAddr != nil {
			at.mu.Lock()
			at.a.Addr = s.RemoteAddr.String()
			at.mu.Unlock()
		}
	case *stats.End:
		at.mu.Lock()
		a := at.a
		at.mu.Unlock()
		a.End, a.Err = s.EndTime, s.Error
		r.mu.Lock()
		r.list = append(r.list, a)
		r.mu.Unlock()
	}
}

// TagConn implements stats.Handler.
func (r *Attempts) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

// HandleConn implements stats.Handler.
func (r *Attempts) HandleConn(context.Context, stats.ConnStats) {}

// All returns a copy of the attempts recorded so far, in the order they
// ended.
func (r *Attempts) All() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Attempt(nil), r.list...)
}

// To returns the attempts sent to addr.
func (r *Attempts) To(addr string) []Attempt {
	var out []Attempt
	for _, a := range r.All() {
		if a.Addr == addr {
			out = append(out, a)
		}
	}
	return out
}
