package bootstrap

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
	"github.com/shopmesh/shopmesh/pkg/platform/settings"
)

// Service is what a service tells the platform about itself; Main and Run
// do the rest. C is the service's own configuration.
type Service[C any] struct {
	// Name is the service's name: its certificate identity, its etcd key
	// and the service name in its logs and spans.
	Name string
	// API is what the platform must know of the API it serves and calls.
	API API
	// Config reads the service's own settings, beside the shared ones of
	// Config (nil: none). Problems go to the Reader, and are reported with
	// the shared settings' before anything is opened.
	Config func(*settings.Reader) C
	// Wire builds the service on the started process. On error it closes
	// what it opened itself; the process is then taken down. A service
	// with a database has it opened first by wrapping its Service in
	// platform/postgres.Service.
	Wire func(ctx context.Context, p *Process, c C) (Parts, error)
}

// Parts is what a service's Wire built.
type Parts struct {
	// Server serves the service's API.
	Server lifecycle.Server
	// Register puts the server's address in etcd (DESIGN.md seed rule 2):
	// every gRPC service; not the gateway, which clients reach from outside.
	Register bool
	// Ready, when set, says whether the service can serve (e.g. its
	// database answers, the gateway's peers are known); nil: always.
	Ready func(context.Context) error
	// Closers run after the server stopped, in order, before the peer
	// connections and telemetry are closed.
	Closers []lifecycle.Closer
}

// Main runs s from the process's environment until a signal arrives, and
// exits non-zero when it fails. A service's main is one call to it.
func Main[C any](s Service[C]) {
	if err := Run(context.Background(), s, os.Args, os.Getenv, os.Stdout); err != nil { //shopmesh:allow ctxflow Main is every service's main: the process's lifetime starts here
		fmt.Fprintf(os.Stderr, "%s: %v\n", s.Name, err)
		os.Exit(1)
	}
}

// Run reads s's configuration from getenv, starts the shared
// infrastructure (Start), wires s, registers it and serves until ctx ends
// or a signal arrives (lifecycle.Run).
// With the probe argument (lifecycle.IsProbe) it only asks a running
// instance whether it is ready. Tests call it directly.
func Run[C any](ctx context.Context, s Service[C], args []string, getenv func(string) string, stdout io.Writer) error {
	if lifecycle.IsProbe(args) {
		return lifecycle.Probe(ctx, getenv("ADMIN_ADDR"))
	}
	// The shared settings and the service's own, every problem at once.
	r := settings.New(getenv)
	cfg := readConfig(s.Name, r)
	var own C
	if s.Config != nil {
		own = s.Config(r)
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("config of %s: %w", s.Name, err)
	}
	p, err := Start(ctx, cfg, s.API, stdout, getenv)
	if err != nil {
		return err
	}
	app, err := wire(ctx, p, s, own)
	if err != nil {
		p.Abort(ctx)
		return err
	}
	return lifecycle.Run(ctx, app)
}

// wire wires s and returns the app. On error the caller aborts the process.
func wire[C any](ctx context.Context, p *Process, s Service[C], own C) (lifecycle.App, error) {
	parts, err := s.Wire(ctx, p, own)
	if err != nil {
		return lifecycle.App{}, err
	}
	var reg lifecycle.Registrar
	if parts.Register {
		if reg, err = p.Registrar(); err != nil {
			for _, c := range parts.Closers {
				_ = c.Close(ctx)
			}
			return lifecycle.App{}, err
		}
	}
	ready := parts.Ready
	if ready == nil {
		ready = func(context.Context) error { return nil }
	}
	return p.App(parts.Server, reg, ready, parts.Closers...), nil
}
