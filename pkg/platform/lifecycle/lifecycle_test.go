package lifecycle_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
)

func TestRun_AdminEndpoints(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	var notReady atomic.Pointer[error]
	app := baseApp(t, newFakeServer(rec))
	app.Ready = func(context.Context) error {
		if p := notReady.Load(); p != nil {
			return *p
		}
		return nil
	}
	app.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("# shopmesh metrics\n"))
	})
	r := start(t, app)

	t.Run("healthz", func(t *testing.T) {
		if code, body := get(t, r.admin+"/healthz"); code != http.StatusOK {
			t.Errorf("GET /healthz = %d %q, want 200", code, body)
		}
	})
	t.Run("readyz while running", func(t *testing.T) {
		if code, body := get(t, r.admin+"/readyz"); code != http.StatusOK {
			t.Errorf("GET /readyz = %d %q, want 200", code, body)
		}
	})
	t.Run("readyz when a dependency is not ready", func(t *testing.T) {
		err := errors.New("database unreachable")
		notReady.Store(&err)
		defer notReady.Store(nil)
		code, body := get(t, r.admin+"/readyz")
		if code != http.StatusServiceUnavailable {
			t.Errorf("GET /readyz = %d, want 503 while Ready fails", code)
		}
		if !strings.Contains(body, "database unreachable") {
			t.Errorf("GET /readyz body %q does not say why it is not ready", body)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		if code, body := get(t, r.admin+"/metrics"); code != http.StatusOK || body != "# shopmesh metrics\n" {
			t.Errorf("GET /metrics = %d %q, want 200 from the Metrics handler", code, body)
		}
	})
	t.Run("pprof", func(t *testing.T) {
		if code, _ := get(t, r.admin+"/debug/pprof/"); code != http.StatusOK {
			t.Errorf("GET /debug/pprof/ = %d, want 200", code)
		}
	})
}

func TestRun_NoMetrics(t *testing.T) {
	t.Parallel()
	r := start(t, baseApp(t, newFakeServer(&recorder{})))
	if code, _ := get(t, r.admin+"/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics without a Metrics handler = %d, want 404", code)
	}
}

func TestRun_StopOrder(t *testing.T) {
	t.Parallel()
	const delay = 100 * time.Millisecond
	rec := &recorder{}
	app := baseApp(t, newFakeServer(rec))
	app.Registrar = &fakeRegistrar{rec: rec}
	app.PropagationDelay = delay
	app.Closers = []lifecycle.Closer{closer(rec, "conns"), closer(rec, "db"), closer(rec, "telemetry")}
	r := start(t, app)

	if err := r.stop(t); err != nil {
		t.Fatalf("Run after cancel: %v, want nil", err)
	}
	want := []string{
		"server.SetServing(true)", "registrar.Start",
		"server.SetServing(false)", "registrar.Stop", "server.Stop",
		"closer.conns", "closer.db", "closer.telemetry",
	}
	// Serve runs concurrently with the start-up sequence.
	if got := rec.names("server.Serve", "server.Serve returned"); !slices.Equal(got, want) {
		t.Errorf("calls were\n  %v\nwant\n  %v", got, want)
	}
	deregistered, _ := rec.at("registrar.Stop")
	stopped, _ := rec.at("server.Stop")
	if gap := stopped.Sub(deregistered); gap < delay {
		t.Errorf("server stopped %v after deregistering, want at least the %v propagation delay", gap, delay)
	}
	if _, err := net.Dial("tcp", app.AdminListener.Addr().String()); err == nil {
		t.Error("admin server still accepts connections after Run returned")
	}
}

func TestRun_PropagationDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		delay    time.Duration
		min, max time.Duration // of the gap between deregistering and stopping
	}{
		{"a delay is waited", time.Second, time.Second, 3 * time.Second},
		{"zero means no wait", 0, 0, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			app := baseApp(t, newFakeServer(rec))
			app.Registrar = &fakeRegistrar{rec: rec}
			app.PropagationDelay = tt.delay
			r := start(t, app)
			if err := r.stop(t); err != nil {
				t.Fatalf("Run: %v, want nil", err)
			}
			deregistered, _ := rec.at("registrar.Stop")
			stopped, _ := rec.at("server.Stop")
			if gap := stopped.Sub(deregistered); gap < tt.min || gap > tt.max {
				t.Errorf("PropagationDelay %v: server stopped %v after deregistering, want %v to %v", tt.delay, gap, tt.min, tt.max)
			}
		})
	}
}

// An etcd that cannot be reached at shutdown must not eat the whole stop
// budget: the revoke is cut short (the lease expires by itself), and the
// drain and the closers still get their time.
func TestRun_HangingDeregistrationLeavesTimeToDrain(t *testing.T) {
	t.Parallel()
	const budget = 2 * time.Second
	rec := &recorder{}
	app := baseApp(t, newFakeServer(rec))
	app.Registrar = &fakeRegistrar{rec: rec, hang: true}
	app.ShutdownTimeout = budget
	var (
		left     time.Duration
		closeErr error
	)
	app.Closers = []lifecycle.Closer{{Name: "telemetry", Close: func(ctx context.Context) error {
		dl, _ := ctx.Deadline()
		left, closeErr = time.Until(dl), ctx.Err()
		return nil
	}}}
	r := start(t, app)

	err := r.stop(t)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "deregister") {
		t.Errorf("Run: %v, want the deregistration's deadline reported", err)
	}
	if closeErr != nil || left < budget/2 {
		t.Errorf("closers ran with %v left of the %v budget (ctx err %v): the hanging revoke took the drain's time", left.Round(time.Millisecond), budget, closeErr)
	}
	if got := rec.names("server.Serve", "server.Serve returned"); !slices.Contains(got, "server.Stop") {
		t.Errorf("calls were %v, want server.Stop", got)
	}
}

