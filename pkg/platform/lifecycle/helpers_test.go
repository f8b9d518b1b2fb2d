package lifecycle_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
)

// event is one recorded call.
type event struct {
	name string
	at   time.Time
}

// recorder records calls from the fakes in the order they happen.
type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) add(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{name, time.Now()})
}

// names returns the recorded names except those in skip.
func (r *recorder) names(skip ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if !slices.Contains(skip, e.name) {
			out = append(out, e.name)
		}
	}
	return out
}

// at returns when name was first recorded.
func (r *recorder) at(name string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.name == name {
			return e.at, true
		}
	}
	return time.Time{}, false
}

// fakeServer is a lifecycle.Server whose Serve blocks until Stop (or fails
// at once with serveErr).
type fakeServer struct {
	rec      *recorder
	serveErr error
	// lingering is how long Serve takes to return after Stop, as a real
	// server finishing its accept loop does.
	lingering time.Duration

	once    sync.Once
	stopped chan struct{}
}

func newFakeServer(rec *recorder) *fakeServer {
	return &fakeServer{rec: rec, stopped: make(chan struct{})}
}

var _ lifecycle.Server = (*fakeServer)(nil)

func (s *fakeServer) Serve(lis net.Listener) error {
	s.rec.add("server.Serve")
	defer lis.Close()
	if s.serveErr != nil {
		return s.serveErr
	}
	<-s.stopped
	time.Sleep(s.lingering)
	s.rec.add("server.Serve returned")
	return nil
}

func (s *fakeServer) Stop(context.Context) error {
	s.rec.add("server.Stop")
	s.once.Do(func() { close(s.stopped) })
	return nil
}

func (s *fakeServer) SetServing(serving bool) {
	if serving {
		s.rec.add("server.SetServing(true)")
	} else {
		s.rec.add("server.SetServing(false)")
	}
}

// fakeRegistrar is a lifecycle.Registrar that records its calls; onStop,
// if set, runs inside Stop. With hang, Stop waits until its context ends, as
// a revoke does while etcd cannot be reached.
type fakeRegistrar struct {
	rec      *recorder
	startErr error
	onStop   func()
	hang     bool
}

func (r *fakeRegistrar) Start(context.Context) error {
	r.rec.add("registrar.Start")
	return r.startErr
}

func (r *fakeRegistrar) Stop(ctx context.Context) error {
	r.rec.add("registrar.Stop")
	if r.onStop != nil {
		r.onStop()
	}
	if r.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// closer returns a Closer that records "closer.<name>".
func closer(rec *recorder, name string) lifecycle.Closer {
	return lifecycle.Closer{Name: name, Close: func(context.Context) error {
		rec.add("closer." + name)
		return nil
	}}
}

// listen opens a listener on 127.0.0.1:0.
func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = lis.Close() })
	return lis
}

// baseApp returns an App with listeners, a quiet logger and srv; tests set
// the rest.
func baseApp(t *testing.T, srv lifecycle.Server) lifecycle.App {
	t.Helper()
	return lifecycle.App{
		Name:          "test",
		Logger:        slog.New(slog.DiscardHandler),
		Server:        srv,
		Listener:      listen(t),
		AdminListener: listen(t),
	}
}

// running is an App being run by Run.
type running struct {
	admin  string // http://host:port of the admin server
	cancel context.CancelFunc
	done   chan error
}

// start runs app until the test cancels it (or ends) and waits until Run has
// finished starting: /readyz no longer says "starting".
func start(t *testing.T, app lifecycle.App) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{admin: "http://" + app.AdminListener.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- lifecycle.Run(ctx, app) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Logf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5s of cancel")
		}
	})
	eventually(t, 5*time.Second, "Run has started", func() bool {
		code, body := get(t, r.admin+"/readyz")
		return code == http.StatusOK || (code == http.StatusServiceUnavailable && !strings.Contains(body, "starting"))
	})
	return r
}

// stop cancels Run's context and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for Cleanup
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
		return nil
	}
}

// get GETs url and returns the status code and body, or 0 when the request
// failed.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client, err := httpclient.New(httpclient.Options{Name: "test", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("http client: %v", err)
	}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("request %s: %v", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer httpclient.DrainAndClose(resp.Body)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body of %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// eventually polls cond every 10ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
