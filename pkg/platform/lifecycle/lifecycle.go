package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server is the process's main server: a grpcx.Server, or an HTTP server
// adapted with HTTPServer.
type Server interface {
	// Serve serves on lis until Stop and returns nil after a Stop.
	Serve(lis net.Listener) error
	// Stop drains in-flight work until ctx is done, then forces the rest.
	Stop(ctx context.Context) error
	// SetServing reports health to the server's own clients (grpc.health.v1).
	SetServing(serving bool)
}

// Registrar is a discovery registration (discovery.Registrar).
type Registrar interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Closer releases a resource at shutdown.
type Closer struct {
	Name  string
	Close func(ctx context.Context) error
}

// App is what Run runs.
type App struct {
	Name   string
	Logger *slog.Logger

	// Server serves on Listener.
	Server   Server
	Listener net.Listener

	// AdminListener serves /healthz, /readyz, /metrics and /debug/pprof/.
	AdminListener net.Listener
	// Metrics is served at /metrics (nil: 404).
	Metrics http.Handler
	// Ready reports whether dependencies are usable; /readyz is 200 only
	// when the app is started, not stopping, and Ready returns nil.
	Ready func(ctx context.Context) error

	// Registrar, if set, is started once Server serves and stopped first on
	// shutdown.
	Registrar Registrar
	// PropagationDelay is how long to wait after turning not-ready and
	// deregistering before draining, so resolvers and load balancers stop
	// routing here (zero: no wait; services take it from PROPAGATION_DELAY,
	// default 1s).
	PropagationDelay time.Duration
	// ShutdownTimeout bounds the whole stop sequence (default 15s); the
	// Registrar's Stop gets a quarter of it at most.
	ShutdownTimeout time.Duration

	// Closers run in order after the server stopped.
	Closers []Closer
}

// Run serves app until ctx is canceled or the process gets SIGINT/SIGTERM,
// then stops it in order. It returns the first serving error, or nil after
// a clean stop.
func Run(ctx context.Context, app App) error {
	if app.Server == nil || app.Listener == nil || app.AdminListener == nil || app.Logger == nil {
		return errors.New("lifecycle: Server, Listener, AdminListener and Logger are required")
	}
	if app.ShutdownTimeout == 0 {
		app.ShutdownTimeout = 15 * time.Second
	}
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	var ready atomic.Bool
	admin := &http.Server{
		Handler:           adminMux(app, &ready),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      60 * time.Second, // pprof profiles stream for up to 30s
		IdleTimeout:       60 * time.Second,
	}
	// One slot per sender (admin, server, registrar), so none ever blocks.
	errc := make(chan error, 3)
	// Run owns both serving goroutines and waits for them before returning.
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if err := admin.Serve(app.AdminListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("admin server: %w", err)
		}
	})
	wg.Go(func() {
		if err := app.Server.Serve(app.Listener); err != nil {
			errc <- fmt.Errorf("%s server: %w", app.Name, err)
		}
	})
	app.Server.SetServing(true)
	if app.Registrar != nil {
		if err := app.Registrar.Start(ctx); err != nil {
			errc <- fmt.Errorf("register: %w", err)
		}
	}
	ready.Store(true)
	app.Logger.InfoContext(ctx, "started", "service", app.Name, "addr", app.Listener.Addr().String(), "admin_addr", app.AdminListener.Addr().String())

	var serveErr error
	select {
	case <-ctx.Done():
		app.Logger.InfoContext(ctx, "stopping", "service", app.Name, "cause", context.Cause(ctx))
	case serveErr = <-errc:
		app.Logger.ErrorContext(ctx, "server failed, stopping", "service", app.Name, "err", serveErr)
	}
	stopErr := shutdown(app, admin, &ready) //nolint:contextcheck // ctx has ended: stopping has its own budget, ShutdownTimeout
	return errors.Join(serveErr, stopErr)
}

// shutdown runs the ordered stop. Its context is new because the run
// context is already canceled; it is bounded by ShutdownTimeout.
func shutdown(app App, admin *http.Server, ready *atomic.Bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), app.ShutdownTimeout) //shopmesh:allow ctxflow the run context is already canceled; ShutdownTimeout bounds this one
	defer cancel()
	var errs []error

	ready.Store(false)
	app.Server.SetServing(false)
	if app.Registrar != nil {
		// A quarter of the budget at most: with etcd unreachable a revoke
		// waits (and retries) as long as its context allows, and the lease
		// expires by itself anyway. The drain and the closers keep the rest.
		regCtx, cancelReg := context.WithTimeout(ctx, app.ShutdownTimeout/4)
		err := app.Registrar.Stop(regCtx)
		cancelReg()
		if err != nil {
			errs = append(errs, fmt.Errorf("deregister: %w", err))
		}
	}
	// Wait even without a registrar: load balancers and orchestrators
	// learn from /readyz, and need a moment to stop sending traffic here.
	if app.PropagationDelay > 0 {
		app.Logger.Info("not ready, waiting for clients to notice", "delay", app.PropagationDelay)
		select {
		case <-time.After(app.PropagationDelay):
		case <-ctx.Done():
		}
	}
	if err := app.Server.Stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop server: %w", err))
	}
	for _, c := range app.Closers {
		if err := c.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", c.Name, err))
		}
	}
	if err := admin.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop admin server: %w", err))
	}
	app.Logger.Info("stopped", "service", app.Name, "clean", len(errs) == 0)
	return errors.Join(errs...)
}

func adminMux(app App, ready *atomic.Bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready: starting or stopping", http.StatusServiceUnavailable)
			return
		}
		if app.Ready != nil {
			if err := app.Ready(r.Context()); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if app.Metrics != nil {
		mux.Handle("GET /metrics", app.Metrics)
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// HTTPServer adapts an *http.Server (the gateway) to Server. SetServing is
// a no-op: HTTP clients learn readiness from /readyz.
type HTTPServer struct{ *http.Server }

// Serve implements Server.
func (h HTTPServer) Serve(lis net.Listener) error {
	if err := h.Server.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Stop implements Server: Shutdown lets in-flight requests finish until ctx
// is done, then Close drops the rest.
func (h HTTPServer) Stop(ctx context.Context) error {
	if err := h.Server.Shutdown(ctx); err != nil {
		_ = h.Server.Close()
		return err
	}
	return nil
}

// SetServing implements Server.
func (h HTTPServer) SetServing(bool) {}
