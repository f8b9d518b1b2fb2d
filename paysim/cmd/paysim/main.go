// Command paysim runs the payment-provider simulator (package paysim, the
// module root).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/settings"

	"github.com/shopmesh/shopmesh/paysim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "paysim:", err)
		os.Exit(1)
	}
}

// config is paysim's configuration, from the environment.
type config struct {
	Addr     string        // LISTEN_ADDR, default ":8443"
	CertFile string        // TLS_CERT_FILE: serve TLS with this certificate…
	KeyFile  string        // TLS_KEY_FILE: …and key (both or neither)
	APIKey   string        // PAYSIM_API_KEY: bearer key clients must send (none: no check)
	Faults   paysim.Faults // PAYSIM_LATENCY, PAYSIM_HANG_RATE, PAYSIM_ERROR_RATE, PAYSIM_DROP_RATE
	Seed     uint64        // PAYSIM_SEED: seed of the fault dice, default random (logged)
}

func readConfig(s *settings.Reader) config {
	c := config{
		Addr:     s.String("LISTEN_ADDR", ":8443"),
		CertFile: s.String("TLS_CERT_FILE", ""),
		KeyFile:  s.String("TLS_KEY_FILE", ""),
		APIKey:   s.String("PAYSIM_API_KEY", ""),
		Faults:   paysim.ReadFaults(s),
		Seed:     rand.Uint64(), //nolint:gosec // G404: the simulator's dice, not a secret
	}
	s.Check((c.CertFile == "") == (c.KeyFile == ""), "set both TLS_CERT_FILE and TLS_KEY_FILE, or neither")
	if seed := s.String("PAYSIM_SEED", ""); seed != "" {
		var err error
		c.Seed, err = strconv.ParseUint(seed, 10, 64)
		s.Check(err == nil, "PAYSIM_SEED=%q: want an unsigned integer", seed)
	}
	return c
}

// run serves the simulator on LISTEN_ADDR (default ":8443"), over TLS when
// TLS_CERT_FILE and TLS_KEY_FILE are set, until ctx ends.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := settings.Read(getenv, readConfig)
	if err != nil {
		return fmt.Errorf("config of paysim: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stdout, nil)).With("service", "paysim")
	sim, err := paysim.New(cfg.APIKey, logger, paysim.WithFaults(cfg.Faults), paysim.WithSeed(cfg.Seed))
	if err != nil {
		return err
	}
	addr, certFile, keyFile := cfg.Addr, cfg.CertFile, cfg.KeyFile
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
	f := cfg.Faults
	logger.InfoContext(ctx, "paysim listening", "addr", lis.Addr().String(), "tls", certFile != "", "seed", cfg.Seed,
		"latency", time.Duration(f.Latency).String(), "hang_rate", f.HangRate, "error_rate", f.ErrorRate, "drop_rate", f.DropRate)
	select {
	case err := <-errc:
		sim.Close()
		return err
	case <-ctx.Done():
	}
	// Release hung requests first: Shutdown waits for every handler.
	sim.Close()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
