package lifecycle_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
)

// The gateway's HTTP server finishes a request in flight when it is
// stopped, then refuses new connections.
func TestHTTPServer_StopFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	srv := lifecycle.HTTPServer{Server: &http.Server{
		ReadHeaderTimeout: time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			close(started)
			time.Sleep(300 * time.Millisecond)
			_, _ = io.WriteString(w, "done")
		}),
	}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	hc, err := httpclient.New(httpclient.Options{Name: "test", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+lis.Addr().String()+"/", nil)
		resp, err := hc.Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer httpclient.DrainAndClose(resp.Body)
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-started

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if r := <-got; r.err != nil || r.body != "done" {
		t.Errorf("in-flight request: body %q, err %v; want it finished with \"done\"", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after Stop: %v, want nil", err)
	}
	if conn, err := net.DialTimeout("tcp", lis.Addr().String(), time.Second); err == nil {
		_ = conn.Close()
		t.Error("the stopped server still accepts connections")
	}
}