func TestRun_NotReadyDuringPropagationDelay(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	deregistered := make(chan struct{})
	app := baseApp(t, newFakeServer(rec))
	app.Registrar = &fakeRegistrar{rec: rec, onStop: func() { close(deregistered) }}
	app.PropagationDelay = 500 * time.Millisecond
	r := start(t, app)

	r.cancel()
	<-deregistered
	code, body := get(t, r.admin+"/readyz")
	answered := time.Now()
	if code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz after deregistering = %d %q, want 503", code, body)
	}
	if code, _ := get(t, r.admin+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz while stopping = %d, want 200: the process is alive", code)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v, want nil", err)
	}
	if stopped, ok := rec.at("server.Stop"); !ok || !answered.Before(stopped) {
		t.Errorf("/readyz answered at %v, server stopped at %v (called: %v): want the answer inside the propagation delay", answered, stopped, ok)
	}
}

func TestRun_WaitsForServe(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	srv := newFakeServer(rec)
	srv.lingering = 50 * time.Millisecond
	r := start(t, baseApp(t, srv))
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v, want nil", err)
	}
	if _, ok := rec.at("server.Serve returned"); !ok {
		t.Error("Run returned before the server's Serve did: a goroutine it started outlived it")
	}
}

func TestRun_ServeError(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	boom := errors.New("listener broke")
	srv := newFakeServer(rec)
	srv.serveErr = boom
	app := baseApp(t, srv)
	app.Closers = []lifecycle.Closer{closer(rec, "conns"), closer(rec, "telemetry")}

	done := make(chan error, 1)
	go func() { done <- lifecycle.Run(context.Background(), app) }()
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Errorf("Run = %v, want the Serve error %v", err, boom)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still running 5s after Serve failed")
	}
	got := rec.names("server.Serve", "server.Serve returned", "server.SetServing(true)")
	want := []string{"server.SetServing(false)", "server.Stop", "closer.conns", "closer.telemetry"}
	if !slices.Equal(got, want) {
		t.Errorf("after the Serve error the calls were %v, want %v", got, want)
	}
}

func TestRun_RegisterError(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	app := baseApp(t, newFakeServer(rec))
	app.Registrar = &fakeRegistrar{rec: rec, startErr: errors.New("etcd down")}
	app.PropagationDelay = time.Millisecond
	app.Closers = []lifecycle.Closer{closer(rec, "conns")}

	done := make(chan error, 1)
	go func() { done <- lifecycle.Run(context.Background(), app) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "etcd down") {
			t.Errorf("Run = %v, want the registration error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still running 5s after registration failed")
	}
	if got := rec.names(); !slices.Contains(got, "server.Stop") || !slices.Contains(got, "closer.conns") {
		t.Errorf("calls were %v, want the server stopped and the closers run", got)
	}
}

func TestRun_CloserErrors(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	app := baseApp(t, newFakeServer(rec))
	app.Closers = []lifecycle.Closer{
		{Name: "db", Close: func(context.Context) error { return errors.New("pool busy") }},
		closer(rec, "telemetry"),
	}
	r := start(t, app)
	err := r.stop(t)
	if err == nil || !strings.Contains(err.Error(), "close db") || !strings.Contains(err.Error(), "pool busy") {
		t.Errorf("Run = %v, want an error naming the failed closer", err)
	}
	if !slices.Contains(rec.names(), "closer.telemetry") {
		t.Error("a failing closer stopped the ones after it from running")
	}
}

func TestRun_RequiredFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		clear func(*lifecycle.App)
	}{
		{"Server", func(a *lifecycle.App) { a.Server = nil }},
		{"Listener", func(a *lifecycle.App) { a.Listener = nil }},
		{"AdminListener", func(a *lifecycle.App) { a.AdminListener = nil }},
		{"Logger", func(a *lifecycle.App) { a.Logger = nil }},
	}
	for _, tt := range tests {
		t.Run("missing "+tt.name, func(t *testing.T) {
			app := baseApp(t, newFakeServer(&recorder{}))
			tt.clear(&app)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := lifecycle.Run(ctx, app)
			if err == nil || !strings.Contains(err.Error(), tt.name) {
				t.Errorf("Run without %s = %v, want an error naming it", tt.name, err)
			}
		})
	}
}

// TestRun_GRPCServer runs a real grpcx server: during the propagation delay
// its grpc.health.v1 status is NOT_SERVING, so clients' health checks drain
// it before it stops accepting.
func TestRun_GRPCServer(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	deregistered := make(chan struct{})
	srv := grpcx.NewServer(nil, grpcx.WithServerLogger(baseApp(t, nil).Logger))
	app := baseApp(t, srv)
	app.Registrar = &fakeRegistrar{rec: rec, onStop: func() { close(deregistered) }}
	app.PropagationDelay = 500 * time.Millisecond
	r := start(t, app)

	cc, err := grpc.NewClient("passthrough:///"+app.Listener.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	defer cc.Close()
	health := healthpb.NewHealthClient(cc)
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("health Check: %v", err)
		}
		return resp.GetStatus()
	}
	if got := check(); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health while running = %v, want SERVING", got)
	}

	r.cancel()
	<-deregistered
	if got := check(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health during the propagation delay = %v, want NOT_SERVING", got)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v, want nil", err)
	}
	if conn, err := net.Dial("tcp", app.Listener.Addr().String()); err == nil {
		conn.Close()
		t.Error("gRPC listener still accepts connections after Run returned")
	}
}
