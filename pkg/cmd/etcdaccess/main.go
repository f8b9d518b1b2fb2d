// Command etcdaccess turns on etcd's access control for the shopmesh
// registry (discovery.EnableAccessControl): each service may write only its
// own registrations and read everyone's, the gateway may only read, and the
// admin identities (its own, etcdaccess, and the operators', admin) hold
// etcd's root role. It is idempotent, and make up runs it as a one-shot
// container before any service starts:
//
//	etcdaccess -endpoints https://etcd:2379 -tls-dir /certs \
//	    -registrants inventory,order,payment,shipping -readers gateway -admins etcdaccess,admin
//
// etcd takes each request's user from its client certificate's common
// name, the service name in shopmesh's certificates. It retries until etcd
// answers or -timeout passes, so it can start together with etcd.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/shopmesh/shopmesh/pkg/platform/discovery"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM) //shopmesh:allow ctxflow a command's main: the process's lifetime starts here
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "etcdaccess:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("etcdaccess", flag.ContinueOnError)
	fl.SetOutput(stderr)
	endpoints := fl.String("endpoints", os.Getenv("ETCD_ENDPOINTS"), "comma-separated etcd client URLs (default $ETCD_ENDPOINTS)")
	tlsDir := fl.String("tls-dir", "/certs", "directory with ca.pem and the identity's pair")
	identity := fl.String("identity", "etcdaccess", "the identity to act as: one of -admins, once access control is on")
	registrants := fl.String("registrants", "", "comma-separated services that register (write their own prefix, read all)")
	readers := fl.String("readers", "", "comma-separated identities that only read the registry")
	admins := fl.String("admins", "etcdaccess,admin", "comma-separated identities given etcd's root role")
	timeout := fl.Duration("timeout", time.Minute, "give up when etcd has not answered by then")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	eps, err := discovery.ParseEndpoints(*endpoints)
	if err != nil {
		return err
	}
	access := discovery.Access{Registrants: list(*registrants), Readers: list(*readers), Admins: list(*admins)}
	if len(access.Registrants)+len(access.Readers) == 0 {
		return errors.New("no -registrants and no -readers: nobody could use the registry")
	}
	id, err := tlsconf.Load(*tlsDir, *identity)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stdout, nil)).With("service", "etcdaccess")
	cli, err := discovery.NewClient(eps, id.HostClientConfig(""), logger)
	if err != nil {
		return err
	}
	defer cli.Close()

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 4*time.Second) {
		attempt, cancelAttempt := context.WithTimeout(ctx, 10*time.Second)
		err = discovery.EnableAccessControl(attempt, cli, access)
		cancelAttempt()
		if err == nil {
			logger.InfoContext(ctx, "registry access control on", "registrants", access.Registrants,
				"readers", access.Readers, "admins", access.Admins)
			return nil
		}
		if errors.Is(err, rpctypes.ErrPermissionDenied) {
			// Access control is on and this identity is not an admin:
			// waiting will not change that.
			return fmt.Errorf("as %s: %w", *identity, err)
		}
		logger.WarnContext(ctx, "registry access control not set up yet; retrying", "error", err, "in", wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcd did not accept the access control within %v: %w", *timeout, err)
		case <-time.After(wait):
		}
	}
}

// list splits a comma-separated flag, dropping empty entries.
func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
