package lifecycle_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
)

// Run serves an HTTP server (the gateway's case) with the admin endpoints
// until its context ends; a test or a compose health check asks /readyz
// with Probe.
func ExampleRun() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	adminLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	api := &http.Server{
		Handler:           http.NewServeMux(),
		ReadHeaderTimeout: 5 * time.Second,
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- lifecycle.Run(ctx, lifecycle.App{
			Name:          "gateway",
			Logger:        slog.New(slog.DiscardHandler),
			Server:        lifecycle.HTTPServer{Server: api},
			Listener:      lis,
			AdminListener: adminLis,
		})
	}()

	for lifecycle.Probe(ctx, adminLis.Addr().String()) != nil {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("ready")

	cancel() // what SIGTERM does in a service
	fmt.Println("stopped:", <-done)
	// Output:
	// ready
	// stopped: <nil>
}

// A FROM scratch image has no shell or curl, so main turns the binary into
// its own health check:
//
//	if lifecycle.IsProbe(os.Args) {
//		return lifecycle.Probe(ctx, getenv("ADMIN_ADDR"))
//	}
func ExampleIsProbe() {
	fmt.Println(lifecycle.IsProbe([]string{"/app", lifecycle.ProbeArg}))
	fmt.Println(lifecycle.IsProbe([]string{"/app"}))
	// Output:
	// true
	// false
}
