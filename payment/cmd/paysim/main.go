// Command paysim runs the payment-provider simulator (see internal/paysim).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shopmesh/shopmesh/payment/internal/paysim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "paysim:", err)
		os.Exit(1)
	}
}

// run serves the simulator on LISTEN_ADDR (default ":8443"), over TLS when
// TLS_CERT_FILE and TLS_KEY_FILE are set, until ctx ends.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	addr := getenv("LISTEN_ADDR")
	if addr == "" {
		addr = ":8443"
	}
	certFile, keyFile := getenv("TLS_CERT_FILE"), getenv("TLS_KEY_FILE")
	if (certFile == "") != (keyFile == "") {
		return errors.New("set both TLS_CERT_FILE and TLS_KEY_FILE, or neither")
	}
	logger := slog.New(slog.NewJSONHandler(stdout, nil)).With("service", "paysim")
	sim := paysim.New(getenv("PAYSIM_API_KEY"), logger)
	srv := &http.Server{
		Handler:           sim.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- srv.ServeTLS(lis, certFile, keyFile)
		} else {
			errc <- srv.Serve(lis)
		}
	}()
	logger.Info("paysim listening", "addr", lis.Addr().String(), "tls", certFile != "")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
